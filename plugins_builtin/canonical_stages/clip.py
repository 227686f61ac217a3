"""Clipping to a value range: ``y = min(max(x, low), high)``.

The saturation step of every ISP before quantisation (e.g. IEC 61966-2-1
encodes values in [0, 1]). It discards what lies outside the range, so it has
no inverse.

Parameters:
    low: scalar in [-1e6, 1e6], default 0.
    high: scalar in [-1e6, 1e6], default 1; must exceed ``low``.

Source: a standard camera operation (no paper); the [0, 1] encoding range is that of IEC
61966-2-1:1999, "Multimedia systems and equipment – Colour measurement and management –
Part 2-1: Default RGB colour space – sRGB".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ispengine.core.errors import ParamError
from ispengine.core.params import SCALAR, ParamSpec
from ispengine.core.stage import Stage
from plugins_builtin.canonical_stages.broadcast import against_channels


class Clip(Stage):
    """Clip every value to ``[low, high]``, ``(..., H, W, 3) -> (..., H, W, 3)``."""

    name = "clip"
    params = (
        ParamSpec("low", SCALAR, -1e6, 1e6, default=0.0, description="lower bound"),
        ParamSpec("high", SCALAR, -1e6, 1e6, default=1.0, description="upper bound, above low"),
    )

    @classmethod
    def check_params(cls, values: Mapping[str, np.ndarray]) -> None:
        if "low" in values and "high" in values:
            low, high = np.asarray(values["low"]), np.asarray(values["high"])
            too_low = ~(low < high)
            if np.any(too_low):
                at = np.argmax(too_low)
                raise ParamError(
                    key="high",
                    message=f"{np.broadcast_to(high, too_low.shape).flat[at]:g} must exceed "
                    f"low {np.broadcast_to(low, too_low.shape).flat[at]:g}",
                )

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        low, high = against_channels(p["low"]), against_channels(p["high"])
        return xp.minimum(xp.maximum(x, low), high)
