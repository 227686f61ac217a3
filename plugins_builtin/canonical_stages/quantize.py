"""Quantisation to ``bits``-bit code values, returned on the [0, 1] scale.

``y = round(clip(x, 0, 1) · (2^bits − 1)) / (2^bits − 1)``, rounding half to
even; the code values of an 8-bit sRGB file are ``y · 255`` (IEC 61966-2-1,
section 5). It is many-to-one, so it has no inverse.

Parameters:
    bits: scalar in [1, 16], an integer, default 8.

Source: IEC 61966-2-1:1999, "Multimedia systems and equipment – Colour measurement and
management – Part 2-1: Default RGB colour space – sRGB", section 5 (digital code
values).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ispengine.core.errors import ParamError
from ispengine.core.params import SCALAR, ParamSpec
from ispengine.core.stage import Stage
from plugins_builtin.canonical_stages.broadcast import against_channels


class Quantize(Stage):
    """Round to ``2^bits`` levels in [0, 1], ``(..., H, W, 3) -> (..., H, W, 3)``."""

    name = "quantize"
    params = (ParamSpec("bits", SCALAR, 1, 16, default=8, description="bit depth, an integer"),)

    @classmethod
    def check_params(cls, values: Mapping[str, np.ndarray]) -> None:
        if "bits" in values:
            bits = np.asarray(values["bits"])
            fractional = bits[bits != np.round(bits)]
            if fractional.size:
                raise ParamError(key="bits", message=f"must be an integer, got {fractional[0]:g}")

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        levels = 2.0 ** against_channels(p["bits"]) - 1
        clipped = xp.clip(x, 0.0, 1.0)
        return xp.round(clipped * levels) / levels
