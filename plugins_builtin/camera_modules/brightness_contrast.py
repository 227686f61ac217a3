"""Brightness and contrast control: an offset, then a gain about a mid-point.

With ``v`` the values the stage works on (``domain = "ycbcr"``: the luma Y of a
Y'CbCr image, Cb and Cr unchanged; ``domain = "rgb"``: all three channels of an
RGB image, with one offset and one gain)::

    b = v + brightness
    m = median(b)          (pivot = "median": per image, over all the values worked on)
    m = midpoint           (pivot = "fixed")
    y = m + contrast · (b − m)

fast-openISP's bcc module does the same on 8-bit luma (offset in code values,
gain ×256, mid-point the median of the offset luma), clipping to [0, 255] after
each step. Here nothing is clipped, so the stage is a bijection: a ``clip``
filter after it clips. Conversion from fast-openISP's integers:
``brightness = brightness_offset / 255``, ``contrast = contrast_gain / 256``.

Exact inverse (``brightness_contrast_inverse``). The median is recovered from
the output: ``y`` is an increasing affine function of ``b`` (contrast > 0), so it
keeps the order of the values and ``median(y) = m + contrast·(median(b) − m) =
m`` (also for an even count, the mean of the two middle values)::

    m = median(y)   (or midpoint)
    b = m + (y − m) / contrast
    v = b − brightness

Parameters:
    brightness: [−1, 1], default 0 (offset; per-image values and per-pixel maps allowed).
    contrast: [0.05, 4], default 1 (gain about the mid-point; constant or per
        image, not per pixel: a per-pixel gain would move the median).
    midpoint: [0, 1], default 0.5 (the pivot for ``pivot = "fixed"``; constant or
        per image).
Options:
    pivot: ``median`` (default, fast-openISP) or ``fixed``.
    domain: ``ycbcr`` (default; input Y'CbCr, e.g. from ``rgb_to_ycbcr``) or ``rgb``.
Shapes: ``(..., H, W, 3) -> (..., H, W, 3)`` (layout ``rgb`` for both domains).
The median uses :func:`numpy.median` on numpy arrays and a sort on other
array-API arrays (torch, CuPy).

In fused per-pixel chains (:mod:`ispengine.kernels.fused`) both stages are a
per-pixel kernel (:func:`fixed_pivot_pixel`, :func:`fixed_pivot_inverse_pixel`)
when ``pivot = "fixed"`` and the three parameters are constants; the median
pivot depends on the whole image, so with it (or with per-image or per-pixel
values) the stage runs unfused.

Source: Q. Qiu, fast-openISP, github.com/QiuJueqin/fast-openISP, modules/bcc.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ispengine.core.capabilities import Capabilities, PixelKernel
from ispengine.core.params import SCALAR, OptionSpec, ParamSpec
from ispengine.core.stage import InverseStage, Stage
from plugins_builtin.canonical_stages.broadcast import against_channels

PIVOT_OPTION = OptionSpec(
    "pivot",
    ("median", "fixed"),
    default="median",
    description="contrast mid-point: the image's median (fast-openISP) or midpoint",
)
DOMAIN_OPTION = OptionSpec(
    "domain",
    ("ycbcr", "rgb"),
    default="ycbcr",
    description="work on the luma of a Y'CbCr image, or on all channels of an RGB image",
)


def median(v: Any, axes: tuple[int, ...], xp: Any) -> Any:
    """The median of ``v`` over ``axes`` (the trailing axes), kept as size-1 axes."""
    if isinstance(v, np.ndarray):
        return np.median(v, axis=axes, keepdims=True)
    lead = tuple(v.shape[: v.ndim - len(axes)])
    flat = xp.sort(xp.reshape(v, lead + (-1,)), axis=-1)
    n = flat.shape[-1]
    middle = (flat[..., (n - 1) // 2] + flat[..., n // 2]) / 2
    return xp.reshape(middle, lead + (1,) * len(axes))


def fixed_pivot_pixel(r: float, g: float, b: float, prm: Any, o: int) -> tuple:
    """``m + contrast · (v + brightness − m)`` on one pixel, ``prm[o:o + 4] =
    (brightness, contrast, m, rgb)``: on Y only when ``rgb == 0``, on all three
    channels otherwise (plain Python, compiled into fused chains)."""
    brightness, contrast, mid = prm[o], prm[o + 1], prm[o + 2]
    y = mid + contrast * (r + brightness - mid)
    if prm[o + 3] == 0.0:
        return y, g, b
    return (
        y,
        mid + contrast * (g + brightness - mid),
        mid + contrast * (b + brightness - mid),
    )


def fixed_pivot_inverse_pixel(r: float, g: float, b: float, prm: Any, o: int) -> tuple:
    """``m + (v − m) / contrast − brightness``, the inverse of :func:`fixed_pivot_pixel`
    with the same packed parameters."""
    brightness, contrast, mid = prm[o], prm[o + 1], prm[o + 2]
    y = mid + (r - mid) / contrast - brightness
    if prm[o + 3] == 0.0:
        return y, g, b
    return (
        y,
        mid + (g - mid) / contrast - brightness,
        mid + (b - mid) / contrast - brightness,
    )


def pack_fixed_pivot(stage: Stage) -> np.ndarray | None:
    """``(brightness, contrast, midpoint, rgb)`` for the fused kernels; None for the
    median pivot (a statistic of the whole image) or unless every parameter is a
    constant scalar."""
    if stage.config["pivot"] != "fixed":
        return None
    values = [stage.values[name] for name in ("brightness", "contrast", "midpoint")]
    if any(value is None or value.shape != () for value in values):
        return None
    rgb = 1.0 if stage.config["domain"] == "rgb" else 0.0
    return np.array([*(float(value) for value in values), rgb])


class BrightnessContrast(Stage):
    """Offset, then gain about the median (or a fixed mid-point), on luma or RGB."""

    name = "brightness_contrast"
    params = (
        ParamSpec("brightness", SCALAR, -1.0, 1.0, default=0.0, description="offset"),
        ParamSpec(
            "contrast",
            SCALAR,
            0.05,
            4.0,
            default=1.0,
            local=False,
            description="gain about the mid-point",
        ),
        ParamSpec(
            "midpoint",
            SCALAR,
            0.0,
            1.0,
            default=0.5,
            local=False,
            description="mid-point for pivot = fixed",
        ),
    )
    options = (PIVOT_OPTION, DOMAIN_OPTION)
    capabilities = Capabilities(pixel=PixelKernel(pack_fixed_pivot, kernel=fixed_pivot_pixel))

    def _split(self, x: Any, p: Mapping[str, Any]) -> tuple[Any, dict[str, Any], tuple]:
        """The values worked on, the parameters shaped against them, the median's axes."""
        if self.config["domain"] == "rgb":
            return x, {k: against_channels(v) for k, v in p.items()}, (-3, -2, -1)
        return x[..., 0], dict(p), (-2, -1)

    def _join(self, x: Any, v: Any, xp: Any) -> Any:
        if self.config["domain"] == "rgb":
            return v
        return xp.stack([v, x[..., 1], x[..., 2]], axis=-1)

    def _mid(self, v: Any, p: Mapping[str, Any], axes: tuple, xp: Any) -> Any:
        return median(v, axes, xp) if self.config["pivot"] == "median" else p["midpoint"]

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        v, q, axes = self._split(x, p)
        b = v + q["brightness"]
        m = self._mid(b, q, axes, xp)
        return self._join(x, m + q["contrast"] * (b - m), xp)


class BrightnessContrastInverse(InverseStage):
    """Divide the deviation from the mid-point by the gain, remove the offset (exact)."""

    name = "brightness_contrast_inverse"
    forward = BrightnessContrast
    method = "exact"
    capabilities = Capabilities(
        pixel=PixelKernel(pack_fixed_pivot, kernel=fixed_pivot_inverse_pixel)
    )

    _split = BrightnessContrast._split
    _join = BrightnessContrast._join
    _mid = BrightnessContrast._mid

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        v, q, axes = self._split(x, p)
        m = self._mid(v, q, axes, xp)
        return self._join(x, m + (v - m) / q["contrast"] - q["brightness"], xp)


STAGES = (BrightnessContrast,)
INVERSES = (BrightnessContrastInverse,)
