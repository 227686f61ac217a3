"""Octave tables: global LUT lookups for float32 images indexed by the float's bits.

For a curve with ``f(0) = 0`` on a domain starting at 0 (every odd curve),
a float32 target ``a = |y|`` is located without arithmetic: its bit pattern
shifted right by ``23 − M`` is an index into buckets of ``2^M`` per octave
(relative width ``2^−M``), and its low mantissa bits are the position inside
the bucket, in which ``y`` is linear. Each image and channel gets the exact
solution at every bucket start from :data:`MIN_TARGET` up to its ``f(hi)``.
Below :data:`MIN_TARGET` (2^-48) the inverse is linear from 0 (error below
``MIN_TARGET`` in ``y`` by monotonicity, and below 1e-7 in ``x`` even for a
square-root inverse), at and above ``f(hi)`` it is ``hi``, and the last bucket
interpolates to ``(f(hi), hi)`` exactly.

With ``M = 10`` the linear error inside a bucket is ~1e-7 of ``y`` for the
tone curves; the tables hold 49 octaves × 1024 float32 nodes per channel.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ispengine.core.stage import Stage
from ispengine.lut.table import TableMemo, lut_domain, solve_targets

MANTISSA_BITS = 10
SHIFT = 23 - MANTISSA_BITS
MIN_TARGET = np.float32(2.0**-48)
BASE = int(MIN_TARGET.view(np.uint32)) >> SHIFT
_memo = TableMemo()


def applies(stage: type[Stage], y_lo: np.ndarray) -> bool:
    """Whether the octave path can invert this curve (its range starts at 0 at x = 0)."""
    return lut_domain(stage)[0] == 0.0 and bool(np.all(y_lo == 0.0))


def bucket_starts(count: int) -> np.ndarray:
    """The float32 values at the first ``count`` bucket starts, as float64."""
    bits = (np.arange(count, dtype=np.uint32) + np.uint32(BASE)) << np.uint32(SHIFT)
    return bits.view(np.float32).astype(np.float64)


def octave_tables(stage: type[Stage], params: np.ndarray) -> tuple[np.ndarray, ...]:
    """Tables for parameters ``params`` ``(B, C, k)`` (memoised).

    Returns ``(nodes (B, C, K) float32, y_hi, last, y_last, last_slope, small_slope)``,
    the per-channel arrays shaped ``(B, C)`` (``last`` int64, the others float32).
    """
    return _memo.get(stage, "octave", params, lambda p: _solve(stage, p))


def _solve(stage: type[Stage], params: np.ndarray) -> tuple[np.ndarray, ...]:
    high = lut_domain(stage)[1]
    columns = [params[..., k] for k in range(params.shape[-1])]
    _, _, y_hi = solve_targets(stage, columns, lambda lo, hi: lo)
    top = np.float32(max(float(np.max(y_hi)), float(MIN_TARGET)))
    count = (int(top.view(np.uint32)) >> SHIFT) - BASE + 2
    starts = bucket_starts(count)
    nodes, _, _ = solve_targets(
        stage, columns, lambda lo, hi: np.broadcast_to(starts, lo.shape[:-1] + starts.shape)
    )
    hi32 = y_hi.astype(np.float32)
    last = np.clip((hi32.view(np.uint32).astype(np.int64) >> SHIFT) - BASE, 0, count - 2)
    y_last = starts[last]
    x_last = np.take_along_axis(nodes, last[..., None], axis=-1)[..., 0]
    span = np.maximum(y_hi - y_last, np.finfo(np.float64).tiny)
    return (
        nodes.astype(np.float32),
        hi32,
        last,
        y_last.astype(np.float32),
        ((high - x_last) / span).astype(np.float32),
        (nodes[..., 0] / float(MIN_TARGET)).astype(np.float32),
    )


def build_kernel(odd: bool, high: float) -> Any:
    """The compiled octave lookup for float32 images ``(B, P, C)``."""
    import math

    import numba

    mask = np.uint32((1 << SHIFT) - 1)
    scale = np.float32(1.0 / (1 << SHIFT))
    base = np.uint32(BASE)
    shift = np.uint32(SHIFT)
    sign_off = np.uint32(0x7FFFFFFF)
    top = np.float32(high)
    zero = np.float32(0.0)

    @numba.njit(parallel=True, nogil=True, fastmath=True)
    def kernel(y, bits, nodes, y_hi, last, y_last, last_slope, small_slope, out):  # noqa: ANN001
        batch, pixels, channels = y.shape
        for b in range(batch):
            for q in numba.prange(pixels):
                for c in range(channels):
                    v = y[b, q, c]
                    if not odd and v < zero:
                        out[b, q, c] = zero
                        continue
                    a = abs(v)
                    word = bits[b, q, c] & sign_off
                    bucket = word >> shift
                    if a >= y_hi[b, c]:
                        x = top
                    elif bucket < base:
                        x = a * small_slope[b, c]
                    else:
                        k = bucket - base
                        if k >= last[b, c]:
                            x = nodes[b, c, last[b, c]] + (a - y_last[b, c]) * last_slope[b, c]
                        else:
                            left = nodes[b, c, k]
                            frac = np.float32(word & mask) * scale
                            x = left + frac * (nodes[b, c, k + 1] - left)
                    out[b, q, c] = math.copysign(x, v) if odd else x

    return kernel
