"""Gaussian denoising: a blend of the image and its Gaussian-blurred version.

Per channel, with ``G_σ`` the Gaussian blur over H and W (:mod:`.blur`)::

    y = x + strength · (G_σ * x − x)

The classical linear smoothing filter (Gonzalez & Woods, "Digital Image
Processing", 4th ed., §3.5 "Smoothing spatial filters"). On white noise of
variance v a full-strength blur leaves about ``v / (4 π σ²)`` (the sum of the
squared kernel weights); it blurs edges as much as noise, which the
edge-aware ``local_wiener_denoise`` avoids.

Parameters:
    sigma: scalar in [0.3, 20] pixels, default 1; constant or per image (a
        per-pixel blur radius is not this filter).
    strength: scalar in [0, 1], default 1 (0: unchanged); per-pixel maps allowed.
Shapes: ``(..., H, W, 3) -> (..., H, W, 3)``. No inverse.

Source: R. C. Gonzalez, R. E. Woods, "Digital Image Processing", 4th ed., 2018, §3.5
(smoothing spatial filters).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ispengine.core.params import SCALAR, ParamSpec
from ispengine.core.stage import Stage
from plugins_builtin.canonical_stages.broadcast import against_channels
from plugins_builtin.filters.blur import gaussian_blur


class GaussianDenoise(Stage):
    """Blend towards a Gaussian blur, ``(..., H, W, 3) -> (..., H, W, 3)``."""

    name = "gaussian_denoise"
    params = (
        ParamSpec(
            "sigma",
            SCALAR,
            0.3,
            20.0,
            default=1.0,
            local=False,
            description="Gaussian standard deviation, pixels",
        ),
        ParamSpec(
            "strength", SCALAR, 0.0, 1.0, default=1.0, description="blend: 0 none, 1 full blur"
        ),
    )
    input_range = (0.0, 1.0)

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        blurred = gaussian_blur(x, p["sigma"], xp)
        return x + against_channels(p["strength"]) * (blurred - x)
