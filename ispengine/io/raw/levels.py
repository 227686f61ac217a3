"""Black/white level normalisation of a :class:`RawImage` mosaic (DNG linearisation).

``normalize``: ``(x − black[c]) / (white − black[c])`` per CFA channel c, the
same formula as the ``black_level`` stage; ``denormalize`` its exact inverse.
"""

from __future__ import annotations

import numpy as np

from ispengine.core.cfa import cfa_cell
from ispengine.io.raw.image import RawImage


def _per_site(raw: RawImage) -> np.ndarray:
    """The black level of every site of one 2×2 cell, shaped (2, 2)."""
    return cfa_cell(raw.black_level, raw.cfa_pattern)


def _tile(raw: RawImage, cell: np.ndarray) -> np.ndarray:
    height, width = raw.shape
    return np.tile(cell, (height // 2, width // 2))


def normalize(raw: RawImage) -> np.ndarray:
    """The mosaic as float64 in [0, 1] (black → 0, white → 1); unchanged if normalised."""
    if raw.normalized:
        return np.asarray(raw.mosaic, dtype=np.float64)
    black = _tile(raw, _per_site(raw))
    return (raw.mosaic.astype(np.float64) - black) / (raw.white_level - black)


def denormalize(raw: RawImage) -> np.ndarray:
    """Raw digital numbers (float64) of a normalised mosaic; unchanged if not normalised."""
    if not raw.normalized:
        return np.asarray(raw.mosaic, dtype=np.float64)
    black = _tile(raw, _per_site(raw))
    return np.asarray(raw.mosaic, dtype=np.float64) * (raw.white_level - black) + black
