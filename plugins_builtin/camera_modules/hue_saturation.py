"""Hue and saturation control on Y'CbCr: rotate and scale the chroma vector.

On a Y'CbCr image (:mod:`.ycbcr`'s convention, neutral chroma at 0.5), with
``θ = hue · π / 180`` and ``s = saturation``::

    Cb' = 0.5 + s · (cos θ · (Cb − 0.5) − sin θ · (Cr − 0.5))
    Cr' = 0.5 + s · (sin θ · (Cb − 0.5) + cos θ · (Cr − 0.5))
    Y'  = Y

Exact inverse (``hue_saturation_inverse``): rotate by −θ and divide by s::

    Cb = 0.5 + (cos θ · (Cb' − 0.5) + sin θ · (Cr' − 0.5)) / s
    Cr = 0.5 + (−sin θ · (Cb' − 0.5) + cos θ · (Cr' − 0.5)) / s

Parameters (scalars; per-image values and per-pixel maps allowed):
    hue: [−180, 180] degrees, default 0 (fast-openISP's ``hue_offset``, in degrees).
    saturation: [0.05, 4], default 1 (fast-openISP's ``saturation_gain`` / 256).
        The range starts at 0.05, not 0: saturation 0 discards the chroma (a
        lossy greyscale conversion, which this invertible stage does not
        offer), and near 0 the inverse's division amplifies float32 rounding
        (at 0.05 the round trip stays within 2e-6).
Input: Y'CbCr ``(..., H, W, 3)`` (layout ``rgb``), e.g. the output of ``rgb_to_ycbcr``.
Values are not clipped (fast-openISP clips the chroma to the 8-bit range; a
``clip`` filter after this stage does that).

In fused per-pixel chains (:mod:`ispengine.kernels.fused`) both stages are a
per-pixel kernel (:func:`chroma_pixel`) with ``s · cos θ`` and ``s · sin θ`` packed,
when ``hue`` and ``saturation`` are constants; per-image values and per-pixel maps
run unfused.

Source: Q. Qiu, fast-openISP, github.com/QiuJueqin/fast-openISP, modules/hsc.py (the
same rotation and gain in fixed point: sin/cos and the gain ×256 on 8-bit chroma).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ispengine.core.capabilities import Capabilities, PixelKernel
from ispengine.core.params import SCALAR, ParamSpec
from ispengine.core.stage import InverseStage, Stage


def _rotate(x: Any, angle: Any, gain: Any, xp: Any) -> Any:
    """``x`` with its chroma (Cb, Cr) − 0.5 rotated by ``angle`` radians and scaled by ``gain``."""
    cos, sin = xp.cos(angle), xp.sin(angle)
    u, v = x[..., 1] - 0.5, x[..., 2] - 0.5
    cb = 0.5 + gain * (cos * u - sin * v)
    cr = 0.5 + gain * (sin * u + cos * v)
    return xp.stack([x[..., 0], cb, cr], axis=-1)


def chroma_pixel(y: float, cb: float, cr: float, prm: Any, o: int) -> tuple:
    """The chroma rotation and gain of one pixel, ``prm[o:o + 2] = (s cos θ, s sin θ)``
    (plain Python, compiled into fused chains)."""
    u, v = cb - 0.5, cr - 0.5
    c, s = prm[o], prm[o + 1]
    return y, 0.5 + (c * u - s * v), 0.5 + (s * u + c * v)


def _pack(stage: Stage, sign: float) -> np.ndarray | None:
    """``(s cos θ, s sin θ)`` for the rotation by ``sign · hue`` with gain
    ``saturation ** sign``; None unless both parameters are constant scalars."""
    hue, saturation = stage.values["hue"], stage.values["saturation"]
    if hue is None or saturation is None or hue.shape != () or saturation.shape != ():
        return None
    angle = sign * float(hue) * (math.pi / 180.0)
    gain = float(saturation) if sign > 0 else 1.0 / float(saturation)
    return np.array([gain * math.cos(angle), gain * math.sin(angle)])


def pack_forward(stage: Stage) -> np.ndarray | None:
    """The forward rotation's packed parameters (None when not constant)."""
    return _pack(stage, 1.0)


def pack_inverse(stage: Stage) -> np.ndarray | None:
    """The inverse rotation's packed parameters (None when not constant)."""
    return _pack(stage, -1.0)


class HueSaturation(Stage):
    """Rotate the chroma by ``hue`` degrees and scale it by ``saturation``, on Y'CbCr."""

    name = "hue_saturation"
    params = (
        ParamSpec(
            "hue", SCALAR, -180.0, 180.0, default=0.0, description="chroma rotation, degrees"
        ),
        ParamSpec("saturation", SCALAR, 0.05, 4.0, default=1.0, description="chroma gain"),
    )
    capabilities = Capabilities(pixel=PixelKernel(pack_forward, kernel=chroma_pixel))

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        return _rotate(x, p["hue"] * (math.pi / 180.0), p["saturation"], xp)


class HueSaturationInverse(InverseStage):
    """Rotate the chroma back by ``hue`` and divide it by ``saturation`` (exact)."""

    name = "hue_saturation_inverse"
    forward = HueSaturation
    method = "exact"
    capabilities = Capabilities(pixel=PixelKernel(pack_inverse, kernel=chroma_pixel))

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        return _rotate(x, p["hue"] * (-math.pi / 180.0), 1.0 / p["saturation"], xp)


STAGES = (HueSaturation,)
INVERSES = (HueSaturationInverse,)
