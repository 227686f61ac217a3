"""Fused per-pixel chains: one parallel Numba pass for a run of pixelwise RGB stages.

A stage takes part when it declares, as plain ``math`` code that Numba can
compile (nothing is imported or compiled until a chain first runs):

* ``channel_kernel(v, prm, o) -> v'``: one channel value, its parameters at
  ``prm[o:]``; the stage's ``channel_params()`` returns them as a ``(3, k)``
  array, one row per channel; or
* ``pixel_kernel(r, g, b, prm, o) -> (r, g, b)``: a whole pixel (3×3 matrices),
  with ``pixel_params()`` returning a 1-D array (``pixel_kernel_factory()``
  may build that kernel on first use, when it needs Numba-compiled helpers,
  e.g. :func:`ispengine.kernels.curve_table.table_pixel_kernel`); or
* ``scalar_forward(x, a, b, c)`` of a monotone curve (the LUT declaration),
  used per channel with the stage's three parameters (odd curves on ``|x|``).

``*_params()`` returns ``None`` when a parameter is not a constant (per-image
or per-pixel values), and the chain then runs stage by stage as usual. The
fused result equals the stage-by-stage one to rounding (checked in tests);
arithmetic is float64, stored in the input's dtype.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any

import numpy as np

from ispengine.core.stage import Stage

_compiled: dict[tuple[Any, ...], Any] = {}


def numba_available() -> bool:
    return importlib.util.find_spec("numba") is not None


def program(stage: Stage) -> tuple[str, Any, np.ndarray] | None:
    """How ``stage`` runs per pixel: (kind, kernel function, packed parameters), or None."""
    cls = type(stage)
    if stage.input_layout != "rgb" or stage.output_layout != "rgb":
        return None
    if getattr(cls, "pixel_kernel", None) is not None:
        packed = stage.pixel_params()
        return None if packed is None else ("pixel", cls.pixel_kernel, np.ravel(packed))
    if getattr(cls, "pixel_kernel_factory", None) is not None:
        packed = stage.pixel_params()
        kernel = cls.pixel_kernel_factory() if packed is not None else None
        return None if packed is None else ("pixel", kernel, np.ravel(packed))
    if getattr(cls, "channel_kernel", None) is not None:
        packed = stage.channel_params()
        return None if packed is None else ("channel", cls.channel_kernel, np.asarray(packed))
    scalar = getattr(cls, "scalar_forward", None)
    if scalar is not None and len(cls.params) == 3:
        packed = constant_channel_params(stage)
        odd = "odd_curve" if cls.odd_symmetric else "curve"
        return None if packed is None else (odd, scalar, packed)
    return None


def constant_channel_params(stage: Stage, names: Sequence[str] | None = None) -> np.ndarray | None:
    """The stage's per-channel constants as a ``(3, len(names))`` array, or None if any
    is not a constant."""
    columns = []
    for name in names or [s.name for s in stage.params]:
        value = stage.values[name]
        spec = stage.param_spec(name)
        if value is None or value.shape not in ((), spec.shape):
            return None
        columns.append(np.broadcast_to(value, (3,)))
    return np.stack(columns, axis=-1).astype(np.float64)


def plan(stages: Sequence[Stage]) -> list[tuple[str, Any, np.ndarray]] | None:
    """The per-pixel programs of all ``stages``, or None if any cannot be fused."""
    programs = []
    for stage in stages:
        step = program(stage)
        if step is None:
            return None
        programs.append(step)
    return programs


def segments(stages: Sequence[Stage]) -> list[tuple[int, list | None]]:
    """Execution groups: ``(first stage index, programs)`` for runs of two or more
    fusable stages, ``(index, None)`` for a stage that runs on its own (0-based).

    A run is either pixelwise RGB stages, or a camera front end: per-site mosaic
    corrections, optionally a demosaic and pixelwise RGB stages after it
    (:mod:`ispengine.kernels.fused_mosaic`), all with the same Bayer pattern.
    """
    if not numba_available():
        return [(i, None) for i in range(len(stages))]
    from ispengine.kernels.fused_mosaic import mosaic_program

    rgb = [program(stage) for stage in stages]
    mosaic = [mosaic_program(stage) for stage in stages]
    groups: list[tuple[int, list | None]] = []
    index = 0
    while index < len(stages):
        end = index
        if mosaic[index] is not None:
            pattern = mosaic[index][2]
            while end < len(stages) and mosaic[end] is not None and mosaic[end][2] == pattern:
                end += 1
                if mosaic[end - 1][0] == "demosaic":
                    while end < len(stages) and rgb[end] is not None:
                        end += 1
                    break
            programs = [mosaic[i] or rgb[i] for i in range(index, end)]
        else:
            while end < len(stages) and rgb[end] is not None:
                end += 1
            programs = rgb[index:end]
        if end - index >= 2:
            groups.append((index, programs))
            index = end
        else:
            groups.append((index, None))
            index += 1
    return groups


def run_group(programs: list, x: np.ndarray) -> np.ndarray:
    """Run one fused group from :func:`segments` on a numpy image."""
    if programs[0][0] in ("cfa_affine", "demosaic"):
        from ispengine.kernels.fused_mosaic import run_mosaic_fused

        head = [p for p in programs if p[0] in ("cfa_affine", "demosaic")]
        return run_mosaic_fused(head, programs[len(head) :], x)
    return run_fused(programs, x)


def _bind(kind: str, kernel: Any, offsets: tuple[int, ...]) -> Any:
    import numba

    jit = numba.njit(inline="always")
    compiled = jit(kernel)
    o0, o1, o2 = offsets
    if kind == "pixel":

        @jit
        def step(r, g, b, prm):  # noqa: ANN001, ANN202
            return compiled(r, g, b, prm, o0)

    elif kind == "channel":

        @jit
        def step(r, g, b, prm):  # noqa: ANN001, ANN202
            return compiled(r, prm, o0), compiled(g, prm, o1), compiled(b, prm, o2)

    else:
        odd = kind == "odd_curve"

        @jit
        def curve(v, prm, o):  # noqa: ANN001, ANN202
            if odd and v < 0.0:  # sign(v)·f(|v|), as the array code computes it
                return -compiled(-v, prm[o], prm[o + 1], prm[o + 2])
            return compiled(v, prm[o], prm[o + 1], prm[o + 2])

        @jit
        def step(r, g, b, prm):  # noqa: ANN001, ANN202
            return curve(r, prm, o0), curve(g, prm, o1), curve(b, prm, o2)

    return step


def _chain(steps: list[Any]) -> Any:
    import numba

    jit = numba.njit(inline="always")
    if len(steps) == 1:
        return steps[0]
    first, rest = steps[0], _chain(steps[1:])

    @jit
    def run(r, g, b, prm):  # noqa: ANN001, ANN202
        r, g, b = first(r, g, b, prm)
        return rest(r, g, b, prm)

    return run


def chain_kernel(programs: list[tuple[str, Any, np.ndarray]]) -> tuple[Any, np.ndarray, tuple]:
    """The compiled per-pixel chain ``(r, g, b, prm) -> (r, g, b)`` (cached by
    structure), its packed parameters, and its cache key."""
    packed, offsets, key = [], [], []
    position = 0
    for kind, kernel, params in programs:
        if kind == "pixel":
            channel_offsets = (position, position, position)
        else:
            width = params.shape[-1]
            channel_offsets = tuple(position + c * width for c in range(3))
        packed.append(np.ravel(params))
        position += params.size
        offsets.append(channel_offsets)
        key.append((kind, kernel, channel_offsets))
    key = tuple(key)
    if ("chain", key) not in _compiled:
        steps = [
            _bind(kind, kernel, o) for (kind, kernel, _), o in zip(programs, offsets, strict=True)
        ]
        _compiled[("chain", key)] = _chain(steps)
    return _compiled[("chain", key)], np.concatenate(packed) if packed else np.zeros(1), key


def _kernel(programs: list[tuple[str, Any, np.ndarray]]) -> tuple[Any, np.ndarray]:
    """The compiled pass over pixels (cached by structure) and its packed parameters."""
    import numba

    chain, packed, key = chain_kernel(programs)
    if key not in _compiled:

        @numba.njit(parallel=True, nogil=True, fastmath=True)
        def run_all(x, prm, out):  # noqa: ANN001, ANN202
            for q in numba.prange(x.shape[0]):
                r, g, b = chain(np.float64(x[q, 0]), np.float64(x[q, 1]), np.float64(x[q, 2]), prm)
                out[q, 0] = r
                out[q, 1] = g
                out[q, 2] = b

        _compiled[key] = run_all
    return _compiled[key], packed


def run_fused(programs: list[tuple[str, Any, np.ndarray]], x: np.ndarray) -> np.ndarray:
    """Run a planned chain on ``x`` of shape ``(..., H, W, 3)`` (numpy, float32/float64)."""
    kernel, packed = _kernel(programs)
    flat = np.ascontiguousarray(x).reshape(-1, 3)
    out = np.empty_like(flat)
    kernel(flat, packed, out)
    return out.reshape(x.shape)
