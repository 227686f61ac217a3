"""Fused camera front ends: mosaic corrections, demosaicing and an RGB chain in one pass.

A run of stages ``[per-site affine mosaic stages] -> demosaic -> [pixelwise RGB
stages]`` (black level, white balance, Malvar or bilinear demosaic, colour
matrix, sRGB OETF, ...) runs as two compiled Numba passes instead of one
pass per stage:

1. the per-site affine corrections (each stage's ``cfa_affine()``: a scale and
   an offset per CFA channel R, Gr, Gb, B, composed into one) are applied
   while copying the mosaic into a mirror-padded buffer;
2. one parallel pass over 2×2 cells demosaics each pixel and sends it
   straight through the RGB chain (the per-pixel programs of
   :mod:`ispengine.fused`), writing the final image once. The kernel is
   compiled per Bayer pattern, so each of the four sites runs branch-free.

Results equal the stage-by-stage ones to rounding (tested). A stage joins
when it declares ``cfa_affine()`` (returning None unless its parameters are
constants) or ``fused_demosaic`` (``"malvar"`` or ``"bilinear"``), and all
share one ``pattern`` option.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ispengine.stage import Stage

_compiled: dict[tuple[Any, ...], Any] = {}


def mosaic_program(stage: Stage) -> tuple[str, Any, str] | None:
    """``("cfa_affine", (scale, offset), pattern)``, ``("demosaic", method, pattern)`` or None."""
    pattern = stage.settings.get("pattern")
    if pattern is None or stage.input_layout != "mosaic":
        return None
    affine = getattr(stage, "cfa_affine", None)
    if affine is not None and stage.output_layout == "mosaic":
        coefficients = affine()
        return None if coefficients is None else ("cfa_affine", coefficients, pattern)
    method = getattr(stage, "fused_demosaic", None)
    if method is not None and stage.output_layout == "rgb":
        return ("demosaic", method, pattern)
    return None


def _site_tables(
    affines: list[tuple[np.ndarray, np.ndarray]], pattern: str
) -> tuple[np.ndarray, np.ndarray]:
    """The composed scale and offset of every site of the 2×2 cell, each (2, 2)."""
    from ispengine.cfa import cfa_cell

    scale, offset = np.ones(4), np.zeros(4)
    for stage_scale, stage_offset in affines:
        scale, offset = scale * stage_scale, offset * stage_scale + stage_offset
    return cfa_cell(scale, pattern), cfa_cell(offset, pattern)


def _prepass():  # noqa: ANN202
    if "prepass" not in _compiled:
        import numba

        @numba.njit(parallel=True, nogil=True)
        def prepass(x, scale, offset, padded):  # noqa: ANN001, ANN202
            for y in numba.prange(x.shape[0]):
                for j in range(x.shape[1]):
                    a, b = y & 1, j & 1
                    padded[y + 2, j + 2] = x[y, j] * scale[a, b] + offset[a, b]

        _compiled["prepass"] = prepass
    return _compiled["prepass"]


def _mirror_pad_in_place(padded: np.ndarray) -> None:
    """Fill the 2-sample border like ``numpy.pad(mode="reflect")`` (no edge repeat)."""
    padded[:, 0], padded[:, 1] = padded[:, 4], padded[:, 3]
    padded[:, -1], padded[:, -2] = padded[:, -5], padded[:, -4]
    padded[0], padded[1] = padded[4], padded[3]
    padded[-1], padded[-2] = padded[-5], padded[-4]


def _cell_kernel(method: str, pattern: str, chain: Any, key: Any) -> Any:
    """The demosaic + RGB chain pass, compiled once per method, pattern and chain."""
    full_key = ("cell", method, pattern, key)
    if full_key in _compiled:
        return _compiled[full_key]
    import numba

    from plugins_builtin.canonical_stages.demosaic_kernels import _site_table, estimates_function

    sites = _site_table(pattern)
    s00, s01, s10, s11 = (int(v) for v in sites.ravel())
    estimates = estimates_function(method)
    jit = numba.njit(inline="always")

    @jit
    def pixel(m, i, j, site, prm):  # noqa: ANN001, ANN202
        green, row, column, cross = estimates(m, i, j)
        c = m[i, j]
        if site == 0:
            return chain(c, green, cross, prm)
        if site == 1:
            return chain(row, c, column, prm)
        if site == 2:
            return chain(column, c, row, prm)
        return chain(cross, green, c, prm)

    @jit
    def store(out, y, x, rgb):  # noqa: ANN001, ANN202
        out[y, x, 0], out[y, x, 1], out[y, x, 2] = rgb

    @numba.njit(parallel=True, nogil=True)
    def kernel(padded, prm, out):  # noqa: ANN001, ANN202
        height, width = out.shape[0], out.shape[1]
        for cell_row in numba.prange(height // 2):
            y = 2 * cell_row
            for x in range(0, width, 2):
                store(out, y, x, pixel(padded, y + 2, x + 2, s00, prm))
                store(out, y, x + 1, pixel(padded, y + 2, x + 3, s01, prm))
                store(out, y + 1, x, pixel(padded, y + 3, x + 2, s10, prm))
                store(out, y + 1, x + 1, pixel(padded, y + 3, x + 3, s11, prm))

    _compiled[full_key] = kernel
    return kernel


def _identity(r, g, b, prm):  # noqa: ANN001, ANN202
    return r, g, b


def run_mosaic_fused(head: list[tuple[str, Any, str]], rgb_programs: list, x: np.ndarray):
    """Run affine mosaic programs, then (if present) demosaic and the RGB chain.

    ``x`` may be float32/float64, or unsigned integer raw numbers (read directly,
    with a float32 result), which saves converting a RAW mosaic first."""
    from ispengine.fused import chain_kernel

    dtype = np.float32 if x.dtype.kind == "u" else x.dtype
    pattern = head[0][2]
    affines = [p[1] for p in head if p[0] == "cfa_affine"]
    scale, offset = _site_tables(affines, pattern)
    flat = x.reshape((-1,) + x.shape[-2:])
    demosaic = next((p[1] for p in head if p[0] == "demosaic"), None)
    if demosaic is None:  # corrections only: one pass, same layout
        out = np.empty(flat.shape, dtype=dtype)
        for index in range(flat.shape[0]):
            height, width = flat.shape[-2:]
            padded = np.empty((height + 4, width + 4), dtype=dtype)
            _prepass()(flat[index], scale, offset, padded)
            out[index] = padded[2:-2, 2:-2]
        return out.reshape(x.shape)
    if rgb_programs:
        chain, packed, key = chain_kernel(rgb_programs)
    else:
        if "identity" not in _compiled:
            import numba

            _compiled["identity"] = numba.njit(inline="always")(_identity)
        chain, packed, key = _compiled["identity"], np.zeros(1), ()
    kernel = _cell_kernel(demosaic, pattern, chain, key)
    out = np.empty(flat.shape + (3,), dtype=dtype)
    height, width = flat.shape[-2:]
    padded = np.empty((height + 4, width + 4), dtype=dtype)
    for index in range(flat.shape[0]):
        _prepass()(flat[index], scale, offset, padded)
        _mirror_pad_in_place(padded)
        kernel(padded, packed, out[index])
    return out.reshape(x.shape + (3,))
