"""Resizing of RGB or YCbCr images: area averaging or bilinear (fast-openISP's ``scl``).

Input: ``(..., H, W, 3)`` (RGB or YCbCr, every channel resized alike); mosaics are
not accepted (resampling would mix the colours of a Bayer pattern). The output is
``(..., H', W', 3)`` with ``W' = width`` and ``H' = height``, or ``W' = max(1,
round(W · factor))`` and ``H' = max(1, round(H · factor))``; with neither, the size
is kept. Both methods are separable (rows, then columns); along an axis of ``n``
input and ``m`` output samples, ``s = n / m``:

``bilinear`` (default, as fast-openISP's ``cv2.resize`` with ``INTER_LINEAR``):
output sample ``o`` reads position ``t = clip((o + 0.5) · s − 0.5, 0, n − 1)``
(pixel centres aligned, half-pixel convention) and interpolates linearly between
samples ``floor(t)`` and ``floor(t) + 1``. Downscaling by more than 2 skips samples
(aliasing), as OpenCV does.

``area``: output sample ``o`` covers ``[o · s, (o + 1) · s)`` of the input axis and is
the mean of the input samples over it, each weighted by its overlap with that
interval (pixel mixing). For integer factors it is the mean of each ``k × k`` block;
for downscaling in general it equals OpenCV's ``INTER_AREA``; for upscaling it
repeats samples and blends the two at each boundary (OpenCV's ``INTER_AREA``
interpolates there instead).

Options:
    method: ``bilinear`` (default) or ``area``.
    width, height: integers in [1, 65536]; given together.
    factor: number in [0.001, 64]; instead of ``width`` and ``height``.
The output size is checked against [1, 65536] per axis when the stage runs. Values
are not clipped (both methods are convex combinations of the input). Works on any
array namespace (``take`` and sums). No inverse: a filter.

Source: Q. Qiu, fast-openISP, github.com/QiuJueqin/fast-openISP, modules/scl.py
(``cv2.resize``, ``INTER_LINEAR``); OpenCV ``resize`` documentation (``INTER_LINEAR``,
``INTER_AREA``); K. Turkowski, "Filters for common resampling tasks", Graphics Gems,
1990 (box and tent filters).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import array_api_compat
import numpy as np

from ispengine.core.errors import InputError, ParamError
from ispengine.core.params import OptionSpec
from ispengine.core.settings import FloatSetting, IntegerSetting
from ispengine.core.stage import Stage

METHODS = ("bilinear", "area")
MAX_SIZE = 65536


def bilinear_taps(n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Input indices and weights ``(m, 2)`` of half-pixel bilinear resampling ``n -> m``."""
    position = np.clip((np.arange(m) + 0.5) * (n / m) - 0.5, 0.0, n - 1)
    first = np.floor(position).astype(np.int64)
    fraction = position - first
    indices = np.stack([first, np.minimum(first + 1, n - 1)], axis=1)
    return indices, np.stack([1.0 - fraction, fraction], axis=1)


def area_taps(n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Input indices and weights ``(m, K)`` of area (overlap) resampling ``n -> m``."""
    step = n / m
    start = np.arange(m) * step
    stop = start + step
    first = np.floor(start).astype(np.int64)
    taps = int(math.ceil(step)) + 1
    indices = first[:, None] + np.arange(taps)[None, :]
    overlap = np.minimum(indices + 1, stop[:, None]) - np.maximum(indices, start[:, None])
    weights = np.clip(overlap, 0.0, None) / step
    weights[indices >= n] = 0.0
    return np.minimum(indices, n - 1), weights


_TAPS = {"bilinear": bilinear_taps, "area": area_taps}


def resample_axis(x: Any, size: int, axis: int, method: str, xp: Any) -> Any:
    """``x`` resampled to ``size`` samples along ``axis`` (negative) with ``method``."""
    n = x.shape[axis]
    if n == size:
        return x
    indices, weights = _TAPS[method](n, size)
    device = array_api_compat.device(x)
    out = None
    for k in range(indices.shape[1]):
        taken = xp.take(x, xp.asarray(indices[:, k], device=device), axis=axis)
        shape = [1] * x.ndim
        shape[axis] = size
        w = xp.asarray(weights[:, k].reshape(shape), dtype=x.dtype, device=device)
        out = taken * w if out is None else out + taken * w
    return out


class Scale(Stage):
    """Resize an image, ``(..., H, W, 3) -> (..., H', W', 3)``."""

    name = "scale"
    options = (
        OptionSpec("method", METHODS, default="bilinear", description="bilinear or area averaging"),
        IntegerSetting("width", None, "output width, pixels", low=1, high=MAX_SIZE, optional=True),
        IntegerSetting(
            "height", None, "output height, pixels", low=1, high=MAX_SIZE, optional=True
        ),
        FloatSetting(
            "factor",
            None,
            "scale factor (instead of width and height)",
            low=0.001,
            high=64.0,
            optional=True,
        ),
    )
    input_range = (0.0, 1.0)

    def __init__(self, **values: Any) -> None:
        super().__init__(**values)
        width, height, factor = (self.config[k] for k in ("width", "height", "factor"))
        if (width is None) != (height is None):
            raise ParamError(
                key="height" if height is None else "width",
                message="give width and height together (or factor)",
            )
        if factor is not None and width is not None:
            raise ParamError(key="factor", message="give either factor or width and height")

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """The output ``(H', W')`` for an input of ``height × width``."""
        if self.config["width"] is not None:
            return self.config["height"], self.config["width"]
        factor = self.config["factor"] or 1.0
        size = (max(1, round(height * factor)), max(1, round(width * factor)))
        if max(size) > MAX_SIZE:
            raise InputError(
                f"stage 'scale': output size {size[0]}x{size[1]} exceeds {MAX_SIZE} pixels"
            )
        return size

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        height, width = self.output_size(x.shape[-3], x.shape[-2])
        method = self.config["method"]
        return resample_axis(resample_axis(x, height, -3, method, xp), width, -2, method, xp)


FILTERS = (Scale,)
