"""Same-colour windows on a Bayer mosaic: reflect padding and shifted views.

In every Bayer pattern the sites at a distance of two rows and/or two columns
have the colour of the centre site, so a ``(2r + 1) × (2r + 1)`` window on one
CFA plane is the mosaic sampled at offsets ``(2i, 2j)``, ``|i|, |j| <= r``.
Working on the whole mosaic with offsets of two gives every plane's window in
one pass, whatever the pattern.

Borders: the mosaic is padded by ``2r`` with numpy's ``reflect`` mode (the
edge sample is not repeated), as fast-openISP pads before splitting its
planes (Q. Qiu, fast-openISP, github.com/QiuJueqin/fast-openISP,
modules/helpers.py, ``pad`` and ``shift_array``). On the planes this reflects
about the edge row for the plane whose edge row is the mosaic's edge row, and
repeats the edge row for the other plane, exactly as fast-openISP does.

Functions take ``xp`` (any array-API namespace) and make no in-place writes.
This module registers no stage.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import array_api_compat
import numpy as np


def reflect_indices(size: int, pad: int) -> np.ndarray:
    """Indices of ``range(size)`` padded by ``pad`` on both sides, numpy ``reflect`` mode.

    >>> reflect_indices(4, 2).tolist()
    [2, 1, 0, 1, 2, 3, 2, 1]
    """
    index = np.arange(-pad, size + pad)
    period = 2 * (size - 1)
    if period == 0:
        return np.zeros_like(index)
    index = np.abs(index) % period
    return np.where(index >= size, period - index, index)


def reflect_pad(x: Any, pad: int, xp: Any) -> Any:
    """``x`` ``(..., H, W)`` padded by ``pad`` on its last two axes (``reflect`` mode)."""
    if isinstance(x, np.ndarray):
        widths = [(0, 0)] * (x.ndim - 2) + [(pad, pad), (pad, pad)]
        if min(x.shape[-2:]) > pad:
            return np.pad(x, widths, mode="reflect")
    device = array_api_compat.device(x)
    rows = xp.asarray(reflect_indices(x.shape[-2], pad), device=device)
    columns = xp.asarray(reflect_indices(x.shape[-1], pad), device=device)
    return xp.take(xp.take(x, rows, axis=-2), columns, axis=-1)


def shifted(padded: Any, pad: int, dy: int, dx: int, shape: tuple[int, int]) -> Any:
    """The view of ``padded`` whose ``[..., i, j]`` is the unpadded ``[..., i + dy, j + dx]``."""
    height, width = shape
    return padded[..., pad + dy : pad + dy + height, pad + dx : pad + dx + width]


def same_colour_window(x: Any, radius: int, xp: Any) -> Iterator[tuple[int, int, Any]]:
    """``(i, j, view)`` for every offset of a same-colour window of ``radius`` plane pixels:
    ``view[..., y, x] = x[..., y + 2i, x + 2j]`` (reflect-padded), row by row."""
    pad = 2 * radius
    padded = reflect_pad(x, pad, xp)
    shape = tuple(x.shape[-2:])
    for i in range(-radius, radius + 1):
        for j in range(-radius, radius + 1):
            yield i, j, shifted(padded, pad, 2 * i, 2 * j, shape)
