"""The LUT lookups on CUDA: twins of :class:`ispengine.lut.backend.ArrayLutBackend`.

Same rules as the array-API reference (:mod:`ispengine.lut.backend`), per value in
float64, one thread per value (grid-stride over the flat ``y``, so that adjacent
threads read and write adjacent values), one launch per call:

* **global** ``y`` ``(B, P, C)``, one table per image and channel (``nodes``
  ``(B, C, G)``): ``a = |y|`` for odd curves, ``r = clip((a − y_lo) / span, 0, 1)``
  (``span = y_hi − y_lo``, 1 where not positive), position ``t = sqrt(r) · (G − 1)``,
  cell ``i = clip(floor(t), 0, G − 2)``, fraction ``t − i``;
* **local** ``y`` ``(P, C)``, per-pixel parameters ``(P, C, 3)`` and the 4-D table:
  per parameter axis ``u = (p − axis₀) / (axis₋₁ − axis₀) · (n − 1)``, cell
  ``clip(floor(u), 0, n − 2)``, fraction clipped to [0, 1] (an axis of one point
  contributes one corner), trilinear weights ``Π (f or 1 − f)`` over the corners,
  the interpolated range ``(y_lo, y_hi)`` gives the warped position as above and the
  node values ``x_i, x_{i+1}, x_{min(i+2, G−1)}`` are interpolated alike;

then, in both, the cell: linear, except in the first cell of a curve through 0
(``x_i = 0 < x_{i+1} < x_{i+2}``), where ``x = x_{i+1} · frac^q`` with
``q = log2(x_{i+2} / x_{i+1})``; then ``steps`` safeguarded Newton steps on the
stage's :class:`~ispengine.core.capabilities.ScalarCurve` (forward and derivative,
odd-extended for odd curves) compiled into the kernel:
``x ← clip(x − (f(x) − a) / f'(x), low, high)`` where ``f'(x) > 0``, and on domains
starting at 0, where ``x, a, f(x) > 0``, the log-log step
``x ← x · exp(−ln(f(x)/a) / (x f'(x) / f(x)))``; the odd sign is put back last. A
stage without a scalar derivative gets its steps afterwards from the array-API
:func:`~ispengine.lut.backend.newton_refine` on the same arrays.

Kernels are compiled once per curve functions and oddness for the process; tables
are uploaded once (:func:`~ispengine.kernels.cuda.runtime.upload`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ispengine.core.capabilities import pad_parameters
from ispengine.kernels.cuda import runtime
from ispengine.lut.backend import Curve, refine_after
from ispengine.lut.table import LutTable

_compiled: dict[tuple[Any, ...], Any] = {}

HELPERS = """\
def fdf_odd(x, p0, p1, p2):
    if ODD and x < 0.0:
        value, slope = fdf(-x, p0, p1, p2)
        return -value, slope
    return fdf(x, p0, p1, p2)


def refine(x, a, p0, p1, p2, steps, low, high):
    for _ in range(steps):
        value, slope = fdf_odd(x, p0, p1, p2)
        if slope > 0.0:
            moved = x - (value - a) / slope
            if low >= 0.0 and x > 0.0 and a > 0.0 and value > 0.0:
                moved = x * math.exp(-math.log(value / a) / (x * slope / value))
            x = min(max(moved, low), high)
    return x


def cell(left, right, after, index, frac):
    if index == 0 and left == 0.0 and right > 0.0 and after > right:
        if frac > 0.0:
            return right * frac ** math.log2(after / right)
        return 0.0
    return left + frac * (right - left)


def signed(x, v):
    if not ODD:
        return x
    if v > 0.0:
        return x
    if v < 0.0:
        return -x
    return 0.0 * x
"""

GLOBAL = """\
def global_lookup(y, nodes, y_lo, y_hi, params, steps, low, high, out):
    batch, pixels, channels = y.shape[0], y.shape[1], y.shape[2]
    points = nodes.shape[2]
    plane = pixels * channels
    for q in range(cuda.grid(1), batch * plane, cuda.gridsize(1)):
        b = q // plane
        rest = q - b * plane
        p = rest // channels
        c = rest - p * channels
        v = np.float64(y[b, p, c])
        a = abs(v) if ODD else v
        lo = y_lo[b, c]
        span = y_hi[b, c] - lo
        if not span > 0.0:
            span = 1.0
        ratio = min(max((a - lo) / span, 0.0), 1.0)
        position = math.sqrt(ratio) * (points - 1)
        i = min(max(int(math.floor(position)), 0), points - 2)
        frac = position - i
        right = nodes[b, c, i + 1]
        after = nodes[b, c, i + 2] if i < points - 2 else right
        x = cell(nodes[b, c, i], right, after, i, frac)
        if steps > 0:
            x = refine(x, a, params[b, c, 0], params[b, c, 1], params[b, c, 2], steps, low, high)
        out[b, p, c] = signed(x, v)
"""

LOCAL = """\
def axis(value, start, span, size):
    if size == 1:
        return 0, 0.0, 0
    u = (value - start) / span * (size - 1)
    i = min(max(int(math.floor(u)), 0), size - 2)
    return i, min(max(u - i, 0.0), 1.0), 1


def weight_of(e, f):
    return f if e else 1.0 - f


def local_lookup(y, params, start, span, nodes, y_lo, y_hi, steps, low, high, out):
    pixels, channels = y.shape[0], y.shape[1]
    d0, d1, d2, points = nodes.shape[0], nodes.shape[1], nodes.shape[2], nodes.shape[3]
    for q in range(cuda.grid(1), pixels * channels, cuda.gridsize(1)):
        p = q // channels
        c = q - p * channels
        v = np.float64(y[p, c])
        a = abs(v) if ODD else v
        p0 = params[p, c, 0]
        p1 = params[p, c, 1]
        p2 = params[p, c, 2]
        i0, f0, s0 = axis(p0, start[0], span[0], d0)
        i1, f1, s1 = axis(p1, start[1], span[1], d1)
        i2, f2, s2 = axis(p2, start[2], span[2], d2)
        lo = 0.0
        hi = 0.0
        for e0 in range(s0 + 1):
            for e1 in range(s1 + 1):
                for e2 in range(s2 + 1):
                    w = weight_of(e0, f0) * weight_of(e1, f1) * weight_of(e2, f2)
                    lo = lo + w * y_lo[i0 + e0, i1 + e1, i2 + e2]
                    hi = hi + w * y_hi[i0 + e0, i1 + e1, i2 + e2]
        span_y = hi - lo
        if not span_y > 0.0:
            span_y = 1.0
        ratio = min(max((a - lo) / span_y, 0.0), 1.0)
        position = math.sqrt(ratio) * (points - 1)
        j = min(max(int(math.floor(position)), 0), points - 2)
        frac = position - j
        k = min(j + 2, points - 1)
        left = 0.0
        right = 0.0
        after = 0.0
        for e0 in range(s0 + 1):
            for e1 in range(s1 + 1):
                for e2 in range(s2 + 1):
                    w = weight_of(e0, f0) * weight_of(e1, f1) * weight_of(e2, f2)
                    left = left + w * nodes[i0 + e0, i1 + e1, i2 + e2, j]
                    right = right + w * nodes[i0 + e0, i1 + e1, i2 + e2, j + 1]
                    after = after + w * nodes[i0 + e0, i1 + e1, i2 + e2, k]
        x = cell(left, right, after, j, frac)
        if steps > 0:
            x = refine(x, a, p0, p1, p2, steps, low, high)
        out[p, c] = signed(x, v)
"""


def _no_curve(x, p0, p1, p2):  # noqa: ANN001, ANN202
    return x, 0.0


def _three_parameters(function: Any, count: int, name: str) -> Any:
    """The device ``name(x, p0, p1, p2)`` of a curve of ``count`` parameters."""
    padded = pad_parameters(runtime.device_function(function), count, name)
    return runtime.device_function(padded)


def _curve_functions(curve: Curve) -> tuple[Any, bool]:
    """The device ``fdf(x, p0, p1, p2) -> (f, f')`` of the curve and whether Newton
    steps run inside the kernel."""
    scalar = curve.stage.capabilities.scalar
    if scalar is None or scalar.derivative is None:
        return runtime.device_function(_no_curve), False
    count = len(curve.stage.params)
    if scalar.forward_and_derivative is not None:
        return _three_parameters(scalar.forward_and_derivative, count, "fdf"), True
    f = _three_parameters(scalar.forward, count, "f")
    df = _three_parameters(scalar.derivative, count, "df")
    namespace: dict[str, Any] = {"f": f, "df": df}
    exec("def fdf(x, p0, p1, p2):\n    return f(x, p0, p1, p2), df(x, p0, p1, p2)\n", namespace)  # noqa: S102
    return runtime.device_function(namespace["fdf"]), True


def lut_kernels(curve: Curve) -> tuple[Any, Any, bool]:
    """The compiled (global, local) kernels of a curve (cached per its scalar
    functions and oddness) and whether Newton steps run inside them."""
    scalar = curve.stage.capabilities.scalar
    key = (
        None if scalar is None else (scalar.forward, scalar.derivative),
        None if scalar is None else scalar.forward_and_derivative,
        len(curve.stage.params),
        curve.odd,
    )
    if key not in _compiled:
        fdf, inside = _curve_functions(curve)
        namespace: dict[str, Any] = {"ODD": curve.odd, "fdf": fdf, "math": math, "np": np}
        exec(compile("from numba import cuda\n", "<cuda>", "exec"), namespace)  # noqa: S102
        exec(compile(HELPERS, "<ispengine cuda lut helpers>", "exec"), namespace)  # noqa: S102
        for name in ("fdf_odd", "refine", "cell", "signed"):
            namespace[name] = runtime.device_function(namespace[name])
        exec(compile(LOCAL, "<ispengine cuda local lut>", "exec"), namespace)  # noqa: S102
        for name in ("axis", "weight_of"):
            namespace[name] = runtime.device_function(namespace[name])
        exec(compile(GLOBAL, "<ispengine cuda global lut>", "exec"), namespace)  # noqa: S102
        _compiled[key] = (
            runtime.kernel(namespace["global_lookup"]),
            runtime.kernel(namespace["local_lookup"]),
            inside,
        )
    return _compiled[key]


def _floats(values: Any, like: Any) -> Any:
    """``values`` as float64 on ``like``'s device (uploaded once when numpy)."""
    if isinstance(values, np.ndarray) or not runtime.is_cuda_array(values):
        return runtime.upload(np.ascontiguousarray(values, dtype=np.float64), like=like)
    xp = runtime.array_module(values)
    return xp.ascontiguousarray(values, dtype=xp.float64)


def global_lookup_cuda(y: Any, nodes: Any, y_lo: Any, y_hi: Any, params: Any, curve: Curve) -> Any:
    """The global lookup of :class:`~ispengine.lut.backend.ArrayLutBackend` on CUDA:
    ``y`` ``(B, P, C)`` (CuPy; numpy under the simulator), result of ``y``'s dtype."""
    source = y
    y = runtime.as_array(y)
    xp = runtime.array_module(y)
    global_kernel, _, inside = lut_kernels(curve)
    low, high = curve.domain
    work = xp.ascontiguousarray(y)
    out = runtime.empty(work.shape, work.dtype, like=work)
    params = _floats(params, like=work)
    steps = curve.newton_steps if inside else 0
    runtime.launch(
        "global_lut",
        global_kernel,
        work.size,
        work,
        _floats(nodes, like=work),
        _floats(y_lo, like=work),
        _floats(y_hi, like=work),
        params,
        steps,
        float(low),
        float(high),
        out,
    )
    if curve.newton_steps and not inside:
        out = refine_after(out, work, params[:, None, :, :], curve)
    return runtime.like_input(out, source)


def local_lookup_cuda(y: Any, params: Any, table: LutTable, curve: Curve) -> Any:
    """The local lookup of :class:`~ispengine.lut.backend.ArrayLutBackend` on CUDA:
    ``y`` ``(P, C)``, ``params`` ``(P, C, 3)``, result of ``y``'s dtype."""
    source = y
    y = runtime.as_array(y)
    xp = runtime.array_module(y)
    _, local_kernel, inside = lut_kernels(curve)
    low, high = curve.domain
    work = xp.ascontiguousarray(y)
    out = runtime.empty(work.shape, work.dtype, like=work)
    # float32 maps are read as they are (the kernel widens each value): a float64 copy
    # of (P, C, 3) maps would be 864 MB for 12 MP.
    params = (
        xp.ascontiguousarray(params)
        if runtime.is_cuda_array(params) and params.dtype in (xp.float32, xp.float64)
        else _floats(params, like=work)
    )
    start = np.array([float(a[0]) for a in table.axes])
    span = np.array([float(a[-1] - a[0]) if len(a) > 1 else 1.0 for a in table.axes])
    steps = curve.newton_steps if inside else 0
    runtime.launch(
        "local_lut",
        local_kernel,
        work.size,
        work,
        params,
        runtime.upload(start, like=work),
        runtime.upload(span, like=work),
        _floats(table.nodes, like=work),
        _floats(table.y_lo, like=work),
        _floats(table.y_hi, like=work),
        steps,
        float(low),
        float(high),
        out,
    )
    if curve.newton_steps and not inside:
        out = refine_after(out, work, params, curve)
    return runtime.like_input(out, source)
