"""Compiled (Numba) CPU kernels for bilinear and Malvar–He–Cutler demosaicing.

The same estimates as the array-API reference in :mod:`.demosaic` (same
kernels, same mirror padding, measured samples kept exactly), computed in one
parallel pass over rows, with no temporaries. Used for numpy inputs when
Numba is installed; checked against the reference in the tests.
"""

from __future__ import annotations

import functools
import importlib.util
from typing import Any

import numpy as np

from ispengine.core.capabilities import DemosaicKernel
from ispengine.core.stage import Stage
from plugins_builtin.canonical_stages.cfa import cfa_cell

_kernels: dict[str, Any] = {}


def available() -> bool:
    return importlib.util.find_spec("numba") is not None


def site_table(pattern: str) -> np.ndarray:
    """``table[i % 2, j % 2]``: 0 R, 1 Gr, 2 Gb, 3 B."""
    return cfa_cell(range(4), pattern, np.int64)


def _stage_sites(stage: Stage) -> np.ndarray:
    """The site table of a configured demosaic stage's ``pattern`` option."""
    return site_table(stage.config["pattern"])


def demosaic_form(method: str) -> DemosaicKernel:
    """The ``demosaic`` capability of ``method`` (``"bilinear"`` or ``"malvar"``)."""
    return DemosaicKernel(method, functools.partial(estimates_function, method), _stage_sites)


def estimates_function(method: str, jit: Any = None) -> Any:
    """The compiled ``estimates(m, i, j) -> (green, row, column, cross)`` of ``method``:
    the missing-colour estimates at site (i, j) of the padded mosaic ``m``; compiled
    by ``jit`` (one function -> its compiled form) when given, e.g. as a CUDA device
    function, else inlined Numba CPU code."""
    key = ("estimates", method, jit)
    if key not in _kernels:
        _kernels[key] = _build_estimates(method, jit)
    return _kernels[key]


def _build_estimates(method: str, jit: Any = None) -> Any:
    if jit is None:
        import numba

        jit = numba.njit(inline="always")
    malvar = method == "malvar"

    @jit
    def estimates(m, i, j):  # noqa: ANN001, ANN202
        c = m[i, j]
        n, s, w, e = m[i - 1, j], m[i + 1, j], m[i, j - 1], m[i, j + 1]
        diagonal = m[i - 1, j - 1] + m[i - 1, j + 1] + m[i + 1, j - 1] + m[i + 1, j + 1]
        if not malvar:
            return (n + s + w + e) * 0.25, (w + e) * 0.5, (n + s) * 0.5, diagonal * 0.25
        n2, s2, w2, e2 = m[i - 2, j], m[i + 2, j], m[i, j - 2], m[i, j + 2]
        green = (4.0 * c + 2.0 * (n + s + w + e) - (n2 + s2 + w2 + e2)) * 0.125
        row = (5.0 * c + 4.0 * (w + e) - (w2 + e2 + diagonal) + 0.5 * (n2 + s2)) * 0.125
        column = (5.0 * c + 4.0 * (n + s) - (n2 + s2 + diagonal) + 0.5 * (w2 + e2)) * 0.125
        cross = (6.0 * c + 2.0 * diagonal - 1.5 * (n2 + s2 + w2 + e2)) * 0.125
        return green, row, column, cross

    return estimates


def _build(method: str) -> Any:
    import numba

    estimates = estimates_function(method)

    @numba.njit(parallel=True, nogil=True)
    def kernel(padded, sites, out):  # noqa: ANN001, ANN202
        height, width = out.shape[0], out.shape[1]
        for y in numba.prange(height):
            for x in range(width):
                i, j = y + 2, x + 2
                site = sites[y % 2, x % 2]
                green, row, column, cross = estimates(padded, i, j)
                c = padded[i, j]
                if site == 0:
                    out[y, x, 0], out[y, x, 1], out[y, x, 2] = c, green, cross
                elif site == 1:
                    out[y, x, 0], out[y, x, 1], out[y, x, 2] = row, c, column
                elif site == 2:
                    out[y, x, 0], out[y, x, 1], out[y, x, 2] = column, c, row
                else:
                    out[y, x, 0], out[y, x, 1], out[y, x, 2] = cross, green, c

    return kernel


def demosaic_numpy(x: np.ndarray, pattern: str, method: str) -> np.ndarray:
    """Demosaic a numpy mosaic ``(..., H, W)`` with the compiled kernel."""
    if method not in _kernels:
        _kernels[method] = _build(method)
    kernel = _kernels[method]
    sites = site_table(pattern)
    flat = x.reshape((-1,) + x.shape[-2:])
    out = np.empty(flat.shape + (3,), dtype=x.dtype)
    for index in range(flat.shape[0]):
        padded = np.pad(flat[index], 2, mode="reflect")
        kernel(padded, sites, out[index])
    return out.reshape(x.shape + (3,))
