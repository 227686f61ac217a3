"""Fused camera front ends on CUDA: the twin of :mod:`ispengine.kernels.fused_mosaic`.

Two launches for a batch of mosaics ``(N, H, W)``:

1. **prepass**, one thread per sample of the mirror-padded buffer ``(N, H + 4, W + 4)``
   (grid-stride): the sample's source ``(y, x)`` is reflected like
   ``numpy.pad(mode="reflect")`` (``y → −y`` above, ``y → 2(H − 1) − y`` below), and
   the composed per-site map ``min(max(x · scale + offset, low), high)`` of the
   affine and clip stages (:func:`ispengine.kernels.fused_mosaic._site_tables`,
   indexed by the source's ``(y mod 2, x mod 2)``) is applied in float64 and stored
   in the working float type (float32 for unsigned raw numbers). Without a
   demosaicer the same kernel writes the corrected mosaic (no padding) and that is
   the result.
2. **cell pass**, one thread per output pixel ``(n, y, x)`` (grid-stride, adjacent
   threads on adjacent pixels of a row): the demosaicer's estimates
   ``(green, row, column, cross)`` at the padded site (its
   :class:`~ispengine.core.capabilities.DemosaicKernel` compiled as a device
   function through ``estimates(jit)``), the site's colour from the Bayer pattern
   (compile-time constants per pattern, as on the CPU), ``R`` sites taking
   ``(c, green, cross)``, ``Gr`` ``(row, c, column)``, ``Gb`` ``(column, c, row)``
   and ``B`` ``(cross, green, c)``; then the RGB chain
   (:func:`ispengine.kernels.cuda.chain.device_chain`) and the store
   (:mod:`ispengine.kernels.cuda.store`), writing ``(N, H, W, 3)`` once; clipped
   counts are summed per block in shared memory and added to one global counter
   per block (as in :mod:`ispengine.kernels.cuda.chain`).

Kernels are compiled per demosaic method, Bayer pattern, chain structure, working
type and store kind, and cached for the process; site tables and chain parameters
are uploaded once per value.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ispengine.kernels.cuda import runtime
from ispengine.kernels.cuda.chain import NoDeviceForm, device_chain
from ispengine.kernels.cuda.store import store_function
from ispengine.kernels.fused import RgbProgram
from ispengine.kernels.fused_mosaic import DemosaicProgram, MosaicProgram, _site_tables
from ispengine.kernels.output import OutputRequest, record, store_dtype

_compiled: dict[tuple[Any, ...], Any] = {}

PREPASS = """\
from numba import cuda


def prepass(x, scale, offset, low, high, padded, pad):
    images, rows, columns = padded.shape[0], padded.shape[1], padded.shape[2]
    height, width = rows - 2 * pad, columns - 2 * pad
    plane = rows * columns
    for q in range(cuda.grid(1), images * plane, cuda.gridsize(1)):
        k = q // plane
        rest = q - k * plane
        i = rest // columns
        j = rest - i * columns
        y = i - pad
        if y < 0:
            y = -y
        elif y >= height:
            y = 2 * (height - 1) - y
        s = j - pad
        if s < 0:
            s = -s
        elif s >= width:
            s = 2 * (width - 1) - s
        a = y & 1
        b = s & 1
        v = x[k, y, s] * scale[a, b] + offset[a, b]
        padded[k, i, j] = min(max(v, low[a, b]), high[a, b])
"""

CELL_PASS = """\
import numba
import numpy as np
from numba import cuda


def cell_pass(padded, prm, out, counts):
    images, height, width = out.shape[0], out.shape[1], out.shape[2]
    plane = height * width
    block_count = cuda.shared.array(1, numba.int64)
    if cuda.threadIdx.x == 0:
        block_count[0] = 0
    cuda.syncthreads()
    clipped = 0
    for q in range(cuda.grid(1), images * plane, cuda.gridsize(1)):
        k = q // plane
        rest = q - k * plane
        y = rest // width
        x = rest - y * width
        m = padded[k]
        i = y + 2
        j = x + 2
        green, row, column, cross = estimates(m, i, j)
        c = np.float64(m[i, j])
        if y & 1 == 0:
            site = {s00} if x & 1 == 0 else {s01}
        else:
            site = {s10} if x & 1 == 0 else {s11}
        if site == 0:
            r, g, b = c, green, cross
        elif site == 1:
            r, g, b = row, c, column
        elif site == 2:
            r, g, b = column, c, row
        else:
            r, g, b = cross, green, c
        r, g, b = chain(np.float64(r), np.float64(g), np.float64(b), prm)
        v, c0 = store(r)
        out[k, y, x, 0] = v
        v, c1 = store(g)
        out[k, y, x, 1] = v
        v, c2 = store(b)
        out[k, y, x, 2] = v
        clipped += c0 + c1 + c2
    if clipped != 0:
        cuda.atomic.add(block_count, 0, clipped)
    cuda.syncthreads()
    if cuda.threadIdx.x == 0 and block_count[0] != 0:
        cuda.atomic.add(counts, 0, block_count[0])
"""


def _prepass() -> Any:
    if "prepass" not in _compiled:
        namespace: dict[str, Any] = {}
        exec(compile(PREPASS, "<ispengine cuda prepass>", "exec"), namespace)  # noqa: S102
        _compiled["prepass"] = runtime.kernel(namespace["prepass"])
    return _compiled["prepass"]


def device_estimates(demosaic: DemosaicProgram) -> Any:
    """The demosaicer's estimates as a device function (raises
    :class:`~ispengine.kernels.cuda.chain.NoDeviceForm` when it offers none)."""
    try:
        return demosaic.form.estimates(runtime.device_jit)
    except TypeError as error:  # estimates that take no jit: CPU only
        raise NoDeviceForm(f"{demosaic.form.method}: no device estimates") from error


def cell_kernel(
    demosaic: DemosaicProgram, rgb_programs: list[RgbProgram], work: np.dtype, kind: str
) -> tuple[Any, np.ndarray]:
    """The compiled demosaic + chain pass (cached, see the module docstring) and the
    chain's packed parameters."""
    chain, packed, key = device_chain(rgb_programs)
    sites = tuple(int(v) for v in demosaic.sites.ravel())
    full_key = ("cell", demosaic.form.method, sites, key, np.dtype(work).name, kind)
    if full_key not in _compiled:
        s00, s01, s10, s11 = sites
        source = CELL_PASS.format(s00=s00, s01=s01, s10=s10, s11=s11)
        namespace: dict[str, Any] = {
            "estimates": device_estimates(demosaic),
            "chain": chain,
            "store": store_function(kind, work),
        }
        exec(compile(source, "<ispengine cuda cell pass>", "exec"), namespace)  # noqa: S102
        _compiled[full_key] = runtime.kernel(namespace["cell_pass"])
    return _compiled[full_key], packed


def run_mosaic_fused_cuda(
    head: list[MosaicProgram],
    rgb_programs: list[RgbProgram],
    x: Any,
    request: OutputRequest | None = None,
) -> Any:
    """Run a camera front end on device mosaics ``x`` ``(..., H, W)`` (float32/float64
    or unsigned raw numbers, read directly with a float32 result; numpy under the
    simulator), as :func:`ispengine.kernels.fused_mosaic.run_mosaic_fused` does; the
    result stays on the device."""
    source = x
    x = runtime.as_array(x)
    xp = runtime.array_module(x)
    dtype = np.dtype(np.float32 if x.dtype.kind == "u" else x.dtype)
    tables = [
        runtime.upload(np.ascontiguousarray(t, dtype=np.float64), like=x)
        for t in _site_tables([p for p in head if not isinstance(p, DemosaicProgram)])
    ]
    height, width = x.shape[-2:]
    flat = xp.ascontiguousarray(x).reshape((-1, height, width))
    images = flat.shape[0]
    demosaic = next((p for p in head if isinstance(p, DemosaicProgram)), None)
    if demosaic is None:  # corrections only: the prepass without padding
        out = runtime.empty(flat.shape, dtype, like=x)
        runtime.launch("prepass", _prepass(), out.size, flat, *tables, out, 0)
        return runtime.like_input(out.reshape(x.shape), source)
    stored, kind = store_dtype(request, dtype)
    compiled, packed = cell_kernel(demosaic, rgb_programs, dtype, kind)
    padded = runtime.empty((images, height + 4, width + 4), dtype, like=x)
    runtime.launch("prepass", _prepass(), padded.size, flat, *tables, padded, 2)
    out = runtime.empty((images, height, width, 3), stored, like=x)
    quantised = kind in ("uint8", "uint16")  # else nothing is counted: no fill needed
    counts = (runtime.zeros if quantised else runtime.empty)((1,), np.int64, like=x)
    prm = runtime.upload_for(tuple(step.params for step in rgb_programs), packed, like=x)
    runtime.launch("cell", compiled, images * height * width, padded, prm, out, counts)
    if request is not None:
        record(request, runtime.to_host_int(counts) if quantised else 0)
        if kind == "float16":
            out = out.view(np.float16)
    return runtime.like_input(out.reshape(x.shape + (3,)), source)
