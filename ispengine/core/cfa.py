"""Bayer colour filter array (CFA) geometry: the cell, its channels, packing and mosaicing.

A Bayer pattern names the colours of the top-left 2×2 cell row by row
(``rggb``: R at (0, 0), G at (0, 1) and (1, 0), B at (1, 1)), following the
DNG specification 1.6's ``CFAPattern`` tag (chapter 6) and
colour-demosaicing's ``masks_CFA_Bayer``. The four CFA channels are always
ordered R, Gr (green on the red rows), Gb (green on the blue rows), B,
whatever the pattern.

Shapes: a mosaic is ``(..., H, W)`` with H and W even; a CFA plane is
``(..., H/2, W/2)``, the samples of one CFA channel; packed planes are
``(..., H/2, W/2, 4)``; an RGB image is ``(..., H, W, 3)``. Functions taking
``xp`` work on any array-API namespace (numpy, torch, CuPy) and build their
results without in-place writes, so they are differentiable in torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

PATTERNS = ("rggb", "bggr", "grbg", "gbrg")
CFA_CHANNELS = ("R", "Gr", "Gb", "B")
# The RGB channel index of each CFA channel R, Gr, Gb, B.
CFA_COLOUR = (0, 1, 1, 2)


def cfa_positions(pattern: str) -> dict[str, tuple[int, int]]:
    """The (row, column) of each CFA channel in the 2×2 cell of ``pattern``.

    >>> cfa_positions("grbg")
    {'R': (0, 1), 'Gr': (0, 0), 'Gb': (1, 1), 'B': (1, 0)}
    """
    cell = {(0, 0): pattern[0], (0, 1): pattern[1], (1, 0): pattern[2], (1, 1): pattern[3]}
    red = next(pos for pos, colour in cell.items() if colour == "r")
    blue = next(pos for pos, colour in cell.items() if colour == "b")
    return {
        "R": red,
        "Gr": (red[0], 1 - red[1]),
        "Gb": (blue[0], 1 - blue[1]),
        "B": blue,
    }


def cfa_cell(values: Sequence[Any], pattern: str, dtype: Any = float) -> np.ndarray:
    """The 2×2 cell of ``pattern`` holding, at each site, the value of its CFA channel.

    ``values`` are given per CFA channel in the order R, Gr, Gb, B.

    >>> cfa_cell([0, 1, 2, 3], "gbrg", int).tolist()
    [[2, 3], [0, 1]]
    """
    cell = np.empty((2, 2), dtype=dtype)
    for value, channel in zip(values, CFA_CHANNELS, strict=True):
        cell[cfa_positions(pattern)[channel]] = value
    return cell


def split_cfa(x: Any, pattern: str) -> list[Any]:
    """The planes R, Gr, Gb, B of a mosaic ``(..., H, W)``, each ``(..., H/2, W/2)``."""
    positions = cfa_positions(pattern)
    return [x[..., positions[c][0] :: 2, positions[c][1] :: 2] for c in CFA_CHANNELS]


def pack_cfa(x: Any, pattern: str, xp: Any) -> Any:
    """A mosaic ``(..., H, W)`` as planes ``(..., H/2, W/2, 4)`` in the order R, Gr, Gb, B.

    >>> pack_cfa(np.arange(4).reshape(2, 2), "grbg", np).tolist()
    [[[1, 0, 3, 2]]]
    """
    return xp.stack(split_cfa(x, pattern), axis=-1)


def merge_cfa(planes: Sequence[Any], pattern: str, xp: Any) -> Any:
    """The mosaic ``(..., H, W)`` whose planes R, Gr, Gb, B are ``planes``.

    The inverse of :func:`split_cfa`, built with ``stack`` and ``reshape`` only
    (no in-place writes), so it is differentiable in torch.
    """
    positions = cfa_positions(pattern)
    by_position = {positions[c]: plane for c, plane in zip(CFA_CHANNELS, planes, strict=True)}
    return interleave(by_position, xp)


def interleave(planes: dict[tuple[int, int], Any], xp: Any) -> Any:
    """The ``(..., H, W)`` array with ``out[..., 2i + a, 2j + b] = planes[(a, b)][..., i, j]``."""
    rows = [xp.stack([planes[(a, 0)], planes[(a, 1)]], axis=-1) for a in (0, 1)]
    cells = xp.stack(rows, axis=-3)  # (..., H/2, 2, W/2, 2)
    shape = tuple(cells.shape)
    return xp.reshape(cells, shape[:-4] + (2 * shape[-4], 2 * shape[-2]))


def mosaic(rgb: Any, pattern: str, xp: Any) -> Any:
    """Sample an RGB image ``(..., H, W, 3)`` through the Bayer CFA, ``-> (..., H, W)``.

    Each site keeps the RGB channel of its CFA colour and discards the other two.

    >>> rgb = np.stack([np.full((2, 2), v) for v in (1, 2, 3)], axis=-1)
    >>> mosaic(rgb, "rggb", np).tolist()
    [[1, 2], [2, 3]]
    """
    where = cfa_positions(pattern)
    planes = [
        rgb[..., where[c][0] :: 2, where[c][1] :: 2, CFA_COLOUR[k]]
        for k, c in enumerate(CFA_CHANNELS)
    ]
    return merge_cfa(planes, pattern, xp)
