"""Numba LUT backend: parallel CPU kernels for the global and local lookups.

One pass over the pixels, threads over pixels (``prange``). When the stage
provides ``scalar_forward`` / ``scalar_derivative`` (plain ``math`` code),
they are compiled into the kernel and the Newton steps run inside it;
otherwise the steps run afterwards with the vectorised reference. Kernels are
compiled on first use per stage and cached for the process.
"""

from __future__ import annotations

import importlib.util
import math
from typing import Any

import numpy as np

from ispengine.lut.backend import Curve, LutBackend, newton_refine
from ispengine.lut.table import LutTable

_kernels: dict[tuple[Any, ...], Any] = {}


def _no_curve(x: float, a: float, b: float, c: float) -> float:
    return x


def _build_kernels(forward: Any, derivative: Any, odd: bool) -> tuple[Any, Any]:
    import numba

    jit = numba.njit(cache=False, fastmath=False, nogil=True)
    f = jit(forward)
    df = jit(derivative)

    @jit
    def refine(
        x: float, a: float, p0: float, p1: float, p2: float, steps: int, low: float, high: float
    ) -> float:
        # Same rule as ispengine.lut.backend.newton_refine.
        for _ in range(steps):
            slope = df(x, p0, p1, p2)
            if slope > 0.0:
                value = f(x, p0, p1, p2)
                if low >= 0.0 and x > 0.0 and a > 0.0 and value > 0.0:
                    moved = x * math.exp(-math.log(value / a) * value / (x * slope))
                else:
                    moved = x - (value - a) / slope
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

    @numba.njit(parallel=True, nogil=True)
    def global_kernel(y, nodes, y_lo, y_hi, params, steps, low, high, out):  # noqa: ANN001
        batch, pixels, channels = y.shape
        points = nodes.shape[2]
        for b in range(batch):
            for q in numba.prange(pixels):
                for c in range(channels):
                    v = np.float64(y[b, q, c])
                    sign = 1.0
                    if odd and v < 0.0:
                        sign = -1.0
                        v = -v
                    span = y_hi[b, c] - y_lo[b, c]
                    if span <= 0.0:
                        span = 1.0
                    r = (v - y_lo[b, c]) / span
                    r = min(max(r, 0.0), 1.0)
                    t = math.sqrt(r) * (points - 1)
                    i = min(int(t), points - 2)
                    frac = t - i
                    x = cell(
                        nodes[b, c, i],
                        nodes[b, c, i + 1],
                        nodes[b, c, min(i + 2, points - 1)],
                        i,
                        frac,
                    )
                    if steps > 0:
                        x = refine(
                            x,
                            v,
                            params[b, c, 0],
                            params[b, c, 1],
                            params[b, c, 2],
                            steps,
                            low,
                            high,
                        )
                    out[b, q, c] = sign * x

    @numba.njit(parallel=True, nogil=True)
    def local_kernel(y, params, start, scale, nodes, y_lo, y_hi, steps, low, high, out):  # noqa: ANN001
        pixels, channels = y.shape
        d0, d1, d2, points = nodes.shape
        dims = (d0, d1, d2)
        for q in numba.prange(pixels):
            index = np.empty(3, np.int64)
            frac = np.empty(3, np.float64)
            step = np.empty(3, np.int64)
            for c in range(channels):
                v = np.float64(y[q, c])
                sign = 1.0
                if odd and v < 0.0:
                    sign = -1.0
                    v = -v
                for k in range(3):
                    if dims[k] == 1:
                        index[k] = 0
                        frac[k] = 0.0
                        step[k] = 0
                    else:
                        u = (params[q, c, k] - start[k]) * scale[k]
                        i = min(max(int(math.floor(u)), 0), dims[k] - 2)
                        index[k] = i
                        frac[k] = min(max(u - i, 0.0), 1.0)
                        step[k] = 1
                lo = 0.0
                hi = 0.0
                for e0 in range(2):
                    w0 = frac[0] if e0 else 1.0 - frac[0]
                    i0 = index[0] + e0 * step[0]
                    for e1 in range(2):
                        w1 = w0 * (frac[1] if e1 else 1.0 - frac[1])
                        i1 = index[1] + e1 * step[1]
                        for e2 in range(2):
                            w = w1 * (frac[2] if e2 else 1.0 - frac[2])
                            i2 = index[2] + e2 * step[2]
                            lo += w * y_lo[i0, i1, i2]
                            hi += w * y_hi[i0, i1, i2]
                span = hi - lo
                if span <= 0.0:
                    span = 1.0
                r = min(max((v - lo) / span, 0.0), 1.0)
                t = math.sqrt(r) * (points - 1)
                j = min(int(t), points - 2)
                fj = t - j
                left = 0.0
                right = 0.0
                after = 0.0
                for e0 in range(2):
                    w0 = frac[0] if e0 else 1.0 - frac[0]
                    i0 = index[0] + e0 * step[0]
                    for e1 in range(2):
                        w1 = w0 * (frac[1] if e1 else 1.0 - frac[1])
                        i1 = index[1] + e1 * step[1]
                        for e2 in range(2):
                            w = w1 * (frac[2] if e2 else 1.0 - frac[2])
                            i2 = index[2] + e2 * step[2]
                            left += w * nodes[i0, i1, i2, j]
                            right += w * nodes[i0, i1, i2, j + 1]
                            after += w * nodes[i0, i1, i2, min(j + 2, points - 1)]
                x = cell(left, right, after, j, fj)
                if steps > 0:
                    x = refine(
                        x, v, params[q, c, 0], params[q, c, 1], params[q, c, 2], steps, low, high
                    )
                out[q, c] = sign * x

    return global_kernel, local_kernel


def kernels_for(curve: Curve) -> tuple[Any, Any, bool]:
    """The compiled (global, local) kernels of a curve, and whether Newton runs inside them."""
    forward = getattr(curve.stage, "scalar_forward", None)
    derivative = getattr(curve.stage, "scalar_derivative", None)
    inside = forward is not None and derivative is not None
    key = (forward, derivative, curve.odd) if inside else (None, None, curve.odd)
    if key not in _kernels:
        _kernels[key] = _build_kernels(
            forward if inside else _no_curve, derivative if inside else _no_curve, curve.odd
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
        global_kernel, _, inside = kernels_for(curve)
        low, high = curve.domain
        out = np.empty_like(y)
        steps = curve.newton_steps if inside else 0
        global_kernel(np.ascontiguousarray(y), nodes, y_lo, y_hi, params, steps, low, high, out)
        if curve.newton_steps and not inside:
            a = np.abs(y) if curve.odd else y
            refined = newton_refine(
                np.abs(out).astype(np.float64),
                a.astype(np.float64),
                params[:, None, :, :],
                curve,
                np,
            )
            out = (np.sign(y) * refined if curve.odd else refined).astype(y.dtype)
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
            a = np.abs(y) if curve.odd else y
            refined = newton_refine(
                np.abs(out).astype(np.float64), a.astype(np.float64), params, curve, np
            )
            out = (np.sign(y) * refined if curve.odd else refined).astype(y.dtype)
        return out
