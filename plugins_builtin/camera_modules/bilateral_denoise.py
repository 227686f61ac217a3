"""Bilateral noise filter on the luma of a YCbCr image (fast-openISP's ``bnf``).

Input: YCbCr ``(..., H, W, 3)`` with Y in channel 0 and Cb, Cr (centred on 0.5) in
channels 1–2, as after a colour-space conversion; only Y changes. With the luma
mirrored at the borders (``d c b | a b c d | c b a``, numpy's ``reflect``) and
``r = kernel_size // 2``::

    w(i, j; k, l) = exp(−(k² + l²) / (2 σ_s²)) · exp(−(Y[i+k, j+l] − Y[i, j])² / (2 σ_i²))
    Y'[i, j]      = Σ_{|k|,|l| <= r} w · Y[i+k, j+l]  /  Σ_{|k|,|l| <= r} w

(one compiled parallel loop over rows: the spatial term joins the range term's
exponent, computed by a vectorised exponential with relative error below 3e-7)

(C. Tomasi, R. Manduchi, "Bilateral filtering for gray and color images", ICCV 1998,
§2). fast-openISP uses a 5×5 window, a spatial Gaussian normalised to its peak and an
intensity LUT ``exp(−Δ² / (2 (255 σ_i)²))`` on 8-bit luma: its ``intensity_sigma`` is
already a fraction of the white level, so the same number carries over to this
engine's [0, 1] luma unchanged (the test configuration's 0.8 and 0.8 are the
defaults here). fast-openISP rounds its weights to 10-bit integers; this stage
computes in float32 for float32 luma (within 2e-6 of float64 in the tests), in float64
otherwise, and returns the input's dtype.

Parameters:
    intensity_sigma: scalar in [0.001, 10], default 0.8 (fraction of the white
        level; larger smooths across stronger edges); constant or per image.
    spatial_sigma: scalar in [0.1, 20] pixels, default 0.8; constant or per image.
Options:
    kernel_size: odd integer in [3, 15], default 5 (fast-openISP's fixed window).
Shapes: ``(..., H, W, 3) -> (..., H, W, 3)``, numpy arrays only (a compiled Numba
loop); other array types are refused with an :class:`InputError`. No inverse.

Source: Q. Qiu, fast-openISP, github.com/QiuJueqin/fast-openISP, modules/bnf.py and
modules/helpers.py (``bilateral_filter``, ``gen_gaussian_kernel``); C. Tomasi,
R. Manduchi, "Bilateral filtering for gray and color images", ICCV 1998.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from attrs import frozen

from ispengine.core.errors import InputError, ParamError
from ispengine.core.params import SCALAR, ParamSpec
from ispengine.core.settings import IntegerSetting
from ispengine.core.stage import Stage

_kernels: dict[str, Any] = {}

# exp(−z) in float32 without a libm call, so that the loops vectorise: 2^−t with
# t = z·log2(e) split into the nearest integer k (2^−k built from its exponent bits) and
# f = t − k in [−1/2, 1/2] (2^−f = e^x, x = −f·ln 2, by the degree-5 polynomial that
# interpolates e^x at the Chebyshev nodes (as 1 + x·q(x)) of [−ln 2 / 2, ln 2 / 2]: relative error
# 1.1e-7 before rounding); relative error below 3e-7 in all. t is capped at 126
# (exp(−z) >= 2^−126 ≈ 1.2e-38 for every z >= 87.3).
LOG2E = 1.4426950408889634
LN2 = 0.6931471805599453
EXP_CAP = 126.0


@frozen
class OddIntegerSetting(IntegerSetting):
    """An :class:`IntegerSetting` that must also be odd (a window's side)."""

    def coerce(self, value: Any) -> int:
        number = super().coerce(value)
        if number % 2 == 0:
            raise ParamError(key=self.name, message=f"expected an odd whole number, got {number}")
        return number

    def range_text(self) -> str:
        return f"{super().range_text()}, odd"


def numpy_only(x: Any, stage: str) -> np.ndarray:
    """``x`` when it is a numpy array; an :class:`InputError` naming ``stage`` otherwise."""
    if not isinstance(x, np.ndarray):
        raise InputError(f"stage '{stage}' runs on numpy arrays only, got {type(x).__name__}")
    return x


def per_image(value: Any, batch: tuple[int, ...]) -> np.ndarray:
    """A resolved scalar parameter (``()`` or ``batch + (1, 1)``) as one float per image,
    flattened over ``batch``."""
    array = np.asarray(value, dtype=np.float64)
    return np.broadcast_to(array.reshape(array.shape[: len(batch)]), batch).reshape(-1)


def reflect_indices(n: int, radius: int) -> np.ndarray:
    """Indices of an axis of length ``n`` padded by ``radius`` with numpy's ``reflect``
    (``d c b | a b c d | c b a``; a length-1 axis repeats its one sample)."""
    return np.pad(np.arange(n), radius, mode="reflect")


def build_exp_row() -> Any:
    """The compiled ``exp_row(z, scale, offset, w, bits)``: ``w[j] = exp(−(z[j]·scale +
    offset))`` in float32 for ``z·scale + offset >= 0`` (``w`` float32 and ``bits`` int32,
    scratch, both of ``z``'s length; see ``LOG2E``)."""
    if "exp_row" not in _kernels:
        import numba

        reach = LN2 / 2
        nodes = reach * np.cos((2 * np.arange(6) + 1) * np.pi / 12)
        # e^x = 1 + x·q(x), q of degree 4 through (e^x − 1)/x at the nodes: exp(0) is exactly 1
        q = np.polyfit(nodes, np.expm1(nodes) / nodes, 4)[::-1]
        c1, c2, c3, c4, c5 = (float(c) for c in q)

        @numba.njit(inline="always", cache=True, nogil=True)
        def exp_row(z, scale, offset, w, bits):  # noqa: ANN001, ANN202
            s = np.float32(scale * LOG2E)
            o = np.float32(offset * LOG2E)
            cap, half, ln2 = np.float32(EXP_CAP), np.float32(0.5), np.float32(-LN2)
            a0, a1, a2 = np.float32(1.0), np.float32(c1), np.float32(c2)
            a3, a4, a5 = np.float32(c3), np.float32(c4), np.float32(c5)
            for j in range(z.shape[0]):
                t = min(np.float32(z[j]) * s + o, cap)
                k = np.int32(t + half)
                x = (t - np.float32(k)) * ln2
                w[j] = a0 + x * (a1 + x * (a2 + x * (a3 + x * (a4 + x * a5))))
                bits[j] = (np.int32(127) - k) << np.int32(23)
            scales = bits.view(np.float32)
            for j in range(z.shape[0]):
                w[j] *= scales[j]

        _kernels["exp_row"] = exp_row
    return _kernels["exp_row"]


def _build() -> Any:
    import numba

    exp_row = build_exp_row()

    @numba.njit(parallel=True, cache=True, nogil=True, fastmath={"contract"})
    def bilateral(y, padded, spatial, inv_two_var, out):  # noqa: ANN001, ANN202
        height, width = out.shape
        size = spatial.shape[0]
        for i in numba.prange(height):
            total = np.zeros(width, dtype=y.dtype)
            weights = np.zeros(width, dtype=y.dtype)
            squares = np.empty(width, dtype=y.dtype)
            w = np.empty(width, dtype=np.float32)
            bits = np.empty(width, dtype=np.int32)
            centre = y[i]
            for k in range(size):
                for m in range(size):
                    moved = padded[i + k, m : m + width]
                    for j in range(width):
                        diff = moved[j] - centre[j]
                        squares[j] = diff * diff
                    # the spatial factor exp(−(k² + l²) / (2 σ_s²)) joins the exponent
                    exp_row(squares, inv_two_var, spatial[k, m], w, bits)
                    for j in range(width):
                        total[j] += w[j] * moved[j]
                        weights[j] += w[j]
            for j in range(width):
                out[i, j] = total[j] / weights[j]

    return bilateral


def bilateral_luma(
    luma: np.ndarray, size: int, spatial_sigma: float, intensity_sigma: float
) -> np.ndarray:
    """The bilateral filter of one luma plane ``(H, W)`` (float32 input: float32
    arithmetic and result; anything else: float64)."""
    if "bilateral" not in _kernels:
        _kernels["bilateral"] = _build()
    radius = size // 2
    dtype = np.float32 if luma.dtype == np.float32 else np.float64
    y = np.ascontiguousarray(luma, dtype=dtype)
    height, width = luma.shape
    padded = y[np.ix_(reflect_indices(height, radius), reflect_indices(width, radius))]
    offsets = np.arange(size, dtype=np.float64) - radius
    spatial = (offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2.0 * spatial_sigma**2)
    out = np.empty((height, width), dtype=dtype)
    _kernels["bilateral"](
        y, np.ascontiguousarray(padded), spatial, 1.0 / (2.0 * intensity_sigma**2), out
    )
    return out


class BilateralDenoise(Stage):
    """Bilateral filter on the luma of a YCbCr image, ``(..., H, W, 3) -> (..., H, W, 3)``."""

    name = "bilateral_denoise"
    runs_on_host = True  # Numba/numpy CPU code: device inputs go through the host
    params = (
        ParamSpec(
            "intensity_sigma",
            SCALAR,
            0.001,
            10.0,
            default=0.8,
            local=False,
            description="range sigma, fraction of the white level",
        ),
        ParamSpec(
            "spatial_sigma",
            SCALAR,
            0.1,
            20.0,
            default=0.8,
            local=False,
            description="spatial Gaussian sigma, pixels",
        ),
    )
    options = (OddIntegerSetting("kernel_size", 5, "window side, pixels (odd)", low=3, high=15),)
    input_range = (0.0, 1.0)

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        x = numpy_only(x, self.name)
        batch = x.shape[:-3]
        flat = x.reshape((-1,) + x.shape[-3:])
        out = flat.copy()
        spatial = per_image(p["spatial_sigma"], batch)
        intensity = per_image(p["intensity_sigma"], batch)
        for n in range(flat.shape[0]):
            out[n, ..., 0] = bilateral_luma(
                flat[n, ..., 0], self.config["kernel_size"], spatial[n], intensity[n]
            )
        return out.reshape(x.shape)


FILTERS = (BilateralDenoise,)
