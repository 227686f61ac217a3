"""Non-local means denoising of the luma of a YCbCr image (fast-openISP's ``nlm``).

Input: YCbCr ``(..., H, W, 3)`` with Y in channel 0 and Cb, Cr (centred on 0.5) in
channels 1–2, as after a colour-space conversion; only Y changes. With the search
radius ``R = search_window // 2``, the patch radius ``r = patch_size // 2`` and the
luma mirrored at the borders (numpy's ``reflect``, ``d c b | a b c d | c b a``)::

    D(i, j; k, l) = mean_{|u|,|v| <= r} (Y[i+u, j+v] − Y[i+u+k, j+v+l])²
    w(i, j; k, l) = exp(−D / h²)
    Y'[i, j]      = Σ_{|k|,|l| <= R} w · Y[i+k, j+l]  /  Σ_{|k|,|l| <= R} w

(A. Buades, B. Coll, J.-M. Morel, "A non-local algorithm for image denoising", CVPR
2005, §3, with the uniform patch weights of fast-openISP). fast-openISP works on
8-bit luma with ``h`` in 8-bit levels (its test configuration: ``search_window_size
9``, ``patch_size 3``, ``h 10``); on this engine's [0, 1] luma the same weights need
``h / 255`` (default ``10 / 255 ≈ 0.0392``). fast-openISP also mirrors the
squared-difference image (not the luma) at the borders for the patch mean; so does
this stage.

Backends (option ``backend``):

``numba`` (default): the formula above in one compiled parallel loop: blocks of rows,
and for each of the ``search_window²`` shifts the squared-difference image once, its
patch sums by columns then along the rows, the weights by a vectorised exponential
(relative error below 3e-7, see :mod:`.bilateral_denoise`) and the accumulation.
float32 luma is filtered in float32 (within 2e-6 of the float64 formula in the tests),
anything else in float64.

``skimage``: :func:`skimage.restoration.denoise_nl_means` with ``patch_size``,
``patch_distance = R``, ``h`` and ``fast_mode = True`` (Darbon et al.'s integral-image
algorithm). Its weights are ``exp(−S / (p² h²))`` with ``S`` the sum of the squared
differences over a ``(p − 1) × (p − 1)`` box (the integral image's offsets), weights
below ``exp(−5)`` set to 0 and its borders mirrored once around the whole image: it
approximates the formula above and with ``patch_size = 1`` it is a plain box filter
over the search window (``h`` has no effect). About 1.1 s per 1080p frame here.

``opencv``: :func:`cv2.fastNlMeansDenoising` on the luma quantised to 8 bits, with
``h · 255``, ``templateWindowSize = patch_size``, ``searchWindowSize =
search_window`` (OpenCV's integer weights and ``DIST`` cut-off; the luma comes back
in steps of 1/255, like fast-openISP's 8-bit luma). Needs OpenCV (the ``apps`` extra);
without it the stage raises an :class:`InputError`.

Parameters:
    h: scalar in [0.0001, 1], default 10/255 (larger smooths more); constant or per
        image.
Options:
    search_window: odd integer in [3, 21], default 9.
    patch_size: odd integer in [1, 9], default 3.
    backend: ``numba`` (default), ``skimage`` or ``opencv``.
Shapes: ``(..., H, W, 3) -> (..., H, W, 3)``, numpy arrays only (other array types
are refused with an :class:`InputError`). No inverse.

Source: Q. Qiu, fast-openISP, github.com/QiuJueqin/fast-openISP, modules/nlm.py and
modules/helpers.py (``mean_filter``, ``shift_array``); A. Buades, B. Coll, J.-M.
Morel, "A non-local algorithm for image denoising", CVPR 2005; J. Darbon, A. Cunha,
T. F. Chan, S. Osher, G. J. Jensen, "Fast nonlocal filtering applied to electron
cryomicroscopy", ISBI 2008 (scikit-image's fast mode).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ispengine.core.errors import InputError
from ispengine.core.params import SCALAR, OptionSpec, ParamSpec
from ispengine.core.stage import Stage
from plugins_builtin.camera_modules.bilateral_denoise import (
    OddIntegerSetting,
    build_exp_row,
    numpy_only,
    per_image,
    reflect_indices,
)

BACKENDS = ("numba", "skimage", "opencv")
_kernels: dict[str, Any] = {}
# rows per parallel task of the numba kernel (its accumulators stay in the cache)
BLOCK = 16


def _build() -> Any:
    import numba

    exp_row = build_exp_row()

    @numba.njit(parallel=True, cache=True, nogil=True, fastmath={"contract"})
    def nlm(y, padded, rows, columns, radius, half, inv, out):  # noqa: ANN001, ANN202
        height, width = y.shape
        window, size = 2 * radius + 1, 2 * half + 1
        wide = width + 2 * half
        blocks = (height + BLOCK - 1) // BLOCK
        for block in numba.prange(blocks):
            top = block * BLOCK
            tall = min(BLOCK, height - top)
            total = np.zeros((tall, width), dtype=y.dtype)
            weights = np.zeros((tall, width), dtype=y.dtype)
            squares = np.empty((tall + 2 * half, wide), dtype=y.dtype)
            sums = np.empty(wide, dtype=y.dtype)
            distance = np.empty(width, dtype=y.dtype)
            w = np.empty(width, dtype=np.float32)
            bits = np.empty(width, dtype=np.int32)
            for dy in range(window):
                for dx in range(window):
                    # the squared differences of the block's rows and the patch radius
                    # around them, mirrored by the patch radius (as fast-openISP pads them)
                    for a in range(tall + 2 * half):
                        row = rows[top + a]
                        for c in range(width):
                            diff = y[row, c] - padded[row + dy, c + dx]
                            squares[a, c + half] = diff * diff
                        for b in range(half):
                            for e in (b, wide - 1 - b):
                                c = columns[e]
                                diff = y[row, c] - padded[row + dy, c + dx]
                                squares[a, e] = diff * diff
                    for r in range(tall):
                        # the patch sums: down the patch's rows, then along the row
                        for b in range(wide):
                            sums[b] = squares[r, b]
                        for u in range(1, size):
                            for b in range(wide):
                                sums[b] += squares[r + u, b]
                        for j in range(width):
                            distance[j] = sums[j]
                        for v in range(1, size):
                            for j in range(width):
                                distance[j] += sums[j + v]
                        exp_row(distance, inv, 0.0, w, bits)
                        source = top + r + dy
                        for j in range(width):
                            total[r, j] += w[j] * padded[source, j + dx]
                            weights[r, j] += w[j]
            for r in range(tall):
                for j in range(width):
                    out[top + r, j] = total[r, j] / weights[r, j]

    return nlm


def nlm_luma(luma: np.ndarray, search_window: int, patch_size: int, h: float) -> np.ndarray:
    """fast-openISP's non-local means of one luma plane ``(H, W)`` (float32 input: float32
    arithmetic and result; anything else: float64)."""
    if "nlm" not in _kernels:
        _kernels["nlm"] = _build()
    dtype = np.float32 if luma.dtype == np.float32 else np.float64
    y = np.ascontiguousarray(luma, dtype=dtype)
    radius, half = search_window // 2, patch_size // 2
    height, width = y.shape
    padded = y[np.ix_(reflect_indices(height, radius), reflect_indices(width, radius))]
    out = np.empty((height, width), dtype=dtype)
    _kernels["nlm"](
        y,
        np.ascontiguousarray(padded),
        reflect_indices(height, half),
        reflect_indices(width, half),
        radius,
        half,
        1.0 / (patch_size**2 * h**2),
        out,
    )
    return out


def _skimage_luma(luma: np.ndarray, search_window: int, patch_size: int, h: float) -> np.ndarray:
    from skimage.restoration import denoise_nl_means

    return denoise_nl_means(
        np.asarray(luma, dtype=np.float64),
        patch_size=patch_size,
        patch_distance=search_window // 2,
        h=h,
        fast_mode=True,
        preserve_range=True,
    )


def _opencv_luma(luma: np.ndarray, search_window: int, patch_size: int, h: float) -> np.ndarray:
    try:
        import cv2
    except ImportError:
        raise InputError(
            "stage 'nlm_denoise' with backend = \"opencv\" needs OpenCV "
            "(pip install 'ispengine[apps]')"
        ) from None
    levels = np.round(np.clip(luma, 0.0, 1.0) * 255.0).astype(np.uint8)
    out = cv2.fastNlMeansDenoising(
        levels,
        None,
        h=float(h * 255.0),
        templateWindowSize=patch_size,
        searchWindowSize=search_window,
    )
    return out.astype(np.float64) / 255.0


_BACKEND_FUNCTIONS = {"numba": nlm_luma, "skimage": _skimage_luma, "opencv": _opencv_luma}


class NlmDenoise(Stage):
    """Non-local means on the luma of a YCbCr image, ``(..., H, W, 3) -> (..., H, W, 3)``."""

    name = "nlm_denoise"
    runs_on_host = True  # Numba/numpy CPU code: device inputs go through the host
    params = (
        ParamSpec(
            "h",
            SCALAR,
            0.0001,
            1.0,
            default=10.0 / 255.0,
            local=False,
            description="filtering strength (fraction of the white level; 8-bit h / 255)",
        ),
    )
    options = (
        OddIntegerSetting("search_window", 9, "search window side, pixels (odd)", low=3, high=21),
        OddIntegerSetting("patch_size", 3, "patch side, pixels (odd)", low=1, high=9),
        OptionSpec(
            "backend",
            BACKENDS,
            default="numba",
            description="numba (fast-openISP's formula), skimage or opencv (8-bit)",
        ),
    )
    input_range = (0.0, 1.0)

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        x = numpy_only(x, self.name)
        denoise = _BACKEND_FUNCTIONS[self.config["backend"]]
        batch = x.shape[:-3]
        flat = x.reshape((-1,) + x.shape[-3:])
        out = flat.copy()
        h = per_image(p["h"], batch)
        for n in range(flat.shape[0]):
            out[n, ..., 0] = denoise(
                flat[n, ..., 0], self.config["search_window"], self.config["patch_size"], h[n]
            )
        return out.reshape(x.shape)


FILTERS = (NlmDenoise,)
