"""f_GM gamma tone mapping of the SemiISP / PQDynamicISP function ISP.

With ``u = I^(1/g1)`` and ``c = 1 − g2`` (per channel)::

    f_GM(I) = u (1 − c u) / (1 − c k^(1/g1)),     f_GM(k) = k^(1/g1)

The paper inverts it with a 4-D lookup table. It does have a closed form:
``u (1 − c u) = y D`` with ``D = 1 − c k^(1/g1)`` is a quadratic in ``u`` whose
root on the monotone branch is ``u = 2 y D / (1 + sqrt(1 − 4 c y D))`` (this
form is stable, and also right for ``c <= 0``); then ``I = u^g1``. That is the
``exact`` inverse registered here; the generic numerical inverse is registered
too, as the reference for the LUT backends.

Parameter ranges (per channel), chosen so every curve is strictly monotone on
[0, 1] and its inverse well conditioned:
    g1 in [0.5, 4] (gamma; default 1),
    g2 in [0.6, 1.5] (``u(1 − c u)`` is monotone on [0, 1] iff ``c <= 0.5``; the
        floor 0.6 keeps the end slope ``2 g2 − 1 >= 0.2``; default 1),
    k in [0.05, 1] (normalisation point; default 0.5).
The paper defines the curve on [0, 1]. Colour correction can push pixels
slightly below 0, so the engine extends the curve oddly, ``f(−I) = −f(I)``,
which keeps those values invertible instead of destroying them. Beyond ``|I| = 1`` the
formula goes on and stays increasing while ``u <= 1/(2(1 − g2))`` (at least
``u <= 1.25``); the exact and numerical inverses cover that whole branch and
clip targets past its turning point to it. LUTs cover [-1, 1].

Source: M. Yoshimura, J. Otsuka, R. Berdan, T. Ohashi, "SemiISP/SemiIE: Semi-Supervised
Image Signal Processor and Image Enhancement Leveraging One-to-Many Mapping
sRGB-to-RAW", arXiv:2504.02345, 2025 (SemiISP), appendix A.1 Eq. 20
(the curve) and Eq. 21, appendix A.2, Algorithm 1 (its LUT inverse).
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

UNBOUNDED = 1e6


def _normaliser(g1: Any, g2: Any, k: Any) -> Any:
    return 1 - (1 - g2) * k ** (1 / g1)


def gamma_tone_scalar(x: float, g1: float, g2: float, k: float) -> float:
    """f_GM of one value ``x >= 0`` (plain ``math``; compiled by the Numba LUT backend)."""
    u = x ** (1.0 / g1)
    return u * (1.0 - (1.0 - g2) * u) / (1.0 - (1.0 - g2) * k ** (1.0 / g1))


def gamma_tone_scalar_derivative(x: float, g1: float, g2: float, k: float) -> float:
    """d f_GM / dI at one value ``x >= 0``; 0 at ``x = 0``."""
    if x <= 0.0:
        return 0.0
    u = x ** (1.0 / g1)
    return (1.0 - 2.0 * (1.0 - g2) * u) * u / (g1 * x) / (1.0 - (1.0 - g2) * k ** (1.0 / g1))


def gamma_tone_scalar_with_derivative(x: float, g1: float, g2: float, k: float) -> tuple:
    """``(f_GM(x), f_GM'(x))`` for ``x >= 0`` sharing the powers (Newton steps)."""
    shoulder = 1.0 - g2
    norm = 1.0 / (1.0 - shoulder * k ** (1.0 / g1))
    u = x ** (1.0 / g1)
    value = u * (1.0 - shoulder * u) * norm
    if x <= 0.0:
        return value, 0.0
    return value, (1.0 - 2.0 * shoulder * u) * u / (g1 * x) * norm


class GammaTone(Stage):
    """f_GM: per-channel gamma tone curve, ``(..., H, W, 3)``."""

    name = "gamma_tone"
    monotone = True
    odd_symmetric = True
    input_range = (-1.0, 1.0)
    params = (
        ParamSpec("g1", PER_CHANNEL, 0.5, 4.0, default=1.0, description="gamma: u = I^(1/g1)"),
        ParamSpec(
            "g2", PER_CHANNEL, 0.6, 1.5, default=1.0, description="shoulder: u (1 - (1 - g2) u)"
        ),
        ParamSpec(
            "k",
            PER_CHANNEL,
            0.05,
            1.0,
            default=0.5,
            description="normalisation point: f(k) = k^(1/g1)",
        ),
    )

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        g1, g2, k = p["g1"], p["g2"], p["k"]
        u = safe_power(xp.abs(x), 1 / g1, xp)
        return xp.sign(x) * u * (1 - (1 - g2) * u) / _normaliser(g1, g2, k)

    def monotone_domain(self, p: Mapping[str, Any], xp: Any) -> tuple[Any, Any]:
        """``|I| <= (1 / (2 (1 − g2)))^g1``, the increasing branch (unbounded for g2 >= 1,
        capped at :data:`UNBOUNDED`)."""
        shoulder = 1 - p["g2"]
        safe = xp.where(shoulder > 0, shoulder, xp.ones_like(shoulder))
        cap = xp.full_like(safe, UNBOUNDED)
        edge = xp.minimum(xp.where(shoulder > 0, (1 / (2 * safe)) ** p["g1"], cap), cap)
        return -edge, edge

    def derivative(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        """``d f_GM / dI`` (even in ``I``); reported as 0 at ``I = 0``."""
        g1, g2, k = p["g1"], p["g2"], p["k"]
        magnitude = xp.abs(x)
        u = safe_power(magnitude, 1 / g1, xp)
        du = safe_power(magnitude, 1 / g1 - 1, xp) / g1
        return (1 - 2 * (1 - g2) * u) * du / _normaliser(g1, g2, k)

    capabilities = Capabilities(
        scalar=ScalarCurve(
            gamma_tone_scalar, gamma_tone_scalar_derivative, gamma_tone_scalar_with_derivative
        ),
        derivative=derivative,
    )


def gamma_tone_inverse_scalar(y: float, g1: float, g2: float, k: float) -> float:
    """f_GM⁻¹ of one value ``y >= 0`` in closed form (fused kernels)."""
    scaled = y * (1.0 - (1.0 - g2) * k ** (1.0 / g1))
    discriminant = max(1.0 - 4.0 * (1.0 - g2) * scaled, 0.0)
    return (2.0 * scaled / (1.0 + discriminant**0.5)) ** g1


class GammaToneInverse(InverseStage):
    """f_GM⁻¹ in closed form: ``I = (2 y D / (1 + sqrt(1 − 4 c y D)))^g1``, odd (exact)."""

    name = "gamma_tone_inverse"
    forward = GammaTone
    method = "exact"
    odd_symmetric = True
    capabilities = Capabilities(scalar=ScalarCurve(gamma_tone_inverse_scalar))

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        g1, g2, k = p["g1"], p["g2"], p["k"]
        scaled = xp.abs(x) * _normaliser(g1, g2, k)
        discriminant = xp.maximum(1 - 4 * (1 - g2) * scaled, xp.zeros_like(x))
        u = 2 * scaled / (1 + xp.sqrt(discriminant))
        return xp.sign(x) * safe_power(u, g1, xp)


GammaToneNumericalInverse = numerical_inverse_of(GammaTone)
GammaToneLutInverse = lut_inverse_of(GammaTone)
