"""Anti-aliasing filter on a Bayer mosaic (fast-openISP's AAF).

A 3×3 weighted mean on each CFA plane: the centre site has weight 8, its eight
same-colour neighbours (two sites away on the mosaic) weight 1 each::

    y = (8·c + Σ_{(i, j) ≠ (0, 0), |i|, |j| <= 1} x[2i, 2j]) / 16

i.e. ``y = c/2 + (mean of the 8 neighbours)/2``: a mild low-pass on each colour
plane before demosaicing. Its frequency response on a plane is
``(8 + 2 cos u + 2 cos v + 4 cos u cos v) / 16``: 1 at DC, 1/4 at the plane's
Nyquist frequency along one axis, 1/2 for the plane's checkerboard.
Borders: the mosaic is reflect-padded by two sites (:mod:`.mosaic_window`), as
in the source. The source divides by 16 with a right shift (rounding down);
here the division is exact. A constant mosaic is unchanged.

Parameters: none.
Options:
    pattern: the Bayer pattern; accepted so that specs can take it from the file's
        metadata like every mosaic stage, but the result is the same for all four
        patterns (same-colour neighbours are two sites away in each).
Shapes: ``(..., H, W) -> (..., H, W)``, H and W even. A filter: never inverted.

Source: Q. Qiu, fast-openISP, github.com/QiuJueqin/fast-openISP, modules/aaf.py (2021).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ispengine.core.stage import Stage
from plugins_builtin.camera_modules.mosaic_window import same_colour_window
from plugins_builtin.canonical_stages.cfa import PATTERN_OPTION

CENTRE_WEIGHT = 8.0
TOTAL_WEIGHT = 16.0


def anti_alias(x: Any, xp: Any) -> Any:
    """The module's math on a mosaic ``(..., H, W)`` (see the module docstring)."""
    total = CENTRE_WEIGHT * x
    for i, j, view in same_colour_window(x, 1, xp):
        if (i, j) != (0, 0):
            total = total + view
    return total / TOTAL_WEIGHT


class AntiAliasingFilter(Stage):
    """Same-colour 3×3 weighted mean (centre 8, neighbours 1, /16),
    ``(..., H, W) -> (..., H, W)``."""

    name = "anti_aliasing_filter"
    options = (PATTERN_OPTION,)
    input_layout = "mosaic"
    output_layout = "mosaic"
    needs_even_size = True

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        return anti_alias(x, xp)


FILTERS = (AntiAliasingFilter,)
