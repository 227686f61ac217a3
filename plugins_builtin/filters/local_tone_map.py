"""Local tone mapping: compress the large-scale (base) log luminance, keep the detail.

The base/detail decomposition of Durand & Dorsey 2002 ("Fast bilateral
filtering for the display of high-dynamic-range images", SIGGRAPH), with a
Gaussian instead of a bilateral base (so strong edges can halo, as in early
camera local tone mapping). With luminance ``L = 0.2126 R + 0.7152 G +
0.0722 B`` (ITU-R BT.709, linear) floored at ``2^-14``::

    l = log2 L,   base = G_radius * l,   detail = l − base
    base' = log2(anchor) + (1 − strength) · (base − log2(anchor))
    y = x · 2^(base' + detail − l) = x · clip((anchor / 2^base)^strength, 1/max_gain, max_gain)

so each pixel's colour ratios are kept and only its brightness changes: the
local average brightness is pulled towards ``anchor`` by the fraction
``strength`` (dark regions brightened, bright regions darkened) while detail
within ``radius`` pixels is untouched. The gain limit keeps the noise of
near-black regions from being amplified without bound.

Parameters:
    strength: scalar in [0, 1], default 0.5 (0: unchanged); per-pixel maps allowed.
    radius: scalar in [0.5, 200] pixels (σ of the base blur), default 8; constant
        or per image.
    anchor: scalar in [0.01, 1], default 0.18 (linear mid-grey); per-pixel maps allowed.
    max_gain: scalar in [1, 64], default 8; per-pixel maps allowed.
Shapes: ``(..., H, W, 3) -> (..., H, W, 3)``, linear values. No inverse.

Source: F. Durand, J. Dorsey, "Fast bilateral filtering for the display of
high-dynamic-range images", SIGGRAPH 2002 (base/detail decomposition; a Gaussian base
here).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ispengine.core.arrays import as_param
from ispengine.core.params import SCALAR, ParamSpec
from ispengine.core.stage import Stage
from plugins_builtin.filters.blur import gaussian_blur

LUMINANCE_WEIGHTS = np.array([0.2126, 0.7152, 0.0722])
LUMINANCE_FLOOR = 2.0**-14


def luminance(x: Any, xp: Any) -> Any:
    """Relative luminance ``(..., H, W)`` of linear BT.709 / sRGB ``(..., H, W, 3)``."""
    weights = as_param(LUMINANCE_WEIGHTS, x, xp)
    return xp.sum(x * weights, axis=-1)


class LocalToneMap(Stage):
    """Base/detail local tone mapping of log luminance, ``(..., H, W, 3)``."""

    name = "local_tone_map"
    params = (
        ParamSpec("strength", SCALAR, 0.0, 1.0, default=0.5, description="base compression"),
        ParamSpec(
            "radius",
            SCALAR,
            0.5,
            200.0,
            default=8.0,
            local=False,
            description="Gaussian sigma of the base layer, pixels",
        ),
        ParamSpec("anchor", SCALAR, 0.01, 1.0, default=0.18, description="level kept fixed"),
        ParamSpec("max_gain", SCALAR, 1.0, 64.0, default=8.0, description="gain limit (both ways)"),
    )
    input_range = (0.0, 1.0)

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        log_luminance = xp.log2(xp.maximum(luminance(x, xp), LUMINANCE_FLOOR))
        base = gaussian_blur(log_luminance, p["radius"], xp, channels=False)
        gain = 2.0 ** (-p["strength"] * (base - xp.log2(p["anchor"])))
        gain = xp.minimum(xp.maximum(gain, 1 / p["max_gain"]), p["max_gain"])
        return x * gain[..., None]
