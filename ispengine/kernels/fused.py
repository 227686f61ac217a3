"""Fused per-pixel chains: one parallel Numba pass for a run of pixelwise RGB stages.

A stage takes part when its :attr:`~ispengine.core.stage.Stage.capabilities`
declare a per-pixel kernel, a per-channel kernel or a scalar curve
(:mod:`ispengine.core.capabilities`; the first of these it offers is used), and
the form's packing returns its parameters as constants. Otherwise (per-image
or per-pixel values) the chain runs stage by stage as usual. Nothing is
imported or compiled until a chain first runs. The fused result equals the
stage-by-stage one to rounding (checked in tests); arithmetic is float64,
stored in the input's dtype.

A chain of up to :data:`CHUNK_STAGES` stages is one function with every stage
inlined; a longer one is compiled as chunks of that many stages, called in turn,
so compile time grows linearly with the chain (a chain nested one call per stage,
as before, grew faster than the square of its length: 20 gain stages took 76-90 s
to compile, 40 chunked ones take about 10 s).

Camera front ends (mosaic corrections and demosaicing before such a chain)
are in :mod:`ispengine.kernels.fused_mosaic`; :mod:`ispengine.kernels.fused_groups` splits a
pipeline into fused groups.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any

import numpy as np
from attrs import frozen

from ispengine.core.arrays import is_device_array
from ispengine.core.capabilities import spread_parameters
from ispengine.core.stage import Stage, has_device_values
from ispengine.kernels.output import OutputRequest, record, store_dtype, store_source

_compiled: dict[tuple[Any, ...], Any] = {}

# Stages per compiled chunk of a fused chain. Within a chunk every stage is inlined
# into one function (fastest code); Numba's inlining copies IR, so a chunk's compile
# time grows faster than its length, and a longer chain is compiled as chunks of this
# many stages. Measured on 40 gain stages (2 shared CPU cores): chunks of 2, 4, 8, 16
# compiled in 11.1, 10.7, 10.1, 11.8 s and ran a 1-megapixel image in 366, 285, 207,
# 225 ms; 8 is the fastest of both.
CHUNK_STAGES = 8


def numba_available() -> bool:
    return importlib.util.find_spec("numba") is not None


@frozen
class RgbProgram:
    """How one stage runs inside a fused chain.

    Attributes:
        kind: ``pixel`` (``kernel(r, g, b, prm, o)``), ``channel`` (``kernel(v, prm, o)``
            per channel), ``curve`` or ``odd_curve`` (a :class:`ScalarCurve`'s
            ``forward(x, *params)`` per channel, odd curves on ``|x|``).
        kernel: the kernel function.
        params: packed parameters: 1-D for ``pixel``, ``(3, k)`` otherwise.
        form: the ``PixelKernel`` a ``pixel`` step came from (its factory builds the
            CUDA twin's kernel: :mod:`ispengine.kernels.cuda.chain`), else None.
    """

    kind: str
    kernel: Any
    params: np.ndarray
    form: Any = None


def program(stage: Stage) -> RgbProgram | None:
    """How ``stage`` runs per pixel in a fused chain, or None (also when a parameter
    value is a device array: such a stage runs on its own)."""
    if stage.input_layout != "rgb" or stage.output_layout != "rgb" or has_device_values(stage):
        return None
    forms = stage.capabilities
    if forms.pixel is not None:
        packed = forms.pixel.pack(stage)
        if packed is None:
            return None
        return RgbProgram("pixel", forms.pixel.resolve(), np.ravel(packed), forms.pixel)
    if forms.channel is not None:
        packed = forms.channel.pack(stage)
        if packed is None:
            return None
        return RgbProgram("channel", forms.channel.kernel, np.asarray(packed))
    if forms.scalar is not None:
        packed = constant_channel_params(stage)
        if packed is None:
            return None
        kind = "odd_curve" if stage.odd_symmetric else "curve"
        return RgbProgram(kind, forms.scalar.forward, packed)
    return None


def constant_channel_params(stage: Stage, names: Sequence[str] | None = None) -> np.ndarray | None:
    """The stage's per-channel constants as a ``(3, len(names))`` array, or None if any
    is not a numpy constant (a per-image or per-pixel value, or a device array)."""
    columns = []
    for name in names or [s.name for s in stage.params]:
        value = stage.values[name]
        spec = stage.param_spec(name)
        if value is None or is_device_array(value) or value.shape not in ((), spec.shape):
            return None
        columns.append(np.broadcast_to(value, (3,)))
    return np.stack(columns, axis=-1).astype(np.float64)


def plan(stages: Sequence[Stage]) -> list[RgbProgram] | None:
    """The per-pixel programs of all ``stages``, or None if any cannot be fused."""
    programs = []
    for stage in stages:
        step = program(stage)
        if step is None:
            return None
        programs.append(step)
    return programs


def bind_step(kind: str, kernel: Any, width: int, offsets: tuple[int, ...], jit: Any) -> Any:
    """``step(r, g, b, prm) -> (r, g, b)`` of one stage of a chain, compiled with ``jit``
    from ``kernel`` (already compiled with it): a pixel kernel reads its parameters at
    the first offset, a channel kernel or curve at one offset per channel, an odd curve
    applies ``sign(v)·f(|v|)``. ``jit`` is Numba's CPU ``njit`` here and the CUDA device
    compiler for the GPU twin (:mod:`ispengine.kernels.cuda.chain`)."""
    o0, o1, o2 = offsets
    if kind == "pixel":

        def step(r, g, b, prm):  # noqa: ANN001, ANN202
            return kernel(r, g, b, prm, o0)

    elif kind == "channel":

        def step(r, g, b, prm):  # noqa: ANN001, ANN202
            return kernel(r, prm, o0), kernel(g, prm, o1), kernel(b, prm, o2)

    else:
        odd = kind == "odd_curve"
        at = jit(spread_parameters(kernel, width))

        @jit
        def curve(v, prm, o):  # noqa: ANN001, ANN202
            if odd and v < 0.0:  # sign(v)·f(|v|), as the array code computes it
                return -at(-v, prm, o)
            return at(v, prm, o)

        def step(r, g, b, prm):  # noqa: ANN001, ANN202
            return curve(r, prm, o0), curve(g, prm, o1), curve(b, prm, o2)

    return jit(step)


def _bind(kind: str, kernel: Any, width: int, offsets: tuple[int, ...]) -> Any:
    import numba

    jit = numba.njit(inline="always")
    return bind_step(kind, jit(kernel), width, offsets, jit)


def flat_sequence(functions: Sequence[Any], jit: Any) -> Any:
    """``run(r, g, b, prm) -> (r, g, b)`` calling ``functions`` in turn, compiled with
    ``jit``: a flat generated body (``r, g, b = f0(r, g, b, prm)``, then ``f1``, ...)."""
    names = [f"f{index}" for index in range(len(functions))]
    body = "".join(f"    r, g, b = {name}(r, g, b, prm)\n" for name in names)
    namespace: dict[str, Any] = dict(zip(names, functions, strict=True))
    exec(f"def run(r, g, b, prm):\n{body}    return r, g, b\n", namespace)  # noqa: S102
    return jit(namespace["run"])


def _sequence(functions: Sequence[Any], *, inline: bool) -> Any:
    """One compiled ``(r, g, b, prm) -> (r, g, b)`` that calls ``functions`` in turn.

    The body is flat (``r, g, b = f0(r, g, b, prm)``, then ``f1``, ...), generated from
    fixed text and the functions' positions only. A flat body keeps Numba's inlining
    linear in the number of calls; a chain nested one call deep per stage made every
    level copy the whole IR below it again (compile time grew faster than the square of
    the chain's length)."""
    import numba

    return flat_sequence(functions, numba.njit(inline="always" if inline else "never"))


def _chain(steps: list[Any]) -> Any:
    """The steps as one per-pixel function: all inlined when there are at most
    :data:`CHUNK_STAGES`; otherwise chunks of that many, each compiled once as its own
    function, called in turn (so compile time grows linearly with the chain)."""
    if len(steps) == 1:
        return steps[0]
    if len(steps) <= CHUNK_STAGES:
        return _sequence(steps, inline=True)
    chunks = [
        _sequence(steps[start : start + CHUNK_STAGES], inline=False)
        for start in range(0, len(steps), CHUNK_STAGES)
    ]
    return _sequence(chunks, inline=True)


def pack_chain(programs: list[RgbProgram]) -> tuple[np.ndarray, tuple]:
    """A chain's packed float64 parameters (every stage's, in order) and its structure
    key: ``(kind, kernel, width, channel offsets)`` per stage, where a pixel kernel reads
    its parameters from one offset and a channel kernel or curve from one per channel.
    Shared by the CPU chain and its CUDA twin (:mod:`ispengine.kernels.cuda.chain`)."""
    packed, key = [], []
    position = 0
    for step in programs:
        width = step.params.shape[-1]
        if step.kind == "pixel":
            channel_offsets = (position, position, position)
        else:
            channel_offsets = tuple(position + c * width for c in range(3))
        packed.append(np.ravel(step.params).astype(np.float64))
        position += step.params.size
        key.append((step.kind, step.kernel, width, channel_offsets))
    return (np.concatenate(packed) if packed else np.zeros(1)), tuple(key)


def chain_kernel(programs: list[RgbProgram]) -> tuple[Any, np.ndarray, tuple]:
    """The compiled per-pixel chain ``(r, g, b, prm) -> (r, g, b)`` (cached by
    structure), its packed parameters, and its cache key."""
    packed, key = pack_chain(programs)
    if ("chain", key) not in _compiled:
        _compiled[("chain", key)] = _chain([_bind(*entry) for entry in key])
    return _compiled[("chain", key)], packed, key


# Pixels per block of the parallel RGB pass (each block counts its clipped values).
BLOCK_PIXELS = 4096

RGB_PASS = """\
import math

import numba
import numpy as np

{store}

# Fast math without "nnan"/"ninf", so that the store sees NaN and Inf values.
@numba.njit(
    parallel=True,
    nogil=True,
    fastmath={{"nsz", "arcp", "contract", "afn", "reassoc"}},
    cache=CACHE,
)
def run_all(x, prm, out, counts):
    n = x.shape[0]
    for block in numba.prange(counts.shape[0]):
        clipped = 0
        for q in range(block * {block}, min(n, (block + 1) * {block})):
            r, g, b = chain(np.float64(x[q, 0]), np.float64(x[q, 1]), np.float64(x[q, 2]), prm)
            out[q, 0], c0 = store(r)
            out[q, 1], c1 = store(g)
            out[q, 2], c2 = store(b)
            clipped += c0 + c1 + c2
        counts[block] = clipped
"""


def _kernel(programs: list[RgbProgram], work: np.dtype, kind: str) -> tuple[Any, np.ndarray]:
    """The compiled pass over pixels (cached by structure, working float type and store
    kind, in memory and on disk: :mod:`ispengine.kernels.codegen`) and its packed
    parameters."""
    from ispengine.kernels.codegen import CachedKernel, load_module

    chain, packed, key = chain_kernel(programs)
    full_key = ("rgb", key, work.name, kind)
    if full_key not in _compiled:
        source = RGB_PASS.format(store=store_source(kind, work), block=BLOCK_PIXELS)
        module = load_module("rgb", source, {"chain": chain})
        _compiled[full_key] = CachedKernel(module, "run_all")
    return _compiled[full_key], packed


def run_fused(
    programs: list[RgbProgram], x: np.ndarray, request: OutputRequest | None = None
) -> np.ndarray:
    """Run a planned chain on ``x`` of shape ``(..., H, W, 3)`` (numpy, float32/float64),
    storing the input's dtype, or ``request``'s output type (quantised in the pass, the
    clipped count set on ``request``: :mod:`ispengine.kernels.output`)."""
    work = np.dtype(x.dtype)
    dtype, kind = store_dtype(request, work)
    kernel, packed = _kernel(programs, work, kind)
    flat = np.ascontiguousarray(x).reshape(-1, 3)
    out = np.empty(flat.shape, dtype=dtype)
    counts = np.zeros(max(1, -(-flat.shape[0] // BLOCK_PIXELS)), dtype=np.int64)
    kernel(flat, packed, out, counts)
    if request is not None:
        record(request, counts.sum())
        if kind == "float16":
            out = out.view(np.float16)
    return out.reshape(x.shape)
