"""Contrast-limited adaptive histogram equalisation of the luma (fast-openISP's ``ceh``).

Input: YCbCr ``(..., H, W, 3)`` with Y in channel 0 and Cb, Cr (centred on 0.5) in
channels 1–2, as after a colour-space conversion; only Y changes. The luma is cut
into a grid of ``tiles = [rows, columns]`` contextual regions; each region's
histogram is clipped at a limit, the excess spread over all bins, and its
cumulative distribution used as the region's tone curve; each pixel takes the
bilinear interpolation of the curves of the four nearest region centres
(K. Zuiderveld, "Contrast limited adaptive histogram equalization", Graphics Gems
IV, 1994, §VIII.5; S. M. Pizer et al., "Adaptive histogram equalization and its
variations", CVGIP 39, 1987).

Backends (option ``backend``):

``skimage`` (default): scikit-image's CLAHE, the core of
:func:`skimage.exposure.equalize_adapthist` (``exposure._adapthist._clahe``), with
``kernel_size = (ceil(H / rows), ceil(W / columns))``, ``clip_limit`` and ``nbins =
256``, on the luma clipped to [0, 1] and quantised to its 14 bits (a fixed range;
the result in steps of 1/16383). Its clip limit is a fraction of the region's pixel
count per bin (``0.01`` clips each bin at 1 % of the region, 2.56× the count of a
flat 256-bin histogram). The public ``equalize_adapthist`` adds two stretches, the
luma's own minimum and maximum to the full range before equalising and the
result's to [0, 1] after it (a flat grey frame comes out white); this stage leaves
them out, so its result is the public function's up to that final stretch.

``opencv``: :meth:`cv2.createCLAHE` with ``clipLimit = 256 · clip_limit`` (OpenCV's
limit is a multiple of a flat histogram's bin count, the same clip as scikit-image's
for 256 bins) and ``tileGridSize = (columns, rows)`` on the luma quantised to 8 bits
(fixed [0, 1] range, no stretching; the luma comes back in steps of 1/255, like
fast-openISP's 8-bit luma; OpenCV pads the luma to a multiple of the grid by
mirroring). Needs OpenCV (the ``apps`` extra); without it the stage raises an
:class:`InputError`.

fast-openISP clips each tile's 256-bin histogram at ``clip_limit · max(histogram)``
(test configuration: ``tiles [4, 6]``, ``clip_limit 0.01``): a limit relative to the
tile's highest bin, which depends on the image and maps to no fixed value of either
library's limit. The engine's default, 0.01 in scikit-image's units, is the common
CLAHE setting.

Parameters:
    clip_limit: scalar in [0.001, 1], default 0.01 (1: no limit, plain adaptive
        equalisation); constant or per image.
Options:
    tiles: ``[rows, columns]``, each an integer in [1, 64], default ``[4, 6]``.
    backend: ``skimage`` (default) or ``opencv``.
Shapes: ``(..., H, W, 3) -> (..., H, W, 3)``, numpy arrays only (other array types
are refused with an :class:`InputError`). No inverse.

Source: Q. Qiu, fast-openISP, github.com/QiuJueqin/fast-openISP, modules/ceh.py;
K. Zuiderveld, "Contrast limited adaptive histogram equalization", Graphics Gems IV,
1994; scikit-image ``exposure.equalize_adapthist``; OpenCV ``createCLAHE``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ispengine.core.errors import InputError
from ispengine.core.params import SCALAR, OptionSpec, ParamSpec
from ispengine.core.settings import ArraySetting
from ispengine.core.stage import Stage
from plugins_builtin.camera_modules.bilateral_denoise import numpy_only, per_image

BACKENDS = ("skimage", "opencv")
NBINS = 256


def _skimage_luma(luma: np.ndarray, tiles: tuple[int, int], clip_limit: float) -> np.ndarray:
    try:
        from skimage.exposure._adapthist import NR_OF_GRAY, _clahe
    except ImportError:
        raise InputError(
            "stage 'clahe': this scikit-image has no exposure._adapthist._clahe; "
            'use backend = "opencv"'
        ) from None
    height, width = luma.shape
    kernel = (math.ceil(height / tiles[0]), math.ceil(width / tiles[1]))
    top = NR_OF_GRAY - 1
    levels = np.round(np.clip(luma, 0.0, 1.0) * top).astype(np.uint16)
    return _clahe(levels, kernel, clip_limit, NBINS).astype(np.float64) / top


def _opencv_luma(luma: np.ndarray, tiles: tuple[int, int], clip_limit: float) -> np.ndarray:
    try:
        import cv2
    except ImportError:
        raise InputError(
            "stage 'clahe' with backend = \"opencv\" needs OpenCV (pip install 'ispengine[apps]')"
        ) from None
    levels = np.round(np.clip(luma, 0.0, 1.0) * 255.0).astype(np.uint8)
    clahe = cv2.createCLAHE(clipLimit=float(clip_limit * NBINS), tileGridSize=tiles[::-1])
    return clahe.apply(levels).astype(np.float64) / 255.0


_BACKEND_FUNCTIONS = {"skimage": _skimage_luma, "opencv": _opencv_luma}


class Clahe(Stage):
    """CLAHE on the luma of a YCbCr image, ``(..., H, W, 3) -> (..., H, W, 3)``."""

    name = "clahe"
    runs_on_host = True  # Numba/numpy CPU code: device inputs go through the host
    params = (
        ParamSpec(
            "clip_limit",
            SCALAR,
            0.001,
            1.0,
            default=0.01,
            local=False,
            description="histogram clip, fraction of a region's pixels per bin",
        ),
    )
    options = (
        ArraySetting(
            "tiles",
            (2,),
            default=[4, 6],
            description="contextual regions: rows, columns",
            low=1,
            high=64,
            integer=True,
        ),
        OptionSpec("backend", BACKENDS, default="skimage", description="skimage or opencv (8-bit)"),
    )
    input_range = (0.0, 1.0)

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        x = numpy_only(x, self.name)
        equalise = _BACKEND_FUNCTIONS[self.config["backend"]]
        batch = x.shape[:-3]
        flat = x.reshape((-1,) + x.shape[-3:])
        out = flat.copy()
        clip = per_image(p["clip_limit"], batch)
        for n in range(flat.shape[0]):
            out[n, ..., 0] = equalise(flat[n, ..., 0], tuple(self.config["tiles"]), clip[n])
        return out.reshape(x.shape)


FILTERS = (Clahe,)
