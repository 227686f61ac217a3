"""Sharpening by unsharp masking.

Per channel, with ``G_r`` the Gaussian blur over H and W (:mod:`.blur`)::

    y = x + amount · (x − G_r * x)

(Gonzalez & Woods, "Digital Image Processing", 4th ed., §3.6 "Unsharp
masking and highboost filtering"). It multiplies the image spectrum by
``1 + amount · (1 − Ĝ_r(ω))``, ``Ĝ_r(ω) = exp(−r² ω² / 2)``: low frequencies are
kept, high frequencies gain up to ``1 + amount``. Values are not clipped.

Parameters:
    amount: scalar in [0, 5], default 0.5 (0: unchanged); per-pixel maps allowed.
    radius: scalar in [0.3, 20] pixels (Gaussian σ), default 1; constant or per image.
Shapes: ``(..., H, W, 3) -> (..., H, W, 3)``. No inverse.

Source: R. C. Gonzalez, R. E. Woods, "Digital Image Processing", 4th ed., 2018, §3.6
(unsharp masking and highboost filtering).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ispengine.core.params import SCALAR, ParamSpec
from ispengine.core.stage import Stage
from plugins_builtin.canonical_stages.broadcast import against_channels
from plugins_builtin.filters.blur import gaussian_blur


class UnsharpMask(Stage):
    """Add back ``amount`` times the high-pass detail, ``(..., H, W, 3) -> (..., H, W, 3)``."""

    name = "unsharp_mask"
    params = (
        ParamSpec("amount", SCALAR, 0.0, 5.0, default=0.5, description="detail gain"),
        ParamSpec(
            "radius",
            SCALAR,
            0.3,
            20.0,
            default=1.0,
            local=False,
            description="Gaussian sigma of the blur, pixels",
        ),
    )
    input_range = (0.0, 1.0)

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        detail = x - gaussian_blur(x, p["radius"], xp)
        return x + against_channels(p["amount"]) * detail
