"""Black-level subtraction and white-level normalisation of a Bayer mosaic.

The linearisation of the DNG specification (1.6, chapter 5 "Mapping Raw
Values to Linear Reference Values"), per CFA channel c of each site::

    y = (x − black[c]) / (white − black[c])

so the black level maps to 0 and the white (saturation) level to 1. Values
are not clipped, so the exact inverse is ``x = y · (white − black[c]) + black[c]``.

Parameters (raw digital numbers, constants or per-image values, not per-pixel):
    black: per CFA channel (R, Gr, Gb, B), each in [0, 65535].
    white: scalar in [1, 65535]; ``white − max(black)`` must be at least
        ``MIN_HEADROOM`` (0.1 %) of ``white``, so outputs stay within ±1000
        and the round trip keeps float32 precision.
Input: raw values in [0, white].

Source: Adobe, "Digital Negative (DNG) Specification", version 1.6, chapter 5 ("Mapping
Raw Values to Linear Reference Values").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ispengine.core.capabilities import Capabilities
from ispengine.core.cfa import cfa_cell, merge_cfa, split_cfa
from ispengine.core.errors import ParamError
from ispengine.core.params import PER_CFA_CHANNEL, SCALAR, ParamSpec
from ispengine.core.stage import InverseStage, Stage
from plugins_builtin.canonical_stages.cfa import PATTERN_OPTION

MIN_HEADROOM = 1e-3


class BlackLevel(Stage):
    """Subtract the black level and normalise by the white level, ``(..., H, W)``."""

    name = "black_level"
    params = (
        ParamSpec(
            "black",
            PER_CFA_CHANNEL,
            0.0,
            65535.0,
            local=False,
            description="black level per CFA channel (R, Gr, Gb, B), raw units",
        ),
        ParamSpec(
            "white",
            SCALAR,
            1.0,
            65535.0,
            local=False,
            description="white (saturation) level, raw units, above every black level",
        ),
    )
    options = (PATTERN_OPTION,)
    input_layout = "mosaic"
    output_layout = "mosaic"
    input_range = (0.0, 65535.0)
    needs_even_size = True

    @classmethod
    def check_params(cls, values: Mapping[str, np.ndarray]) -> None:
        if "black" not in values or "white" not in values:
            return
        black = np.max(np.asarray(values["black"]), axis=-1)
        white = np.asarray(values["white"])
        too_close = white - black < MIN_HEADROOM * white
        if np.any(too_close):
            at = np.argmax(too_close)
            raise ParamError(
                key="white",
                message=f"{np.broadcast_to(white, too_close.shape).flat[at]:g} must exceed the "
                f"largest black level {np.broadcast_to(black, too_close.shape).flat[at]:g} "
                f"by at least {MIN_HEADROOM:g} x white",
            )

    def input_domain(self) -> tuple[float, float]:
        white = self.values["white"]
        if white is None:
            return self.input_range
        return (0.0, float(np.max(white)))

    def cfa_affine(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``y = x · scale + offset`` per site of the 2×2 cell, for fused chains (constants
        only)."""
        black, white = self.values["black"], self.values["white"]
        if black is None or white is None or black.shape not in ((), (4,)) or white.shape != ():
            return None
        scale = 1.0 / (float(white) - np.broadcast_to(black, (4,)))
        pattern = self.config["pattern"]
        return cfa_cell(scale, pattern), cfa_cell(-np.broadcast_to(black, (4,)) * scale, pattern)

    capabilities = Capabilities(cfa_affine=cfa_affine)

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        black, white = p["black"], p["white"]
        planes = [
            (plane - black[..., k]) / (white - black[..., k])
            for k, plane in enumerate(split_cfa(x, self.config["pattern"]))
        ]
        return merge_cfa(planes, self.config["pattern"], xp)


class BlackLevelInverse(InverseStage):
    """Undo the normalisation: ``y · (white − black[c]) + black[c]`` (exact)."""

    name = "black_level_inverse"
    forward = BlackLevel
    method = "exact"

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        black, white = p["black"], p["white"]
        planes = [
            plane * (white - black[..., k]) + black[..., k]
            for k, plane in enumerate(split_cfa(x, self.config["pattern"]))
        ]
        return merge_cfa(planes, self.config["pattern"], xp)
