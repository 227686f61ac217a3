"""White balance: a diagonal (von Kries) gain per colour channel.

The DNG specification's ``AsShotNeutral`` gives the camera-space neutral n;
the white-balance gains are ``1 / n`` normalised to green (DNG 1.6, chapter 6
"Mapping Camera Color Space to CIE XYZ Space"). Applied before the colour
matrix::

    y_c = gains[c] · x_c                  (exact inverse: y_c / gains[c])

``white_balance`` works on RGB images ``(..., H, W, 3)``; ``mosaic_white_balance``
on a Bayer mosaic ``(..., H, W)``, applying to each site the gain of its colour
(both greens take the G gain).

Parameters:
    gains: per channel (R, G, B), each in [0.05, 20], default 1 (no change).
        Per-pixel maps are accepted by ``white_balance`` only.

Source: Adobe, "Digital Negative (DNG) Specification", version 1.6, chapter 6 ("Mapping
Camera Color Space to CIE XYZ Space", AsShotNeutral).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ispengine.core.capabilities import Capabilities
from ispengine.core.cfa import CFA_COLOUR, cfa_cell, merge_cfa, split_cfa
from ispengine.core.params import PER_CHANNEL, ParamSpec
from ispengine.core.stage import InverseStage, Stage
from plugins_builtin.canonical_stages.cfa import PATTERN_OPTION

GAIN_RANGE = (0.05, 20.0)


def scale_mosaic(x: Any, gains: Any, pattern: str, xp: Any, *, divide: bool = False) -> Any:
    """Multiply (or divide) each site of a mosaic by the gain of its colour."""
    planes = []
    for k, plane in enumerate(split_cfa(x, pattern)):
        gain = gains[..., CFA_COLOUR[k]]
        planes.append(plane / gain if divide else plane * gain)
    return merge_cfa(planes, pattern, xp)


class WhiteBalance(Stage):
    """Per-channel white-balance gains on RGB, ``(..., H, W, 3) -> (..., H, W, 3)``."""

    name = "white_balance"
    params = (
        ParamSpec(
            "gains", PER_CHANNEL, *GAIN_RANGE, default=1.0, description="gain per channel (R, G, B)"
        ),
    )

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        return x * p["gains"]


class WhiteBalanceInverse(InverseStage):
    """Divide by the white-balance gains (exact)."""

    name = "white_balance_inverse"
    forward = WhiteBalance
    method = "exact"

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        return x / p["gains"]


class MosaicWhiteBalance(Stage):
    """Per-colour white-balance gains on a Bayer mosaic, ``(..., H, W) -> (..., H, W)``."""

    name = "mosaic_white_balance"
    params = (
        ParamSpec(
            "gains",
            PER_CHANNEL,
            *GAIN_RANGE,
            default=1.0,
            local=False,
            description="gain per colour (R, G, B); both greens take G",
        ),
    )
    options = (PATTERN_OPTION,)
    input_layout = "mosaic"
    output_layout = "mosaic"
    needs_even_size = True

    def cfa_affine(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``y = x · gain[colour of the site]`` per site of the 2×2 cell, for fused chains
        (constants only)."""
        gains = self.values["gains"]
        if gains is None or gains.shape not in ((), (3,)):
            return None
        scale = np.broadcast_to(gains, (3,))[list(CFA_COLOUR)].astype(np.float64)
        return cfa_cell(scale, self.config["pattern"]), np.zeros((2, 2))

    capabilities = Capabilities(cfa_affine=cfa_affine)

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        return scale_mosaic(x, p["gains"], self.config["pattern"], xp)


class MosaicWhiteBalanceInverse(InverseStage):
    """Divide each mosaic site by the gain of its colour (exact)."""

    name = "mosaic_white_balance_inverse"
    forward = MosaicWhiteBalance
    method = "exact"

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        return scale_mosaic(x, p["gains"], self.config["pattern"], xp, divide=True)
