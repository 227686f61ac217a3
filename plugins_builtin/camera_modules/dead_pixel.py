"""Dead pixel correction on a Bayer mosaic (fast-openISP's DPC).

Each site ``c`` is compared with its eight same-colour neighbours, the sites at
two rows and/or two columns from it (``n_TL, n_T, n_TR, n_L, n_R, n_BL, n_B,
n_BR``; every Bayer pattern puts the centre's colour there). A site is dead when
it differs from all eight by more than the threshold ``t``::

    dead = AND over the 8 neighbours n of |c − n| > t

A dead site is replaced by the mean of the neighbour pair along the direction
of the smallest second difference::

    d_v  = |2c − n_T − n_B|        d_h  = |2c − n_L − n_R|
    d_dl = |2c − n_TL − n_BR|      d_dr = |2c − n_BL − n_TR|
    y = (n_T + n_B) / 2, (n_L + n_R) / 2, (n_TL + n_BR) / 2 or (n_BL + n_TR) / 2
        for the direction with the smallest d (the first of v, h, dl, dr on ties)

Other sites are unchanged. The test is on absolute differences, as in the
source: a site far above some neighbours and far below the others counts as
dead too. Borders: the mosaic is reflect-padded by two sites
(:mod:`.mosaic_window`), as in the source; the padding makes the sites of the
second and second-to-last rows and columns their own neighbour, so (as in the
source) a dead site there is never flagged.

Speed: numpy input runs one compiled Numba loop over the sites (compiled on
first use, cached on disk); other array types (torch, CuPy) run the same math
as whole-array operations.

Conversion from the source's integers: its threshold ``diff_threshold`` is in
raw digital numbers; divide it by the white level, e.g. fast-openISP's test
configuration's 30 on 10-bit data is ``30 / 1023 ≈ 0.0293`` (the default). The
source halves the pair's sum with a right shift (rounding down); here the mean
is exact.

Parameters:
    threshold: scalar in [0, 1], default 30/1023; per-pixel maps allowed. 0 flags
        every site that differs from all eight neighbours; 1 flags none on data in [0, 1].
Options:
    pattern: the Bayer pattern; accepted so that specs can take it from the file's
        metadata like every mosaic stage, but the result is the same for all four
        patterns (same-colour neighbours are two sites away in each).
Shapes: ``(..., H, W) -> (..., H, W)``, H and W even. A filter: never inverted.

Source: Q. Qiu, fast-openISP, github.com/QiuJueqin/fast-openISP, modules/dpc.py
(2021), after openISP's DPC module (cruxopen, openISP).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

import numpy as np

from ispengine.core.params import SCALAR, ParamSpec
from ispengine.core.stage import Stage
from plugins_builtin.camera_modules.mosaic_window import reflect_pad, shifted
from plugins_builtin.canonical_stages.cfa import PATTERN_OPTION

DEFAULT_THRESHOLD = 30 / 1023
# Neighbour pairs, (dy, dx) in mosaic sites, in the source's order of directions:
# vertical, horizontal, diagonal top-left/bottom-right, diagonal bottom-left/top-right.
DIRECTIONS = (
    ((-2, 0), (2, 0)),
    ((0, -2), (0, 2)),
    ((-2, -2), (2, 2)),
    ((2, -2), (-2, 2)),
)


def correct_dead_pixels(x: Any, threshold: Any, xp: Any) -> Any:
    """The module's math on a mosaic ``(..., H, W)`` (see the module docstring)."""
    padded = reflect_pad(x, 2, xp)
    shape = tuple(x.shape[-2:])
    dead = None
    best_gradient = best_value = None
    for first, second in DIRECTIONS:
        a = shifted(padded, 2, *first, shape)
        b = shifted(padded, 2, *second, shape)
        far = (xp.abs(x - a) > threshold) & (xp.abs(x - b) > threshold)
        dead = far if dead is None else dead & far
        gradient = xp.abs(2 * x - a - b)
        value = (a + b) / 2
        if best_gradient is None:
            best_gradient, best_value = gradient, value
        else:
            better = gradient < best_gradient
            best_value = xp.where(better, value, best_value)
            best_gradient = xp.where(better, gradient, best_gradient)
    return xp.where(dead, best_value, x)


def _dead_pixel_loop(padded, threshold, out):  # noqa: ANN001, ANN202
    """Numba loop: ``padded`` ``(N, H + 4, W + 4)``, ``threshold`` and ``out`` ``(N, H, W)``."""
    count, height, width = out.shape
    for n in range(count):
        for i in range(height):
            for j in range(width):
                c = padded[n, i + 2, j + 2]
                t = threshold[n, i, j]
                top, bottom = padded[n, i, j + 2], padded[n, i + 4, j + 2]
                left, right = padded[n, i + 2, j], padded[n, i + 2, j + 4]
                top_left, bottom_right = padded[n, i, j], padded[n, i + 4, j + 4]
                bottom_left, top_right = padded[n, i + 4, j], padded[n, i, j + 4]
                if not (
                    abs(c - top) > t
                    and abs(c - bottom) > t
                    and abs(c - left) > t
                    and abs(c - right) > t
                    and abs(c - top_left) > t
                    and abs(c - bottom_right) > t
                    and abs(c - bottom_left) > t
                    and abs(c - top_right) > t
                ):
                    out[n, i, j] = c
                    continue
                best = abs(c + c - top - bottom)
                value = (top + bottom) / 2
                gradient = abs(c + c - left - right)
                if gradient < best:
                    best, value = gradient, (left + right) / 2
                gradient = abs(c + c - top_left - bottom_right)
                if gradient < best:
                    best, value = gradient, (top_left + bottom_right) / 2
                gradient = abs(c + c - bottom_left - top_right)
                if gradient < best:
                    value = (bottom_left + top_right) / 2
                out[n, i, j] = value


@cache
def _compiled_loop():  # noqa: ANN202
    import numba

    return numba.njit(cache=True, nogil=True)(_dead_pixel_loop)


def correct_dead_pixels_numpy(x: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """:func:`correct_dead_pixels` for numpy arrays, as one compiled loop."""
    height, width = x.shape[-2:]
    flat = np.ascontiguousarray(x).reshape(-1, height, width)
    padded = np.pad(flat, ((0, 0), (2, 2), (2, 2)), mode="reflect")
    limits = np.ascontiguousarray(np.broadcast_to(threshold, x.shape), dtype=x.dtype)
    out = np.empty_like(flat)
    _compiled_loop()(padded, limits.reshape(flat.shape), out)
    return out.reshape(x.shape)


class DeadPixelCorrection(Stage):
    """Replace sites far from all eight same-colour neighbours by a directional mean,
    ``(..., H, W) -> (..., H, W)``."""

    name = "dead_pixel_correction"
    params = (
        ParamSpec(
            "threshold",
            SCALAR,
            0.0,
            1.0,
            default=DEFAULT_THRESHOLD,
            description="a site is dead when it differs from all 8 same-colour neighbours by "
            "more than this (normalised; fast-openISP's 30 on 10 bits = 30/1023)",
        ),
    )
    options = (PATTERN_OPTION,)
    input_layout = "mosaic"
    output_layout = "mosaic"
    needs_even_size = True

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        if isinstance(x, np.ndarray):
            return correct_dead_pixels_numpy(x, p["threshold"])
        return correct_dead_pixels(x, p["threshold"], xp)


FILTERS = (DeadPixelCorrection,)
