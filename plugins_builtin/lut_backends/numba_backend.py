"""Numba LUT backend: parallel CPU kernels for the global and local lookups.

One pass over the pixels, threads over pixels (``prange``). When the stage
declares a ``scalar`` capability with its derivative
(:class:`~ispengine.core.capabilities.ScalarCurve`, plain ``math`` code), it is
compiled into the kernel and the Newton steps run inside it;
otherwise the steps run afterwards with the vectorised reference. Kernels are
compiled on first use per stage and cached for the process.
"""

from __future__ import annotations

import importlib.util
import math
from typing import Any

import numpy as np

from ispengine.core.capabilities import pad_parameters
from ispengine.lut.backend import Curve, LutBackend, refine_after
from ispengine.lut.table import MAX_LUT_PARAMS, LutTable
from plugins_builtin.lut_backends import octave_tables

_kernels: dict[tuple[Any, ...], Any] = {}


def _no_curve(x: float, a: float, b: float, c: float) -> float:
    return x


def _build_kernels(forward: Any, derivative: Any, combined: Any, odd: bool) -> tuple[Any, Any]:
    import numba

    jit = numba.njit(cache=False, fastmath=False, nogil=True)
    if combined is not None:
        fdf = jit(combined)
    else:
        f = jit(forward)
        df = jit(derivative)

        @jit
        def fdf(x: float, p0: float, p1: float, p2: float) -> tuple[float, float]:
            return f(x, p0, p1, p2), df(x, p0, p1, p2)

    @jit
    def refine(
        x: float, a: float, p0: float, p1: float, p2: float, steps: int, low: float, high: float
    ) -> float:
        # Same rule as ispengine.lut.backend.newton_refine.
        for _ in range(steps):
            value, slope = fdf(x, p0, p1, p2)
            if slope > 0.0:
                moved = x - (value - a) / slope
                if moved <= 0.5 * x and low >= 0.0 and x > 0.0 and a > 0.0 and value > 0.0:
                    moved = x * math.exp(-math.log(value / a) * value / (x * slope))
                x = min(max(moved, low), high)
        return x

    @jit
    def cell(left: float, right: float, after: float, index: int, frac: float) -> float:
        # Same rule as ispengine.lut.backend._interpolate_cell.
        if index == 0 and left == 0.0 and right > 0.0 and after > right:
            if frac <= 0.0:
                return 0.0
            return right * frac ** math.log2(after / right)
        return left + frac * (right - left)

    def make_global_kernel(dtype: Any) -> Any:
        zero, one = dtype(0.0), dtype(1.0)

        @numba.njit(parallel=True, nogil=True, fastmath=True)
        def global_kernel(y, nodes, y_lo, scale, params, steps, low, high, out):  # noqa: ANN001
            # Arithmetic in y's dtype (float32 images stay in float32 registers). The
            # first cell is linear here: with global_points nodes it spans only
            # y < range / (points - 1)^2, so its error is below that bound.
            batch, pixels, channels = y.shape
            points = nodes.shape[2]
            last = dtype(points - 1)
            for b in range(batch):
                for q in numba.prange(pixels):
                    for c in range(channels):
                        v = y[b, q, c]
                        a = abs(v) if odd else v
                        r = min(max((a - y_lo[b, c]) * scale[b, c], zero), one)
                        t = math.sqrt(r) * last
                        i = min(int(t), points - 2)
                        frac = t - dtype(i)
                        left = nodes[b, c, i]
                        x = left + frac * (nodes[b, c, i + 1] - left)
                        if steps > 0:
                            x = dtype(
                                refine(
                                    x,
                                    a,
                                    params[b, c, 0],
                                    params[b, c, 1],
                                    params[b, c, 2],
                                    steps,
                                    low,
                                    high,
                                )
                            )
                        out[b, q, c] = math.copysign(x, v) if odd else x

        return global_kernel

    global_kernels = {
        np.float32: make_global_kernel(np.float32),
        np.float64: make_global_kernel(np.float64),
    }

    @jit
    def axis(value: float, start: float, scale: float, size: int) -> tuple[int, float, int]:
        if size == 1:
            return 0, 0.0, 0
        u = (value - start) * scale
        i = min(max(int(math.floor(u)), 0), size - 2)
        return i, min(max(u - i, 0.0), 1.0), 1

    @numba.njit(inline="always")
    def trilinear(t, i0, i1, i2, s0, s1, s2, w):  # noqa: ANN001, ANN202
        j0, j1, j2 = i0 + s0, i1 + s1, i2 + s2
        return (
            w[0] * t[i0, i1, i2]
            + w[1] * t[i0, i1, j2]
            + w[2] * t[i0, j1, i2]
            + w[3] * t[i0, j1, j2]
            + w[4] * t[j0, i1, i2]
            + w[5] * t[j0, i1, j2]
            + w[6] * t[j0, j1, i2]
            + w[7] * t[j0, j1, j2]
        )

    @numba.njit(inline="always")
    def trilinear_node(t, i0, i1, i2, s0, s1, s2, w, j):  # noqa: ANN001, ANN202
        j0, j1, j2 = i0 + s0, i1 + s1, i2 + s2
        return (
            w[0] * t[i0, i1, i2, j]
            + w[1] * t[i0, i1, j2, j]
            + w[2] * t[i0, j1, i2, j]
            + w[3] * t[i0, j1, j2, j]
            + w[4] * t[j0, i1, i2, j]
            + w[5] * t[j0, i1, j2, j]
            + w[6] * t[j0, j1, i2, j]
            + w[7] * t[j0, j1, j2, j]
        )

    @numba.njit(parallel=True, nogil=True, fastmath=True)
    def local_kernel(y, params, start, scale, nodes, y_lo, y_hi, steps, low, high, out):  # noqa: ANN001
        pixels, channels = y.shape
        d0, d1, d2, points = nodes.shape
        for q in numba.prange(pixels):
            for c in range(channels):
                v = np.float64(y[q, c])
                a = abs(v) if odd else v
                p0, p1, p2 = params[q, c, 0], params[q, c, 1], params[q, c, 2]
                i0, f0, s0 = axis(p0, start[0], scale[0], d0)
                i1, f1, s1 = axis(p1, start[1], scale[1], d1)
                i2, f2, s2 = axis(p2, start[2], scale[2], d2)
                g0, g1, g2 = 1.0 - f0, 1.0 - f1, 1.0 - f2
                w = (
                    g0 * g1 * g2,
                    g0 * g1 * f2,
                    g0 * f1 * g2,
                    g0 * f1 * f2,
                    f0 * g1 * g2,
                    f0 * g1 * f2,
                    f0 * f1 * g2,
                    f0 * f1 * f2,
                )
                lo = trilinear(y_lo, i0, i1, i2, s0, s1, s2, w)
                span = trilinear(y_hi, i0, i1, i2, s0, s1, s2, w) - lo
                if span <= 0.0:
                    span = 1.0
                r = min(max((a - lo) / span, 0.0), 1.0)
                t = math.sqrt(r) * (points - 1)
                j = min(int(t), points - 2)
                left = trilinear_node(nodes, i0, i1, i2, s0, s1, s2, w, j)
                right = trilinear_node(nodes, i0, i1, i2, s0, s1, s2, w, j + 1)
                if j == 0:
                    after = trilinear_node(nodes, i0, i1, i2, s0, s1, s2, w, min(2, points - 1))
                    x = cell(left, right, after, j, t - j)
                else:
                    x = left + (t - j) * (right - left)
                if steps > 0:
                    x = refine(x, a, p0, p1, p2, steps, low, high)
                out[q, c] = -x if odd and v < 0.0 else x

    return global_kernels, local_kernel


def _three_parameters(function: Any, count: int) -> Any:
    """``function(x, p0, …)`` of ``count`` parameters as ``g(x, p0, p1, p2)`` (tables pad
    the parameter axis to three); the function itself when it takes three."""
    if function is None or count == MAX_LUT_PARAMS:
        return function
    import numba

    return pad_parameters(numba.njit(inline="always")(function), count)


def kernels_for(curve: Curve) -> tuple[Any, Any, bool]:
    """The compiled (global, local) kernels of a curve, and whether Newton runs inside them."""
    scalar = curve.stage.capabilities.scalar
    inside = scalar is not None and scalar.derivative is not None
    if not inside:
        key: tuple[Any, ...] = (None, None, None, curve.odd)
    else:
        key = (scalar.forward, scalar.derivative, scalar.forward_and_derivative, curve.odd)
    if key not in _kernels:
        count = len(curve.stage.params)
        _kernels[key] = _build_kernels(
            _three_parameters(scalar.forward, count) if inside else _no_curve,
            _three_parameters(scalar.derivative, count) if inside else _no_curve,
            _three_parameters(scalar.forward_and_derivative, count) if inside else None,
            curve.odd,
        )
    return (*_kernels[key], inside)


class NumbaLutBackend(LutBackend):
    """Parallel CPU lookups compiled with Numba."""

    name = "numba"

    @classmethod
    def available(cls) -> bool:
        return importlib.util.find_spec("numba") is not None

    def global_lookup(
        self, y: Any, nodes: Any, y_lo: Any, y_hi: Any, params: Any, curve: Curve
    ) -> Any:
        global_kernels, _, inside = kernels_for(curve)
        low, high = curve.domain
        if (
            y.dtype == np.float32
            and not curve.newton_steps
            and octave_tables.applies(curve.stage, np.asarray(y_lo))
        ):
            return self._octave_lookup(y, params, curve)
        dtype = np.float32 if y.dtype == np.float32 else np.float64
        work = np.ascontiguousarray(y, dtype=dtype)
        span = y_hi - y_lo
        scale = np.where(span > 0, 1.0 / np.where(span > 0, span, 1.0), 1.0).astype(dtype)
        out = np.empty_like(work)
        steps = curve.newton_steps if inside else 0
        global_kernels[dtype](
            work,
            nodes.astype(dtype, copy=False),
            y_lo.astype(dtype),
            scale,
            params,
            steps,
            low,
            high,
            out,
        )
        out = out.astype(y.dtype, copy=False)
        if curve.newton_steps and not inside:
            out = refine_after(out, y, params[:, None, :, :], curve)
        return out

    def _octave_lookup(self, y: np.ndarray, params: np.ndarray, curve: Curve) -> np.ndarray:
        """float32 images of curves through 0: bucket index from the float bits."""
        key = ("octave", curve.odd, curve.domain[1])
        if key not in _kernels:
            _kernels[key] = octave_tables.build_kernel(curve.odd, curve.domain[1])
        count = len(curve.stage.params)
        tables = octave_tables.octave_tables(curve.stage, params[..., :count])
        work = np.ascontiguousarray(y)
        out = np.empty_like(work)
        _kernels[key](work, work.view(np.uint32), *tables, out)
        return out

    def local_lookup(self, y: Any, params: Any, table: LutTable, curve: Curve) -> Any:
        _, local_kernel, inside = kernels_for(curve)
        low, high = curve.domain
        start = np.array([float(a[0]) for a in table.axes])
        scale = np.array(
            [(len(a) - 1) / float(a[-1] - a[0]) if len(a) > 1 else 0.0 for a in table.axes]
        )
        out = np.empty_like(y)
        steps = curve.newton_steps if inside else 0
        local_kernel(
            np.ascontiguousarray(y),
            np.ascontiguousarray(params, dtype=np.float64),
            start,
            scale,
            table.nodes,
            table.y_lo,
            table.y_hi,
            steps,
            low,
            high,
            out,
        )
        if curve.newton_steps and not inside:
            out = refine_after(out, y, params, curve)
        return out
