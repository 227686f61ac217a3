"""Tables of smooth per-channel curves, for fused Numba kernels.

A curve that is linear below a knee and smooth above it (the sRGB OETF and
EOTF) is evaluated per value as

    f(v) = slope · v                                  |v| ≤ knee
         = linear interpolation in u = sqrt(|v|)      knee < |v| < 1, n intervals
         = the exact formula                          |v| ≥ 1
    f(−v) = −f(v)

Interpolating in ``sqrt(|v|)`` flattens the steep foot of power curves (the
OETF's ``x^(1/2.4)`` becomes ``u^(5/6)``), and the knee is the first node, so
the kink is never interpolated across. With n = 16384 the error is below
2e-9 for the OETF and 5e-9 for the EOTF (measured in the tests), far below a
16-bit code value (1.5e-5), at the cost of one ``sqrt`` and one table lookup
instead of a ``pow`` per value.

Packed layout (float64): ``[n, knee, 1/h, slope, sqrt(knee), f(u0²), f(u1²), ...]``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np

INTERVALS = 16384
HEADER = 5


def sqrt_space_table(
    curve: Callable[[np.ndarray], np.ndarray], knee: float, slope: float, intervals: int = INTERVALS
) -> np.ndarray:
    """The packed table of ``curve`` on ``[knee, 1]`` (see the module docstring)."""
    start = math.sqrt(knee)
    nodes = np.linspace(start, 1.0, intervals + 1)
    header = np.array([intervals, knee, intervals / (1.0 - start), slope, start])
    return np.concatenate([header, curve(nodes * nodes)])


@functools.cache
def table_pixel_kernel(exact: Callable[[float], float], jit: Callable | None = None) -> Callable:
    """A fused ``pixel_kernel`` applying a packed table to r, g and b (built once per
    ``exact``, the plain-``math`` formula used for ``|v| ≥ 1``, and ``jit``). Imports
    Numba.

    The per-value function is compiled as a call rather than inlined: it keeps
    compile times of camera chains to seconds for a few per cent of speed. ``jit``
    (one function -> its compiled form) compiles the helpers for another target
    instead (the CUDA twins pass a device-function compiler,
    :func:`ispengine.kernels.cuda.runtime.device_jit`)."""
    if jit is None:
        import numba

        exact_compiled = numba.njit(inline="always")(exact)
        helper = numba.njit(inline="never")
    else:
        exact_compiled, helper = jit(exact), jit

    @helper
    def value(v, prm, o):  # noqa: ANN001, ANN202
        a = abs(v)
        if a <= prm[o + 1]:
            return prm[o + 3] * v
        if a >= 1.0:
            y = exact_compiled(a)
        else:
            t = (math.sqrt(a) - prm[o + 4]) * prm[o + 2]
            k = min(int(t), int(prm[o]) - 1)
            at = o + HEADER + k
            y = prm[at] + (t - k) * (prm[at + 1] - prm[at])
        return -y if v < 0.0 else y

    def kernel(r, g, b, prm, o):  # noqa: ANN001, ANN202
        return value(r, prm, o), value(g, prm, o), value(b, prm, o)

    return kernel
