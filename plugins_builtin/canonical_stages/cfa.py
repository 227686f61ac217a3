"""The ``pattern`` option of the mosaic stages.

The CFA geometry itself is :mod:`ispengine.core.cfa`.

The geometry names (``PATTERNS``, ``cfa_positions``, ``cfa_cell``,
``split_cfa``, ``pack_cfa``, ``merge_cfa``, ...) stay importable from here.
"""

from __future__ import annotations

from ispengine.core.cfa import (
    CFA_CHANNELS,
    CFA_COLOUR,
    PATTERNS,
    cfa_cell,
    cfa_positions,
    interleave,
    merge_cfa,
    pack_cfa,
    split_cfa,
)
from ispengine.core.params import OptionSpec

__all__ = [
    "CFA_CHANNELS",
    "CFA_COLOUR",
    "PATTERNS",
    "PATTERN_OPTION",
    "cfa_cell",
    "cfa_positions",
    "interleave",
    "merge_cfa",
    "pack_cfa",
    "split_cfa",
]

PATTERN_OPTION = OptionSpec(
    "pattern",
    PATTERNS,
    default="rggb",
    description="Bayer pattern of the top-left 2x2 cell, row by row",
)
