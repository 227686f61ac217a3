"""Stores of the CUDA passes: one float64 value to the requested output type.

The device twin of :func:`ispengine.kernels.output.store_source`, with the same
results bit for bit: ``store(v) -> (value, clipped)`` first rounds ``v`` to the
working float type (float32 or float64), then

* ``float``: the value (a cast on assignment);
* ``uint8``/``uint16``: ``0`` and count 1 below 0, ``2^b − 1`` and count 1 above 1,
  ``0`` and count :data:`~ispengine.kernels.output.NONFINITE` for NaN or Inf, else
  ``rint(f · (2^b − 1))`` (the product in the working type, then rounded half to
  even);
* ``float16``: the float16 bits of the value, rounded to nearest even (written into
  a uint16 array viewed as float16 afterwards): the exponent ``E`` with
  ``2^E ≤ |f| < 2^(E+1)`` is found by exact doublings and halvings, and the bits are
  ``sign | (E + 15) << 10 | rint(|f| / 2^E · 1024) − 1024`` (a carry out of the
  mantissa moves into the exponent), ``rint(|f| · 2^24)`` for subnormals, infinity
  from 65520, ``0x7E00`` for NaN.

Rounding half to even is done with ``floor`` (exact for the non-negative values
below 2^52 it sees), which every CUDA toolchain provides.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ispengine.kernels.cuda import runtime
from ispengine.kernels.output import NONFINITE

_stores: dict[tuple[str, str], Any] = {}

RINT = """\
def rint(t):
    r = math.floor(t)
    d = t - r
    if d > 0.5 or (d == 0.5 and r - 2.0 * math.floor(0.5 * r) == 1.0):
        r += 1.0
    return r
"""


def _source(kind: str, work: np.dtype) -> str:
    cast = "np.float32" if np.dtype(work) == np.float32 else "np.float64"
    if kind == "float":
        return f"def store(v):\n    return {cast}(v), 0\n"
    if kind == "float16":
        return (
            "def store(v):\n"
            f"    f = np.float64({cast}(v))\n"
            "    sign = 0x8000 if f < 0.0 or (f == 0.0 and math.copysign(1.0, f) < 0.0) else 0\n"
            "    a = abs(f)\n"
            "    if a != a:\n"
            "        return 0x7E00, 0\n"
            "    if a >= 65520.0:\n"
            "        return sign | 0x7C00, 0\n"
            "    if a < 6.103515625e-05:\n"
            "        return sign | int(rint(a * 16777216.0)), 0\n"
            "    p = 1.0\n"
            "    e = 0\n"
            "    while a >= 2.0 * p:\n"
            "        p *= 2.0\n"
            "        e += 1\n"
            "    while a < p:\n"
            "        p *= 0.5\n"
            "        e -= 1\n"
            "    t = int(rint(a / p * 1024.0))\n"
            "    return sign | (((e + 15) << 10) + t - 1024), 0\n"
        )
    levels = np.iinfo(np.dtype(kind)).max
    return (
        "def store(v):\n"
        f"    f = {cast}(v)\n"
        "    if not math.isfinite(f):\n"
        f"        return 0, {NONFINITE}\n"
        f"    if f < {cast}(0.0):\n"
        "        return 0, 1\n"
        f"    if f > {cast}(1.0):\n"
        f"        return {levels}, 1\n"
        f"    return int(rint(np.float64(f * {cast}({levels}.0)))), 0\n"
    )


def store_function(kind: str, work: Any) -> Any:
    """The device function ``store(v) -> (value, clipped)`` of a store ``kind``
    (:func:`~ispengine.kernels.output.store_dtype`) and working float type."""
    key = (kind, np.dtype(work).name)
    if key not in _stores:
        import math

        namespace: dict[str, Any] = {"np": np, "math": math}
        exec(compile(RINT, "<ispengine cuda rint>", "exec"), namespace)  # noqa: S102
        namespace["rint"] = runtime.device_function(namespace["rint"])
        source = _source(kind, np.dtype(work))
        exec(compile(source, f"<ispengine cuda store {kind}>", "exec"), namespace)  # noqa: S102
        _stores[key] = runtime.device_function(namespace["store"])
    return _stores[key]
