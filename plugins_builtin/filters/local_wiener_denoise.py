"""Edge-aware denoising by the local-statistics (Lee / local Wiener) filter.

Lee 1980, "Digital image enhancement and noise filtering by use of local
statistics", IEEE TPAMI 2(2); the same estimator as Kuan et al. 1985 for
signal-dependent noise. Per channel, with Gaussian-weighted local moments
(``G_r`` the Gaussian blur of :mod:`.blur`)::

    μ = G_r * x,     v = max(G_r * x² − μ², 0)              local mean, variance
    n = noise_scale · max(μ, 0) + noise_offset              noise variance
    k = max(v − n, 0) / max(v, 1e-12)                       signal fraction
    y = x − strength · (1 − k) · (x − μ)

The noise variance follows the DNG ``NoiseProfile`` model (DNG 1.6, tag
51041: variance ``S · x + O`` of a linear signal ``x``, shot plus read
noise). Where the local variance is no more than the noise (flat regions)
``k ≈ 0`` and the pixel is replaced by the local mean; across edges ``v ≫ n``,
``k ≈ 1`` and the pixel is kept.

Parameters:
    noise_scale: per channel in [0, 1], default 1e-3 (``S``); per-pixel maps allowed.
    noise_offset: per channel in [0, 0.1], default 1e-5 (``O``); per-pixel maps allowed.
    radius: scalar in [0.5, 10] pixels (Gaussian σ of the window), default 1.5;
        constant or per image.
    strength: scalar in [0, 1], default 1 (0: unchanged); per-pixel maps allowed.
Shapes: ``(..., H, W, 3) -> (..., H, W, 3)``, linear values. No inverse.

Source: J.-S. Lee, "Digital image enhancement and noise filtering by use of local
statistics", IEEE TPAMI 2(2), 1980; the noise model of Adobe, "Digital Negative (DNG)
Specification", version 1.6, tag NoiseProfile.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ispengine.core.params import PER_CHANNEL, SCALAR, ParamSpec
from ispengine.core.stage import Stage
from plugins_builtin.canonical_stages.broadcast import against_channels
from plugins_builtin.filters.blur import gaussian_blur

TINY_VARIANCE = 1e-12


class LocalWienerDenoise(Stage):
    """Lee's local-statistics filter with a shot + read noise model, ``(..., H, W, 3)``."""

    name = "local_wiener_denoise"
    params = (
        ParamSpec(
            "noise_scale",
            PER_CHANNEL,
            0.0,
            1.0,
            default=1e-3,
            description="noise variance per unit signal (DNG NoiseProfile S)",
        ),
        ParamSpec(
            "noise_offset",
            PER_CHANNEL,
            0.0,
            0.1,
            default=1e-5,
            description="noise variance at zero signal (DNG NoiseProfile O)",
        ),
        ParamSpec(
            "radius",
            SCALAR,
            0.5,
            10.0,
            default=1.5,
            local=False,
            description="Gaussian sigma of the local window, pixels",
        ),
        ParamSpec("strength", SCALAR, 0.0, 1.0, default=1.0, description="0 none, 1 full"),
    )
    input_range = (0.0, 1.0)

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        mean = gaussian_blur(x, p["radius"], xp)
        variance = xp.maximum(gaussian_blur(x * x, p["radius"], xp) - mean * mean, 0.0)
        noise = p["noise_scale"] * xp.maximum(mean, 0.0) + p["noise_offset"]
        signal = xp.maximum(variance - noise, 0.0) / xp.maximum(variance, TINY_VARIANCE)
        return x - against_channels(p["strength"]) * (1 - signal) * (x - mean)
