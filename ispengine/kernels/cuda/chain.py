"""Fused RGB chains on CUDA: the twin of :mod:`ispengine.kernels.fused`.

A planned chain (:func:`ispengine.kernels.fused.plan`, the same
:class:`~ispengine.kernels.fused.RgbProgram` per stage) becomes one CUDA kernel:
each stage's kernel function is compiled as a device function
(:func:`~ispengine.kernels.cuda.runtime.device_function`; a ``PixelKernel`` factory is
called with the device compiler), bound to its packed-parameter offsets like
:func:`ispengine.kernels.fused._bind`, and the steps are called in turn by one
generated device function ``chain(r, g, b, prm) -> (r, g, b)``. Arithmetic is
float64, as on the CPU: ``x`` is read as float64, every stage computes in float64,
and the result is stored by ``store(v) -> (value, clipped)``
(:mod:`ispengine.kernels.output`: a cast to float32/float64, the bits of float16,
or ``round(clip(v, 0, 1) · (2^b − 1))`` for uint8/uint16, rounded to the working
float type first).

Launch: ``x`` viewed as ``(n, 3)``, one thread per pixel, grid-stride
(:func:`~ispengine.kernels.cuda.runtime.launch`). Each thread sums its clipped values;
a block sums its threads' counts in shared memory (an atomic add per thread that
clipped anything), and one thread per block adds the block's sum to one int64
counter in global memory, which is read back (the pass's only host transfer) only
when an integer output type is requested.
Compiled kernels are cached per chain structure, working float type and store
kind for the process; packed parameters are uploaded once per chain and value
(:func:`~ispengine.kernels.cuda.runtime.upload`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ispengine.kernels.cuda import runtime
from ispengine.kernels.cuda.store import store_function
from ispengine.kernels.fused import RgbProgram, bind_step, flat_sequence, pack_chain
from ispengine.kernels.output import OutputRequest, record, store_dtype

_compiled: dict[tuple[Any, ...], Any] = {}


class NoDeviceForm(Exception):
    """A stage's kernel form has no device version (a factory that takes no ``jit``)."""


def _device_kernel(step: RgbProgram) -> Any:
    """The device function of ``step``'s kernel: a ``PixelKernel`` factory's kernel
    built with the device compiler, else the kernel function compiled as is."""
    form = step.form
    if step.kind == "pixel" and form is not None and form.factory is not None:
        try:
            kernel = form.resolve(runtime.device_jit)
        except TypeError as error:  # a factory that takes no jit: CPU only
            raise NoDeviceForm(f"{form.factory!r} builds no device kernel") from error
        return runtime.device_function(kernel)
    return runtime.device_function(step.kernel)


def _identity(r, g, b, prm):  # noqa: ANN001, ANN202
    return r, g, b


def device_chain(programs: list[RgbProgram]) -> tuple[Any, np.ndarray, tuple]:
    """The device function of a chain ``(r, g, b, prm) -> (r, g, b)`` (cached by
    structure), its packed parameters and its key. Raises :class:`NoDeviceForm`."""
    parameters, key = pack_chain(programs)
    if ("chain", key) not in _compiled:
        steps = [
            bind_step(kind, _device_kernel(step), width, offsets, runtime.device_function)
            for step, (kind, _, width, offsets) in zip(programs, key, strict=True)
        ]
        _compiled[("chain", key)] = (
            runtime.device_function(_identity)
            if not steps
            else flat_sequence(steps, runtime.device_function)
        )
    return _compiled[("chain", key)], parameters, key


RGB_PASS = """\
import math

import numba
import numpy as np
from numba import cuda


def run_all(x, prm, out, counts):
    n = x.shape[0]
    block_count = cuda.shared.array(1, numba.int64)
    if cuda.threadIdx.x == 0:
        block_count[0] = 0
    cuda.syncthreads()
    clipped = 0
    for q in range(cuda.grid(1), n, cuda.gridsize(1)):
        r, g, b = chain(np.float64(x[q, 0]), np.float64(x[q, 1]), np.float64(x[q, 2]), prm)
        v, c0 = store(r)
        out[q, 0] = v
        v, c1 = store(g)
        out[q, 1] = v
        v, c2 = store(b)
        out[q, 2] = v
        clipped += c0 + c1 + c2
    if clipped != 0:
        cuda.atomic.add(block_count, 0, clipped)
    cuda.syncthreads()
    if cuda.threadIdx.x == 0 and block_count[0] != 0:
        cuda.atomic.add(counts, 0, block_count[0])
"""


def rgb_kernel(programs: list[RgbProgram], work: np.dtype, kind: str) -> tuple[Any, np.ndarray]:
    """The compiled CUDA pass of a chain (cached per structure, working float type and
    store kind) and its packed parameters."""
    chain, packed, key = device_chain(programs)
    full_key = ("rgb", key, np.dtype(work).name, kind)
    if full_key not in _compiled:
        namespace: dict[str, Any] = {"chain": chain, "store": store_function(kind, work)}
        exec(compile(RGB_PASS, "<ispengine cuda rgb pass>", "exec"), namespace)  # noqa: S102
        _compiled[full_key] = runtime.kernel(namespace["run_all"])
    return _compiled[full_key], packed


def run_fused_cuda(programs: list[RgbProgram], x: Any, request: OutputRequest | None = None) -> Any:
    """Run a planned chain on a device image ``x`` ``(..., H, W, 3)`` (float32/float64;
    numpy under the simulator), storing its dtype or ``request``'s output type (the
    clipped count set on ``request``); the result stays on the device."""
    source = x
    x = runtime.as_array(x)
    xp = runtime.array_module(x)
    work = np.dtype(x.dtype)
    dtype, kind = store_dtype(request, work)
    compiled, packed = rgb_kernel(programs, work, kind)
    flat = xp.ascontiguousarray(x).reshape(-1, 3)
    out = runtime.empty(flat.shape, dtype, like=x)
    quantised = kind in ("uint8", "uint16")  # else nothing is counted: no fill needed
    counts = (runtime.zeros if quantised else runtime.empty)((1,), np.int64, like=x)
    prm = runtime.upload_for(tuple(step.params for step in programs), packed, like=x)
    runtime.launch("rgb", compiled, flat.shape[0], flat, prm, out, counts)
    if request is not None:
        record(request, runtime.to_host_int(counts) if quantised else 0)
        if kind == "float16":
            out = out.view(np.float16)
    return runtime.like_input(out.reshape(x.shape), source)
