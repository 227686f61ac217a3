"""f_IT inverse tone mapping for the image-enhancement task of SemiISP / PQDynamicISP.

Per channel::

    f_IT(I) = I^g3 (1 + g4 (I + 1))^g3 / (1 + g4 (k2 + 1))^g3
            = (I (1 + g4 + g4 I) / E)^g3,    E = 1 + g4 (k2 + 1),   f_IT(k2) = k2^g3

Closed-form inverse: with ``v = E y^(1/g3)``, ``g4 I² + (1 + g4) I − v = 0``,
so ``I = 2 v / ((1 + g4) + sqrt((1 + g4)² + 4 g4 v))`` (stable, also for g4 = 0).
Registered as the ``exact`` inverse; the numerical reference is registered too.

Parameter ranges (per channel), all giving strictly increasing curves on [0, 1]:
    g3 in [0.4, 3] (exponent; default 1), g4 in [0, 5] (default 0),
    k2 in [0.05, 1] (normalisation point; default 0.5).
Like f_GM, the curve is extended oddly, ``f(−I) = −f(I)``, so slightly negative
pixels stay invertible; it is increasing on the whole line, and the exact and numerical inverses
cover it there (the numerical one up to ±1e6). LUTs cover [-1, 1].

Source: M. Yoshimura, J. Otsuka, R. Berdan, T. Ohashi, "SemiISP/SemiIE: Semi-Supervised
Image Signal Processor and Image Enhancement Leveraging One-to-Many Mapping
sRGB-to-RAW", arXiv:2504.02345, 2025 (SemiISP), §3.5 and appendix A.1
Eq. 22 (read as above: normalised like f_GM, so f_IT(k2) = k2^g3); the paper
inverts it with a 4-D lookup table, like f_GM.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ispengine.core.arrays import safe_power
from ispengine.core.capabilities import Capabilities, ScalarCurve
from ispengine.core.numerical_inverse import numerical_inverse_of
from ispengine.core.params import PER_CHANNEL, ParamSpec
from ispengine.core.stage import InverseStage, Stage
from ispengine.lut.inverse import lut_inverse_of


def inverse_tone_scalar(x: float, g3: float, g4: float, k2: float) -> float:
    """f_IT of one value ``x >= 0`` (plain ``math``; compiled by the Numba LUT backend)."""
    return (x * (1.0 + g4 + g4 * x) / (1.0 + g4 * (k2 + 1.0))) ** g3


def inverse_tone_scalar_derivative(x: float, g3: float, g4: float, k2: float) -> float:
    """d f_IT / dI at one value ``x >= 0``; 0 at ``x = 0``."""
    if x <= 0.0:
        return 0.0
    scale = 1.0 + g4 * (k2 + 1.0)
    inner = x * (1.0 + g4 + g4 * x) / scale
    return g3 * inner ** (g3 - 1.0) * (1.0 + g4 + 2.0 * g4 * x) / scale


def inverse_tone_scalar_with_derivative(x: float, g3: float, g4: float, k2: float) -> tuple:
    """``(f_IT(x), f_IT'(x))`` for ``x >= 0`` sharing the power (Newton steps)."""
    scale = 1.0 + g4 * (k2 + 1.0)
    inner = x * (1.0 + g4 + g4 * x) / scale
    if x <= 0.0:
        return 0.0, 0.0
    value = inner**g3
    return value, g3 * value / inner * (1.0 + g4 + 2.0 * g4 * x) / scale


class InverseTone(Stage):
    """f_IT: per-channel inverse tone curve, ``(..., H, W, 3)``."""

    name = "inverse_tone"
    monotone = True
    odd_symmetric = True
    input_range = (-1.0, 1.0)
    params = (
        ParamSpec("g3", PER_CHANNEL, 0.4, 3.0, default=1.0, description="exponent"),
        ParamSpec("g4", PER_CHANNEL, 0.0, 5.0, default=0.0, description="quadratic weight"),
        ParamSpec(
            "k2",
            PER_CHANNEL,
            0.05,
            1.0,
            default=0.5,
            description="normalisation point: f(k2) = k2^g3",
        ),
    )

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        g3, g4, k2 = p["g3"], p["g4"], p["k2"]
        base = xp.abs(x)
        return xp.sign(x) * safe_power(base * (1 + g4 + g4 * base) / (1 + g4 * (k2 + 1)), g3, xp)

    def monotone_domain(self, p: Mapping[str, Any], xp: Any) -> tuple[float, float]:
        """Increasing on the whole line; capped at ``±1e6`` for the numerical solve."""
        return -1e6, 1e6

    def derivative(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        """``d f_IT / dI`` (even in ``I``); reported as 0 at ``I = 0``."""
        g3, g4, k2 = p["g3"], p["g4"], p["k2"]
        base = xp.abs(x)
        inner = base * (1 + g4 + g4 * base) / (1 + g4 * (k2 + 1))
        inner_slope = (1 + g4 + 2 * g4 * base) / (1 + g4 * (k2 + 1))
        return g3 * safe_power(inner, g3 - 1, xp) * inner_slope

    capabilities = Capabilities(
        scalar=ScalarCurve(
            inverse_tone_scalar, inverse_tone_scalar_derivative, inverse_tone_scalar_with_derivative
        ),
        derivative=derivative,
    )


def inverse_tone_inverse_scalar(y: float, g3: float, g4: float, k2: float) -> float:
    """f_IT⁻¹ of one value ``y >= 0`` in closed form (fused kernels)."""
    v = (1.0 + g4 * (k2 + 1.0)) * y ** (1.0 / g3)
    linear = 1.0 + g4
    return 2.0 * v / (linear + (linear * linear + 4.0 * g4 * v) ** 0.5)


class InverseToneInverse(InverseStage):
    """f_IT⁻¹ in closed form (exact)."""

    name = "inverse_tone_inverse"
    forward = InverseTone
    method = "exact"
    odd_symmetric = True
    capabilities = Capabilities(scalar=ScalarCurve(inverse_tone_inverse_scalar))

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        g3, g4, k2 = p["g3"], p["g4"], p["k2"]
        v = (1 + g4 * (k2 + 1)) * safe_power(xp.abs(x), 1 / g3, xp)
        linear = 1 + g4
        return xp.sign(x) * 2 * v / (linear + xp.sqrt(linear * linear + 4 * g4 * v))


InverseToneNumericalInverse = numerical_inverse_of(InverseTone)
InverseToneLutInverse = lut_inverse_of(InverseTone)
