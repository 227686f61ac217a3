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

from ispengine.core.capabilities import spread_parameters
from ispengine.kernels.cuda import runtime
from ispengine.kernels.cuda.store import store_function
from ispengine.kernels.fused import RgbProgram
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


def _bind(kind: str, kernel: Any, width: int, offsets: tuple[int, ...]) -> Any:
    """``step(r, g, b, prm) -> (r, g, b)`` of one stage (as the CPU's ``_bind``)."""
    jit = runtime.device_function
    o0, o1, o2 = offsets
    if kind == "pixel":

        def pixel_step(r, g, b, prm):  # noqa: ANN001, ANN202
            return kernel(r, g, b, prm, o0)

        return jit(pixel_step)
    if kind == "channel":

        def channel_step(r, g, b, prm):  # noqa: ANN001, ANN202
            return kernel(r, prm, o0), kernel(g, prm, o1), kernel(b, prm, o2)

        return jit(channel_step)
    odd = kind == "odd_curve"
    at = jit(spread_parameters(kernel, width))

    def curve(v, prm, o):  # noqa: ANN001, ANN202
        if odd and v < 0.0:  # sign(v)·f(|v|), as the array code computes it
            return -at(-v, prm, o)
        return at(v, prm, o)

    curve_device = jit(curve)

    def curve_step(r, g, b, prm):  # noqa: ANN001, ANN202
        return curve_device(r, prm, o0), curve_device(g, prm, o1), curve_device(b, prm, o2)

    return jit(curve_step)


def _sequence(functions: list[Any]) -> Any:
    """One device function ``(r, g, b, prm) -> (r, g, b)`` calling ``functions`` in
    turn (a flat generated body, as :func:`ispengine.kernels.fused._sequence`)."""
    names = [f"f{index}" for index in range(len(functions))]
    body = "".join(f"    r, g, b = {name}(r, g, b, prm)\n" for name in names)
    namespace: dict[str, Any] = dict(zip(names, functions, strict=True))
    exec(f"def run(r, g, b, prm):\n{body}    return r, g, b\n", namespace)  # noqa: S102
    return runtime.device_function(namespace["run"])


def _identity(r, g, b, prm):  # noqa: ANN001, ANN202
    return r, g, b


def device_chain(programs: list[RgbProgram]) -> tuple[Any, np.ndarray, tuple]:
    """The device function of a chain ``(r, g, b, prm) -> (r, g, b)`` (cached by
    structure), its packed parameters and its key. Raises :class:`NoDeviceForm`."""
    packed, key = [], []
    position = 0
    for step in programs:
        width = step.params.shape[-1]
        if step.kind == "pixel":
            offsets = (position, position, position)
        else:
            offsets = tuple(position + c * width for c in range(3))
        packed.append(np.ravel(step.params).astype(np.float64))
        position += step.params.size
        key.append((step.kind, step.kernel, width, offsets))
    key = tuple(key)
    if ("chain", key) not in _compiled:
        steps = [
            _bind(kind, _device_kernel(step), width, offsets)
            for step, (kind, _, width, offsets) in zip(programs, key, strict=True)
        ]
        _compiled[("chain", key)] = (
            runtime.device_function(_identity) if not steps else _sequence(steps)
        )
    parameters = np.concatenate(packed) if packed else np.zeros(1)
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
