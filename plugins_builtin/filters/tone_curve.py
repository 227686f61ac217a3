"""A global, exposure-dependent S-shaped tone curve (per channel, linear in, linear out).

Three steps, each non-decreasing, so the whole curve is monotone
(non-decreasing on all inputs, strictly increasing below the white point)::

    t = 2^exposure · max(x, 0)                              exposure gain (EV)
    r = min(t (1 + t / white²) / (1 + t), 1)                highlight roll-off
    u = r^γ,  γ = ln(1/2) / ln(pivot)                       pivot → 1/2
    y = (u^c / (u^c + (1 − u)^c))^(1/γ),  c = contrast      S-curve about the pivot

The roll-off is the extended Reinhard operator (Reinhard et al. 2002,
"Photographic tone reproduction for digital images", SIGGRAPH, eq. 4): it
maps ``t = white`` to 1 and is the identity for ``white = 1`` (then values
above 1 clip). The S-curve is the logistic contrast curve ``u^c / (u^c +
(1 − u)^c)`` (a sigmoid in ``log(u / (1 − u))``; slope ``c`` at ``u = 1/2``),
taken in a power-warped domain so the fixed point is ``pivot`` instead of 1/2:
``y(pivot) = pivot``, ``y(0) = 0``, ``y(1) = 1``. ``contrast > 1`` steepens the
mid-tones (toe and shoulder flatten), ``< 1`` flattens them; ``contrast = 1``
and ``white = 1``, ``exposure = 0`` give ``min(max(x, 0), 1)``.

Parameters (scalars; per-image values and per-pixel maps allowed):
    exposure: [-4, 4] EV, default 0.
    white: [1, 64], default 1: the exposed level mapped to 1 (highlight headroom).
    contrast: [0.5, 3], default 1.
    pivot: [0.05, 0.95], default 0.18 (linear mid-grey).
Shapes: ``(..., H, W, 3) -> (..., H, W, 3)``, output in [0, 1]. No inverse
is registered: everything above the white point maps to 1.

Source: E. Reinhard, M. Stark, P. Shirley, J. Ferwerda, "Photographic tone reproduction
for digital images", SIGGRAPH 2002, Eq. 4 (the roll-off); the logistic S-curve and its
pivot warp are this project's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ispengine.core.arrays import safe_power
from ispengine.core.params import SCALAR, ParamSpec
from ispengine.core.stage import Stage
from plugins_builtin.canonical_stages.broadcast import against_channels


class ToneCurve(Stage):
    """Exposure, Reinhard roll-off and a pivoted logistic S-curve, ``(..., H, W, 3)``."""

    name = "tone_curve"
    params = (
        ParamSpec("exposure", SCALAR, -4.0, 4.0, default=0.0, description="gain in EV (stops)"),
        ParamSpec("white", SCALAR, 1.0, 64.0, default=1.0, description="exposed level mapped to 1"),
        ParamSpec("contrast", SCALAR, 0.5, 3.0, default=1.0, description="S-curve slope at pivot"),
        ParamSpec("pivot", SCALAR, 0.05, 0.95, default=0.18, description="fixed point of S-curve"),
    )
    input_range = (0.0, 1.0)

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        exposure, white, contrast, pivot = (
            against_channels(p[name]) for name in ("exposure", "white", "contrast", "pivot")
        )
        t = xp.maximum(x, 0.0) * 2.0**exposure
        rolled = xp.minimum(t * (1 + t / (white * white)) / (1 + t), 1.0)
        warp = math.log(0.5) / xp.log(pivot)
        u = safe_power(rolled, warp, xp)
        high = safe_power(u, contrast, xp)
        low = safe_power(1 - u, contrast, xp)
        return safe_power(high / (high + low), 1 / warp, xp)
