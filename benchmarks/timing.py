"""Timing helpers shared by the benchmark scripts."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def median_seconds(fn: Callable[[], Any], repeat: int, warmup: int = 3) -> float:
    """Median wall time of ``repeat`` calls of ``fn`` after ``warmup`` calls (compilation,
    memoised tables, thread start-up and first-touch page faults stay out)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
