"""LUT backends: the interface, and the array-API reference implementation.

A backend applies the two lookup paths of :mod:`ispengine.lut.table`:

* ``global_lookup(y, nodes, y_lo, y_hi, params, curve)``: ``y`` ``(B, P, C)``,
  one 1-D table per image and channel (``nodes`` ``(B, C, G)``, ranges and
  parameters ``(B, C)`` and ``(B, C, 3)``);
* ``local_lookup(y, params, table, curve)``: ``y`` ``(P, C)``, per-pixel
  parameters ``params`` ``(P, C, 3)``, the 4-D :class:`LutTable`;

each followed by ``curve.newton_steps`` safeguarded Newton steps on the
analytic forward. ``curve`` (:class:`Curve`) carries the stage class, its
domain and whether it is odd. Results have ``y``'s dtype.

:class:`ArrayLutBackend` is written once against the array API and serves
numpy (the reference the other backends are checked against) and CuPy.
"""

from __future__ import annotations

from typing import Any, ClassVar

import array_api_compat
import numpy as np
from attrs import frozen

from ispengine.core.stage import Stage
from ispengine.lut.table import LutTable, lut_domain

LOCAL_CHUNK = 1 << 18


@frozen
class Curve:
    """What a backend needs to know about the curve it inverts."""

    stage: type[Stage]
    newton_steps: int = 0

    @property
    def domain(self) -> tuple[float, float]:
        return lut_domain(self.stage)

    @property
    def odd(self) -> bool:
        return self.stage.odd_symmetric


class LutBackend:
    """Interface of a LUT backend (registered with ``ispengine_register_lut_backends``)."""

    name: ClassVar[str] = ""

    @classmethod
    def available(cls) -> bool:
        """Whether the backend can run here (its library and device are present)."""
        return True

    @classmethod
    def accepts(cls, y: Any) -> bool:
        """Whether the backend works on arrays of ``y``'s kind (numpy arrays, unless a
        backend says otherwise). A backend is only handed arrays it accepts:
        :func:`~ispengine.lut.inverse.select_backend` skips (``auto``) or refuses (named)
        the others."""
        return isinstance(y, np.ndarray)

    def global_lookup(
        self, y: Any, nodes: Any, y_lo: Any, y_hi: Any, params: Any, curve: Curve
    ) -> Any:
        raise NotImplementedError

    def local_lookup(self, y: Any, params: Any, table: LutTable, curve: Curve) -> Any:
        raise NotImplementedError


def _warped_position(a: Any, y_lo: Any, y_hi: Any, points: int, xp: Any) -> tuple[Any, Any]:
    span = y_hi - y_lo
    span = xp.where(span > 0, span, xp.ones_like(span))
    ratio = xp.clip((a - y_lo) / span, 0.0, 1.0)
    position = xp.sqrt(ratio) * (points - 1)
    index = xp.clip(xp.floor(position), 0, points - 2)
    return xp.astype(index, xp.int64), position - index


def _interpolate_cell(left: Any, right: Any, after: Any, index: Any, frac: Any, xp: Any) -> Any:
    """Interpolate ``x`` inside table cell ``index`` at fraction ``frac``.

    Linear, except in the first cell of a curve that starts at ``x = 0``: there
    ``x = x₁·t^q`` with ``q = log₂(x₂/x₁)`` through the first two nodes, because
    curves behave like powers at their foot and a straight line would overshoot
    by orders of magnitude where ``f`` is steep (f_GM with large ``g1``).
    """
    linear = left + frac * (right - left)
    power_law = (index == 0) & (left == 0) & (right > 0) & (after > right)
    safe_right = xp.where(power_law, right, xp.ones_like(right))
    safe_after = xp.where(power_law, after, 2 * xp.ones_like(after))
    exponent = xp.log2(safe_after / safe_right)
    curved = safe_right * xp.where(frac > 0, frac, xp.ones_like(frac)) ** exponent
    return xp.where(power_law, xp.where(frac > 0, curved, xp.zeros_like(frac)), linear)


def _axis_position(values: Any, axis: np.ndarray, xp: Any) -> tuple[Any, Any, int]:
    count = len(axis)
    if count == 1:
        zeros = xp.zeros(values.shape, dtype=xp.int64, device=array_api_compat.device(values))
        return zeros, xp.zeros_like(values), 0
    position = (values - float(axis[0])) / float(axis[-1] - axis[0]) * (count - 1)
    index = xp.clip(xp.floor(position), 0, count - 2)
    return xp.astype(index, xp.int64), xp.clip(position - index, 0.0, 1.0), 1


def newton_refine(x: Any, a: Any, params: Any, curve: Curve, xp: Any) -> Any:
    """``curve.newton_steps`` safeguarded Newton steps towards ``f(x) = a`` (vectorised).

    On domains starting at 0, where ``x``, ``a`` and ``f(x)`` are positive, the
    step is Newton's on ``ln f(e^s) = ln a`` (``s = ln x``), which is exact for
    power laws and so does not overshoot at a steep foot. A step is taken only
    where the derivative is positive, and its result is clipped to the domain.
    """
    stage = curve.stage.__new__(curve.stage)
    derivative = curve.stage.capabilities.derivative
    if derivative is None or curve.newton_steps == 0:
        return x
    low, high = curve.domain
    p = {spec.name: params[..., k] for k, spec in enumerate(curve.stage.params)}
    for _ in range(curve.newton_steps):
        value = stage.apply(x, p, xp)
        slope = derivative(stage, x, p, xp)
        good = slope > 0
        safe_slope = xp.where(good, slope, xp.ones_like(slope))
        moved = x - (value - a) / safe_slope
        if low >= 0:  # log-log Newton where everything is positive: exact for powers
            positive = (x > 0) & (a > 0) & (value > 0)
            one = xp.ones_like(x)
            ratio = xp.log(xp.where(positive, value, one) / xp.where(positive, a, one))
            elasticity = xp.where(positive, x, one) * safe_slope / xp.where(positive, value, one)
            moved = xp.where(positive, x * xp.exp(-ratio / elasticity), moved)
        x = xp.where(good, xp.clip(moved, low, high), x)
    return x


def refine_after(out: Any, y: Any, params: Any, curve: Curve) -> Any:
    """:func:`newton_refine` of a compiled lookup's result ``out`` towards ``y`` (on
    ``|y|`` for odd curves, the sign put back), in float64, returned in ``y``'s dtype:
    the Newton steps of the compiled backends for stages without scalar kernels."""
    import array_api_compat

    xp = array_api_compat.array_namespace(out)
    a = xp.abs(y) if curve.odd else y
    start = xp.abs(out) if curve.odd else out
    refined = newton_refine(
        xp.astype(start, xp.float64), xp.astype(a, xp.float64), params, curve, xp
    )
    return xp.astype(xp.sign(y) * refined if curve.odd else refined, y.dtype)


class ArrayLutBackend(LutBackend):
    """Reference backend in array-API code (numpy here; CuPy through its subclass)."""

    name = "numpy"
    xp: Any = np

    def global_lookup(
        self, y: Any, nodes: Any, y_lo: Any, y_hi: Any, params: Any, curve: Curve
    ) -> Any:
        xp = self.xp
        work = xp.astype(y, xp.float64)
        a = xp.abs(work) if curve.odd else work
        batch, _, channels = work.shape
        points = nodes.shape[-1]
        index, frac = _warped_position(a, y_lo[:, None, :], y_hi[:, None, :], points, xp)
        device = array_api_compat.device(y)
        base = (
            xp.arange(batch, device=device)[:, None, None] * channels
            + xp.arange(channels, device=device)
        ) * points
        flat_index = base + index
        flat = xp.reshape(nodes, (-1,))
        flat_index = xp.reshape(flat_index, (-1,))
        left = xp.take(flat, flat_index)
        right = xp.take(flat, flat_index + 1)
        after = xp.take(
            flat, xp.where(flat_index % points < points - 2, flat_index + 2, flat_index + 1)
        )
        x = _interpolate_cell(
            left, right, after, xp.reshape(index, (-1,)), xp.reshape(frac, (-1,)), xp
        )
        x = xp.reshape(x, work.shape)
        x = newton_refine(x, a, params[:, None, :, :], curve, xp)
        return xp.astype(xp.sign(work) * x if curve.odd else x, y.dtype)

    def local_lookup(self, y: Any, params: Any, table: LutTable, curve: Curve) -> Any:
        xp = self.xp
        out = []
        for start in range(0, y.shape[0], LOCAL_CHUNK):
            rows = slice(start, min(start + LOCAL_CHUNK, y.shape[0]))
            chunk = xp.astype(y[rows, ...], xp.float64)
            out.append(self._local_chunk(chunk, params[rows, ...], table, curve))
        return xp.astype(xp.concat(out, axis=0), y.dtype)

    def _local_chunk(self, y: Any, params: Any, table: LutTable, curve: Curve) -> Any:
        xp = self.xp
        a = xp.abs(y) if curve.odd else y
        positions = [_axis_position(params[..., k], table.axes[k], xp) for k in range(3)]
        device = array_api_compat.device(y)
        nodes = xp.asarray(table.nodes, device=device)
        y_lo, y_hi = xp.asarray(table.y_lo, device=device), xp.asarray(table.y_hi, device=device)
        corner_lo = xp.zeros_like(a)
        corner_hi = xp.zeros_like(a)
        corners = []
        for e1 in range(positions[0][2] + 1):
            for e2 in range(positions[1][2] + 1):
                for e3 in range(positions[2][2] + 1):
                    weight = xp.ones_like(a)
                    idx = []
                    for (index, frac, _), e in zip(positions, (e1, e2, e3), strict=True):
                        weight = weight * (frac if e else 1 - frac)
                        idx.append(index + e)
                    corners.append((weight, idx))
                    corner_lo = corner_lo + weight * y_lo[idx[0], idx[1], idx[2]]
                    corner_hi = corner_hi + weight * y_hi[idx[0], idx[1], idx[2]]
        points = nodes.shape[-1]
        j, frac_j = _warped_position(a, corner_lo, corner_hi, points, xp)
        left = xp.zeros_like(a)
        right = xp.zeros_like(a)
        after = xp.zeros_like(a)
        for weight, idx in corners:
            left = left + weight * nodes[idx[0], idx[1], idx[2], j]
            right = right + weight * nodes[idx[0], idx[1], idx[2], j + 1]
            after = after + weight * nodes[idx[0], idx[1], idx[2], xp.minimum(j + 2, points - 1)]
        x = _interpolate_cell(left, right, after, j, frac_j, xp)
        x = newton_refine(x, a, params, curve, xp)
        return xp.sign(y) * x if curve.odd else x
