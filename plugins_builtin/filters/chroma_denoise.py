"""Chroma denoising: smooth the colour differences, keep the luminance.

With the luminance ``Y = 0.2126 R + 0.7152 G + 0.0722 B`` (ITU-R BT.709) and
the chroma residual ``c = x − Y`` (per channel)::

    y = x + strength · (G_σ * c − c)

so ``Y`` and all detail in it are kept exactly (the weights sum to 1, so ``Y(y)
= Y(x)`` up to rounding) and only the colour differences are blurred with the
Gaussian ``G_σ`` (:mod:`.blur`). Vision resolves chroma far worse than
luminance (Mullen 1985, "The contrast sensitivity of human colour vision to
red–green and blue–yellow chromatic gratings", J. Physiol. 359), which is why
camera pipelines denoise chroma much more strongly than luminance; the
colour noise of sensors with strongly overlapping sensitivities (large
colour matrices) is mostly chroma.

Parameters:
    sigma: scalar in [0.3, 20] pixels, default 2; constant or per image.
    strength: scalar in [0, 1], default 1 (0: unchanged); per-pixel maps allowed.
Shapes: ``(..., H, W, 3) -> (..., H, W, 3)``, linear RGB. No inverse.

Source: a standard camera operation; the luminance weights are those of ITU-R
Recommendation BT.709; why chroma can be smoothed more: K. T. Mullen, "The contrast
sensitivity of human colour vision to red–green and blue–yellow chromatic gratings", J.
Physiol. 359, 1985.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ispengine.core.params import SCALAR, ParamSpec
from ispengine.core.stage import Stage
from plugins_builtin.canonical_stages.broadcast import against_channels
from plugins_builtin.filters.blur import gaussian_blur
from plugins_builtin.filters.local_tone_map import luminance


class ChromaDenoise(Stage):
    """Blur ``x − Y(x)`` and keep ``Y``, ``(..., H, W, 3) -> (..., H, W, 3)``."""

    name = "chroma_denoise"
    params = (
        ParamSpec(
            "sigma",
            SCALAR,
            0.3,
            20.0,
            default=2.0,
            local=False,
            description="Gaussian sigma of the chroma blur, pixels",
        ),
        ParamSpec("strength", SCALAR, 0.0, 1.0, default=1.0, description="0 none, 1 full"),
    )
    input_range = (0.0, 1.0)

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        chroma = x - luminance(x, xp)[..., None]
        smoothed = gaussian_blur(chroma, p["sigma"], xp)
        return x + against_channels(p["strength"]) * (smoothed - chroma)
