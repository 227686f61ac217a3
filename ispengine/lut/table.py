"""Lookup tables that invert a monotone per-channel curve.

A curve ``y = f(x; a, b, c)`` (one to three scalar parameters per channel,
non-decreasing in ``x`` on its domain) is inverted by tables of ``x`` at
output nodes. Improvements on Algorithm 1 (appendix A.2) of Yoshimura et al.,
"SemiISP/SemiIE: Semi-Supervised Image Signal Processor and Image Enhancement
Leveraging One-to-Many Mapping sRGB-to-RAW", arXiv:2504.02345, 2025 (SemiISP):

* Nodes are solved, not sampled: each stored ``x`` is the float64 solution
  of ``f(x) = y_j`` by the safeguarded Newton reference
  (:func:`ispengine.core.numerical_inverse.invert_monotone`), so the table is
  exact at its nodes and the paper's dense input sampling (``d_i``) has no
  role left.
* Nodes are warped: ``y_j = y_lo + (y_hi − y_lo)·t_j²`` with ``t_j`` evenly
  spaced, which puts more nodes near the curve's foot, where gamma-like
  curves (``x^γ``) are singular. A lookup computes ``t = sqrt((y − y_lo) /
  (y_hi − y_lo))``, then interpolates linearly in ``t``.
* Each node range ``[y_lo, y_hi] = [f(lo), f(hi)]`` is stored per parameter
  point, so curves whose output range depends on the parameters (f_GM's
  ``f(1)``) are covered whole. Targets outside it clip to the domain ends.

Global parameters (one set per image and channel) get a 1-D table solved at
exactly those parameters (:func:`solve_nodes`), which is both faster and more
accurate than interpolating the parameter axes of the 4-D table. Local
(per-pixel) parameters use the 4-D table (:class:`LutTable`, paper grid
60×30×30 parameter points × 512 output nodes by default), interpolated
quadrilinearly per pixel and refined by Newton steps on the analytic forward.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
from attrs import field, frozen

from ispengine.core.numerical_inverse import invert_monotone
from ispengine.core.stage import Stage

MAX_LUT_PARAMS = 3
TABLE_FORMAT = 1


def _as_points(value: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in np.atleast_1d(value))


@frozen
class LutGrid:
    """Table sizes.

    Attributes:
        param_points: points per parameter axis of the 4-D table, in declaration
            order (paper: 60, 30, 30), each in [2, 512].
        output_points: output nodes per parameter point (paper: 512), in [16, 65536].
        global_points: nodes of the 1-D table solved per image and channel for
            global parameters, in [16, 1048576] (8192 keeps max |f(f⁻¹(y)) − y|
            below 1e-6 for f_GM over its whole parameter range without Newton steps).
    """

    param_points: tuple[int, ...] = field(default=(60, 30, 30), converter=_as_points)
    output_points: int = field(default=512, converter=int)
    global_points: int = field(default=8192, converter=int)


def check_lut_invertible(stage: type[Stage]) -> None:
    """Raise ``TypeError`` unless ``stage`` can be LUT-inverted."""
    problems = []
    if not stage.monotone:
        problems.append("it does not declare monotone = True")
    if stage.input_layout != "rgb" or stage.output_layout != "rgb":
        problems.append("it is not an rgb -> rgb per-channel stage")
    if not 1 <= len(stage.params) <= MAX_LUT_PARAMS:
        problems.append(f"it has {len(stage.params)} parameters (1 to {MAX_LUT_PARAMS} allowed)")
    if any(spec.shape not in ((), (3,)) for spec in stage.params):
        problems.append("a parameter is neither scalar nor per channel")
    if problems:
        raise TypeError(f"stage '{stage.name}' is not LUT-invertible: {'; '.join(problems)}")


def lut_domain(stage: type[Stage]) -> tuple[float, float]:
    """The input interval the tables cover: ``[0, hi]`` for odd curves, else the input range."""
    low, high = stage.input_range
    return (0.0 if stage.odd_symmetric else float(low)), float(high)


def _curve_stage(stage: type[Stage]) -> Stage:
    # The math of a stage does not depend on its constants; skip validation of defaults.
    return stage.__new__(stage)


def _samples(low: float, high: float) -> np.ndarray:
    """Sample points of a domain: even spacing plus geometric spacing towards 0."""
    points = [np.linspace(low, high, 257)]
    if high > 0:
        points.append(np.geomspace(1e-80, high, 320))
    if low < 0:
        points.append(-np.geomspace(1e-80, -low, 320))
    merged = np.unique(np.concatenate(points))
    return merged[(merged >= low) & (merged <= high)]


def _bracket(
    curve: Stage, values: dict[str, np.ndarray], targets: np.ndarray, low: float, high: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per target: the sample cell that brackets it, and a linear guess inside it."""
    samples = _samples(low, high)
    rows = targets.reshape(-1, targets.shape[-1])
    params = {
        k: np.broadcast_to(v, targets.shape[:-1] + (1,)).reshape(-1, 1) for k, v in values.items()
    }
    grid = np.broadcast_to(samples, (rows.shape[0], samples.size))
    curves = np.maximum.accumulate(curve.apply(grid, params, np), axis=-1)
    lo, hi, guess = (np.empty_like(rows) for _ in range(3))
    for r in range(rows.shape[0]):
        cell = np.clip(np.searchsorted(curves[r], rows[r], side="right") - 1, 0, samples.size - 2)
        lo[r], hi[r] = samples[cell], samples[cell + 1]
        f_lo, f_hi = curves[r, cell], curves[r, cell + 1]
        span = np.where(f_hi > f_lo, f_hi - f_lo, 1.0)
        guess[r] = lo[r] + np.clip((rows[r] - f_lo) / span, 0, 1) * (hi[r] - lo[r])
    shape = targets.shape
    return lo.reshape(shape), hi.reshape(shape), guess.reshape(shape)


def solve_nodes(
    stage: type[Stage], params: list[np.ndarray], points: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Solve ``points`` warped output nodes for every parameter set.

    Args:
        stage: the forward stage class.
        params: one float64 array per declared parameter, all of one shape ``S``.
        points: nodes per parameter set.

    Returns:
        ``(nodes, y_lo, y_hi)`` of shapes ``S + (points,)``, ``S`` and ``S``.
    """
    t = np.linspace(0.0, 1.0, points)
    nodes, y_lo, y_hi = solve_targets(stage, params, lambda lo, hi: lo + (hi - lo) * t * t)
    low, high = lut_domain(stage)
    nodes[..., 0], nodes[..., -1] = low, high
    return nodes, y_lo, y_hi


def solve_targets(
    stage: type[Stage], params: list[np.ndarray], targets: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Solve ``f(x) = y`` for the targets of every parameter set.

    ``targets(y_lo, y_hi)`` gets the output ranges (shape ``S + (1,)``) and
    returns the targets (shape ``S + (n,)``); targets outside a range come back
    as the domain ends. Returns ``(x, y_lo, y_hi)`` shaped ``S + (n,)``, ``S``, ``S``.
    """
    low, high = lut_domain(stage)
    curve = _curve_stage(stage)
    values = {
        spec.name: np.asarray(v, np.float64)[..., None]
        for spec, v in zip(stage.params, params, strict=True)
    }
    shape = np.broadcast_shapes(*(v.shape for v in values.values()))
    values = {k: np.broadcast_to(v, shape) for k, v in values.items()}
    y_lo = curve.apply(np.full(shape, low), values, np)
    y_hi = curve.apply(np.full(shape, high), values, np)
    wanted = np.asarray(targets(y_lo, y_hi), dtype=np.float64)
    wanted = np.broadcast_to(wanted, np.broadcast_shapes(wanted.shape, shape)).copy()
    full = {k: np.broadcast_to(v, wanted.shape) for k, v in values.items()}
    cell_lo, cell_hi, guess = _bracket(curve, values, wanted, low, high)
    derivative = stage.capabilities.derivative
    nodes = invert_monotone(
        lambda x: curve.apply(x, full, np),
        wanted,
        cell_lo,
        cell_hi,
        dfdx=None if derivative is None else (lambda x: derivative(curve, x, full, np)),
        x0=guess,
    )
    return nodes, y_lo[..., 0], y_hi[..., 0]


@frozen(eq=False)
class LutTable:
    """A 4-D inverse table: parameter axes × warped output nodes.

    ``nodes[i1, i2, i3, j]`` is ``x`` with ``f(x; a_i1, b_i2, c_i3) = y_lo + (y_hi − y_lo)·t_j²``;
    ``y_lo`` and ``y_hi`` have the parameter shape. Stages with fewer than three
    parameters get singleton axes, so every table is 4-D.
    """

    stage: str
    version: str
    grid: LutGrid
    domain: tuple[float, float]
    axes: tuple[np.ndarray, ...]
    nodes: np.ndarray
    y_lo: np.ndarray
    y_hi: np.ndarray


def table_key(stage: type[Stage], grid: LutGrid) -> dict[str, Any]:
    """Everything a cached table depends on, as JSON-able data."""
    return {
        "format": TABLE_FORMAT,
        "stage": stage.name,
        "version": stage.version,
        "params": [[s.name, s.low, s.high] for s in stage.params],
        "domain": list(lut_domain(stage)),
        "param_points": list(grid.param_points),
        "output_points": grid.output_points,
    }


def table_digest(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def parameter_axes(stage: type[Stage], grid: LutGrid) -> tuple[np.ndarray, ...]:
    """Evenly spaced axes over each declared range, padded to three axes."""
    if len(grid.param_points) != len(stage.params):
        raise ValueError(
            f"param_points has {len(grid.param_points)} entries; stage '{stage.name}' has "
            f"{len(stage.params)} parameters"
        )
    axes = [
        np.linspace(s.low, s.high, n) for s, n in zip(stage.params, grid.param_points, strict=True)
    ]
    return tuple(axes + [np.zeros(1)] * (MAX_LUT_PARAMS - len(axes)))


def build_lut_table(stage: type[Stage], grid: LutGrid, progress: Any = None) -> LutTable:
    """Solve the 4-D table of ``stage`` on ``grid`` (one slice of the first axis at a time)."""
    check_lut_invertible(stage)
    axes = parameter_axes(stage, grid)
    count = len(stage.params)
    shape = tuple(len(a) for a in axes)
    nodes = np.empty(shape + (grid.output_points,))
    y_lo = np.empty(shape)
    y_hi = np.empty(shape)
    for i, first in enumerate(axes[0]):
        mesh = np.meshgrid(np.array([first]), axes[1], axes[2], indexing="ij")
        slice_nodes, slice_lo, slice_hi = solve_nodes(
            stage, [m[0] for m in mesh[:count]], grid.output_points
        )
        nodes[i], y_lo[i], y_hi[i] = slice_nodes, slice_lo, slice_hi
        if progress is not None:
            progress(i + 1, len(axes[0]))
    return LutTable(stage.name, stage.version, grid, lut_domain(stage), axes, nodes, y_lo, y_hi)


class TableMemo:
    """A small LRU of read-only tables solved for parameter values.

    Pipelines apply the same constants image after image, so tables solved for
    them are kept, keyed by the stage (and its version), a tag, and the
    parameter values.
    """

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._items: OrderedDict[tuple[Any, ...], tuple[np.ndarray, ...]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(
        self,
        stage: type[Stage],
        tag: Any,
        params: np.ndarray,
        build: Callable[[np.ndarray], tuple[np.ndarray, ...]],
    ) -> tuple[np.ndarray, ...]:
        params = np.ascontiguousarray(params, dtype=np.float64)
        key = (stage, stage.version, tag, params.shape, params.tobytes())
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        tables = build(params)
        for array in tables:
            array.setflags(write=False)
        self._items[key] = tables
        if len(self._items) > self.size:
            self._items.popitem(last=False)
        return tables
