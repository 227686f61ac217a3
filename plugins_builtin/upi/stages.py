"""The two tone stages of UPI's forward twin, each with an exact inverse.

With the canonical mosaic white balance, bilinear demosaic and camera→sRGB
matrix, these make ``ispengine/specs/upi_forward.toml``: the forward ISP whose
automatic inverse is the ``exact`` mode of the ``upi`` sRGB-to-RAW method
(T. Brooks, B. Mildenhall, T. Xue, J. Chen, D. Sharlet, J. T. Barron, "Unprocessing
Images for Learned Raw Denoising", CVPR 2019 (UPI), §3).

``gamma_compression``: ``y = sign(x)·|x|^(1/γ)``, γ in [1, 3] (default 2.2,
UPI's value), constant or per image; exact inverse ``x = sign(y)·|y|^γ``. The
reference clamps at 1e-8 instead of extending oddly; the odd extension keeps
negative values from a colour matrix invertible.

``smoothstep``: ``y = 3c² − 2c³`` with ``c = clip(x, 0, 1)``; no parameters.
It is a bijection of [0, 1] only (its slope is 0 at both ends), so values
outside are clipped and the inverse is exact on [0, 1]. The inverse is the
published ``x = 0.5 − sin(asin(1 − 2y)/3)``, evaluated in the cancellation-free
form ``x = sin²(θ/2) + (√3/2)·sin θ`` with ``θ = (2/3)·asin(√y)`` for
``y ≤ 1/2`` and by the symmetry ``x(y) = 1 − x(1 − y)`` above (the two are
equal by ``acos(1 − 2y) = 2·asin(√y)``), so it keeps full precision near 0
and 1 in float32 too.

Source: UPI §3 (gamma compression, tone mapping) and the authors' released code
(the inverse smoothstep formula and the 1e-8 clamp).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ispengine.core.arrays import safe_power
from ispengine.core.params import SCALAR, ParamSpec
from ispengine.core.stage import InverseStage, Stage
from plugins_builtin.canonical_stages.broadcast import against_channels

GAMMA_SPEC = ParamSpec(
    "gamma",
    SCALAR,
    1.0,
    3.0,
    default=2.2,
    local=False,
    description="display gamma: y = x^(1/gamma)",
)


def _signed_power(x: Any, exponent: Any, xp: Any) -> Any:
    return xp.sign(x) * safe_power(xp.abs(x), exponent, xp)


class GammaCompression(Stage):
    """``y = sign(x)·|x|^(1/γ)``, ``(..., H, W, 3) -> (..., H, W, 3)``."""

    name = "gamma_compression"
    params = (GAMMA_SPEC,)
    monotone = True
    odd_symmetric = True

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        return _signed_power(x, 1.0 / against_channels(p["gamma"]), xp)


class GammaCompressionInverse(InverseStage):
    """``x = sign(y)·|y|^γ`` (exact)."""

    name = "gamma_compression_inverse"
    forward = GammaCompression
    method = "exact"

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        return _signed_power(x, against_channels(p["gamma"]), xp)


class Smoothstep(Stage):
    """``y = 3c² − 2c³``, ``c = clip(x, 0, 1)``, ``(..., H, W, 3) -> (..., H, W, 3)``."""

    name = "smoothstep"
    monotone = True
    # Defined on [0, 1], but its slope vanishes at 1: within 0.005 of 1 a float32
    # (float64) output cannot resolve the input to 1e-5 (1e-9). Values up to 1 are
    # accepted and inverted, to within about sqrt(eps / 3) there.
    input_range = (0.0, 0.995)

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        c = xp.clip(x, 0.0, 1.0)
        return c * c * (3.0 - 2.0 * c)


def _lower_half_inverse(y: Any, xp: Any) -> Any:
    theta = (2.0 / 3.0) * xp.asin(xp.sqrt(y))
    half = xp.sin(0.5 * theta)
    return half * half + (0.5 * math.sqrt(3.0)) * xp.sin(theta)


class SmoothstepInverse(InverseStage):
    """The inverse smoothstep on [0, 1] (exact; see the module docstring)."""

    name = "smoothstep_inverse"
    forward = Smoothstep
    method = "exact"

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        y = xp.clip(x, 0.0, 1.0)
        lower = y <= 0.5
        near = xp.where(lower, y, 1.0 - y)
        solved = _lower_half_inverse(near, xp)
        return xp.where(lower, solved, 1.0 - solved)


STAGES = (GammaCompression, Smoothstep)
INVERSE_STAGES = (GammaCompressionInverse, SmoothstepInverse)
