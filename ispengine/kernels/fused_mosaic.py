"""Fused camera front ends: mosaic corrections, demosaicing and an RGB chain in one pass.

A run of stages ``[per-site affine mosaic stages] -> demosaic -> [pixelwise RGB
stages]`` (black level, white balance, Malvar or bilinear demosaic, colour
matrix, sRGB OETF, ...) runs as two compiled Numba passes instead of one
pass per stage:

1. the per-site affine corrections (each stage's ``cfa_affine`` capability: a
   scale and an offset per site of the 2×2 cell) and clips (``cfa_clip``: an
   upper bound per site, e.g. the highlight clip after white balance), composed
   into one ``min(max(x · scale + offset, low), high)`` per site, are applied
   while copying the mosaic into a mirror-padded buffer;
2. one parallel pass over 2×2 cells demosaics each pixel and sends it
   straight through the RGB chain (the per-pixel programs of
   :mod:`ispengine.kernels.fused`), writing the final image once. The kernel is
   compiled per Bayer pattern, so each of the four sites runs branch-free.

Results equal the stage-by-stage ones to rounding (tested). A mosaic stage
joins when its :attr:`~ispengine.core.stage.Stage.capabilities` declare
``cfa_affine`` or ``cfa_clip`` (which return None unless the parameters are
constants, or for settings that are not such a map) or ``demosaic``
(:class:`~ispengine.core.capabilities.DemosaicKernel`); the
demosaicer's site table says which colour each site of the cell measures.

The passes are generated source, cached on disk across processes
(:mod:`ispengine.kernels.codegen`); the last pass can write the caller's output
type directly (:mod:`ispengine.kernels.output`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from attrs import frozen

from ispengine.core.capabilities import DemosaicKernel
from ispengine.core.stage import Stage, has_device_values
from ispengine.kernels.fused import RgbProgram, chain_kernel
from ispengine.kernels.output import OutputRequest, record, store_dtype, store_source

_compiled: dict[tuple[Any, ...], Any] = {}


@frozen
class CfaAffineProgram:
    """A per-site affine mosaic correction: ``x · scale + offset``, each ``(2, 2)``."""

    scale: np.ndarray
    offset: np.ndarray


@frozen
class DemosaicProgram:
    """A demosaicer's estimates and the CFA channel at each site of its cell."""

    form: DemosaicKernel
    sites: np.ndarray


@frozen
class CfaClipProgram:
    """A per-site upper bound on mosaic values: ``min(x, high)``, ``high`` ``(2, 2)``
    (``+inf`` where nothing is clipped)."""

    high: np.ndarray


MosaicProgram = CfaAffineProgram | CfaClipProgram | DemosaicProgram


def mosaic_program(stage: Stage) -> MosaicProgram | None:
    """How ``stage`` runs in a fused camera front end, or None (also when a parameter
    value is a device array)."""
    if stage.input_layout != "mosaic" or has_device_values(stage):
        return None
    forms = stage.capabilities
    if forms.cfa_affine is not None and stage.output_layout == "mosaic":
        coefficients = forms.cfa_affine(stage)
        return None if coefficients is None else CfaAffineProgram(*coefficients)
    if forms.cfa_clip is not None and stage.output_layout == "mosaic":
        high = forms.cfa_clip(stage)
        if high is None:
            return None
        return CfaClipProgram(np.broadcast_to(np.asarray(high, np.float64), (2, 2)).copy())
    if forms.demosaic is not None and stage.output_layout == "rgb":
        return DemosaicProgram(forms.demosaic, forms.demosaic.site_table(stage))
    return None


def _site_tables(
    steps: list[CfaAffineProgram | CfaClipProgram],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The composed map ``min(max(x · scale + offset, low), high)`` of every site of the
    2×2 cell: ``(scale, offset, low, high)``, each (2, 2).

    An affine step after a clip moves the bounds with it (``s · min(v, h) + o`` is
    ``min(s·v + o, s·h + o)`` for ``s ≥ 0``; a negative scale swaps the bounds, a zero
    one makes the value the offset)."""
    scale, offset = np.ones((2, 2)), np.zeros((2, 2))
    low, high = np.full((2, 2), -np.inf), np.full((2, 2), np.inf)
    for step in steps:
        if isinstance(step, CfaClipProgram):
            high = np.minimum(high, step.high)
            low = np.minimum(low, high)
            continue
        s, o = step.scale, step.offset
        scale, offset = scale * s, offset * s + o
        with np.errstate(invalid="ignore"):
            moved_low, moved_high = low * s + o, high * s + o
        low = np.where(s > 0, moved_low, np.where(s < 0, moved_high, o))
        high = np.where(s > 0, moved_high, np.where(s < 0, moved_low, o))
    return scale, offset, low, high


PREPASS = """\
import numba


@numba.njit(parallel=True, nogil=True, cache=CACHE)
def prepass(x, scale, offset, low, high, padded):
    for y in numba.prange(x.shape[0]):
        for j in range(x.shape[1]):
            a, b = y & 1, j & 1
            v = x[y, j] * scale[a, b] + offset[a, b]
            padded[y + 2, j + 2] = min(max(v, low[a, b]), high[a, b])
"""


def _prepass():  # noqa: ANN202
    if "prepass" not in _compiled:
        from ispengine.kernels.codegen import CachedKernel, load_module

        _compiled["prepass"] = CachedKernel(load_module("prepass", PREPASS), "prepass")
    return _compiled["prepass"]


def _mirror_pad_in_place(padded: np.ndarray) -> None:
    """Fill the 2-sample border like ``numpy.pad(mode="reflect")`` (no edge repeat)."""
    padded[:, 0], padded[:, 1] = padded[:, 4], padded[:, 3]
    padded[:, -1], padded[:, -2] = padded[:, -5], padded[:, -4]
    padded[0], padded[1] = padded[4], padded[3]
    padded[-1], padded[-2] = padded[-5], padded[-4]


CELL_PASS = """\
import math

import numba
import numpy as np

{store}

@numba.njit(inline="always")
def pixel(m, i, j, site, prm):
    green, row, column, cross = estimates(m, i, j)
    c = m[i, j]
    if site == 0:
        return chain(c, green, cross, prm)
    if site == 1:
        return chain(row, c, column, prm)
    if site == 2:
        return chain(column, c, row, prm)
    return chain(cross, green, c, prm)


@numba.njit(inline="always")
def put(out, y, x, rgb):
    r, g, b = rgb
    out[y, x, 0], c0 = store(r)
    out[y, x, 1], c1 = store(g)
    out[y, x, 2], c2 = store(b)
    return c0 + c1 + c2


@numba.njit(parallel=True, nogil=True, cache=CACHE)
def kernel(padded, prm, out, counts):
    height, width = out.shape[0], out.shape[1]
    for cell_row in numba.prange(height // 2):
        y = 2 * cell_row
        clipped = 0
        for x in range(0, width, 2):
            clipped += put(out, y, x, pixel(padded, y + 2, x + 2, {s00}, prm))
            clipped += put(out, y, x + 1, pixel(padded, y + 2, x + 3, {s01}, prm))
            clipped += put(out, y + 1, x, pixel(padded, y + 3, x + 2, {s10}, prm))
            clipped += put(out, y + 1, x + 1, pixel(padded, y + 3, x + 3, {s11}, prm))
        counts[cell_row] = clipped
"""


def _cell_kernel(demosaic: DemosaicProgram, chain: Any, key: Any, work: Any, kind: str) -> Any:
    """The demosaic + RGB chain pass, compiled once per method, site table, chain,
    working float type and store kind (:func:`~ispengine.kernels.output.store_dtype`)."""
    s00, s01, s10, s11 = (int(v) for v in demosaic.sites.ravel())
    full_key = ("cell", demosaic.form.method, (s00, s01, s10, s11), key, work.name, kind)
    if full_key in _compiled:
        return _compiled[full_key]
    from ispengine.kernels.codegen import CachedKernel, load_module

    source = CELL_PASS.format(store=store_source(kind, work), s00=s00, s01=s01, s10=s10, s11=s11)
    inject = {"estimates": demosaic.form.estimates(), "chain": chain}
    kernel = CachedKernel(load_module(f"cell_{demosaic.form.method}", source, inject), "kernel")
    _compiled[full_key] = kernel
    return kernel


def _identity(r, g, b, prm):  # noqa: ANN001, ANN202
    return r, g, b


def run_mosaic_fused(
    head: list[MosaicProgram],
    rgb_programs: list[RgbProgram],
    x: np.ndarray,
    request: OutputRequest | None = None,
) -> np.ndarray:
    """Run affine and clip mosaic programs, then (if present) demosaic and the RGB chain.

    ``x`` may be float32/float64, or unsigned integer raw numbers (read directly,
    with a float32 result), which saves converting a RAW mosaic first. ``request``:
    the output type, written by the demosaic pass (quantised there, its clipped count
    set on ``request``); a corrections-only front end leaves it to the caller."""
    dtype = np.dtype(np.float32 if x.dtype.kind == "u" else x.dtype)
    tables = _site_tables([p for p in head if not isinstance(p, DemosaicProgram)])
    flat = x.reshape((-1,) + x.shape[-2:])
    demosaic = next((p for p in head if isinstance(p, DemosaicProgram)), None)
    if demosaic is None:  # corrections only: one pass, same layout
        out = np.empty(flat.shape, dtype=dtype)
        for index in range(flat.shape[0]):
            height, width = flat.shape[-2:]
            padded = np.empty((height + 4, width + 4), dtype=dtype)
            _prepass()(flat[index], *tables, padded)
            out[index] = padded[2:-2, 2:-2]
        return out.reshape(x.shape)
    if rgb_programs:
        chain, packed, key = chain_kernel(rgb_programs)
    else:
        if "identity" not in _compiled:
            import numba

            _compiled["identity"] = numba.njit(inline="always")(_identity)
        chain, packed, key = _compiled["identity"], np.zeros(1), ()
    stored, kind = store_dtype(request, dtype)
    kernel = _cell_kernel(demosaic, chain, key, dtype, kind)
    out = np.empty(flat.shape + (3,), dtype=stored)
    height, width = flat.shape[-2:]
    padded = np.empty((height + 4, width + 4), dtype=dtype)
    counts = np.zeros(max(1, height // 2), dtype=np.int64)
    clipped = 0
    for index in range(flat.shape[0]):
        _prepass()(flat[index], *tables, padded)
        _mirror_pad_in_place(padded)
        kernel(padded, packed, out[index], counts)
        clipped += int(counts.sum())
    if request is not None:
        record(request, clipped)
        if kind == "float16":
            out = out.view(np.float16)
    return out.reshape(x.shape + (3,))
