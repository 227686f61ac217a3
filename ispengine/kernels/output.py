"""Output types of a pipeline: float32/float64 as computed, float16, or quantised integers.

An image is quantised to ``b`` bits as :func:`~ispengine.io.image_files.write_image`
does::

    q = round(clip(v, 0, 1) · (2^b − 1))        (round half to even, numpy's round)

computed in the float type the image is stored in (float32 for RAW and float32
inputs), and the values outside [0, 1] are counted as clipped; NaN or Inf values
cannot be quantised (an :class:`InputError`, as ``write_image`` gives). float16 is a
conversion with round-to-nearest-even (numpy's ``astype``) and clips nothing;
float32/float64 are casts.

:func:`quantise` does this with numpy on a finished image. Fused passes do the same
per value inside the pass (:func:`store_source`: helper functions pasted into the
generated kernel source), so that ``pipeline(x, out_dtype=np.uint16)`` equals
``quantise(pipeline(x), np.uint16)`` exactly, with the same clipped count.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from attrs import define

from ispengine.core.errors import InputError

#: What a fused store adds to its block's count for a NaN or Inf value (1 per clip).
NONFINITE = 1 << 32
#: The output types a pipeline can produce directly.
OUTPUT_DTYPES = (np.uint8, np.uint16, np.float16, np.float32, np.float64)


def output_dtype(dtype: Any) -> np.dtype:
    """``dtype`` as a numpy dtype, or an :class:`InputError` naming the supported ones."""
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    if resolved is None or resolved.type not in OUTPUT_DTYPES:
        names = ", ".join(np.dtype(t).name for t in OUTPUT_DTYPES)
        raise InputError(f"out_dtype: unsupported output type {dtype!r} (supported: {names})")
    return resolved


def quantise(image: np.ndarray, dtype: Any) -> tuple[np.ndarray, int]:
    """``(image as dtype, number of values clipped)`` (see the module docstring)."""
    dtype = output_dtype(dtype)
    image = np.asarray(image)
    if dtype.kind == "f":
        return image.astype(dtype, copy=False), 0
    levels = np.iinfo(dtype).max
    clipped = int(np.count_nonzero((image < 0) | (image > 1)))
    return np.round(np.clip(image, 0.0, 1.0) * levels).astype(dtype), clipped


@define
class OutputRequest:
    """A requested output type, and what producing it did.

    Attributes:
        dtype: the output type.
        clipped: values clipped to [0, 1] (integer types).
        done: whether a fused pass has produced it (else :meth:`finish` quantises).
    """

    dtype: np.dtype
    clipped: int = 0
    done: bool = False

    def finish(self, image: Any) -> Any:
        """``image`` in the requested type (quantised with numpy unless already done)."""
        if self.done:
            return image
        if not isinstance(image, np.ndarray):
            raise InputError(
                f"out_dtype={self.dtype.name} needs a numpy result, got {type(image).__name__}"
            )
        if self.dtype.kind in "ui" and not np.all(np.isfinite(image)):
            raise InputError(f"output contains NaN or Inf values; cannot quantise to {self.dtype}")
        image, self.clipped = quantise(image, self.dtype)
        self.done = True
        return image


def store_dtype(request: OutputRequest | None, work: np.dtype) -> tuple[np.dtype, str]:
    """The array type a fused pass writes and the kind of store (:func:`store_source`):
    ``float`` (a cast), ``uint8``/``uint16`` (quantised) or ``float16`` (bits written
    into a uint16 view, as Numba has no CPU float16)."""
    if request is None or request.dtype.kind == "f" and request.dtype != np.float16:
        return (work if request is None else request.dtype), "float"
    if request.dtype == np.float16:
        return np.dtype(np.uint16), "float16"
    return request.dtype, request.dtype.name


def store_source(kind: str, work: np.dtype) -> str:
    """Source of ``store(v) -> (value, clipped)``, an inlined Numba function that turns a
    float64 value into the output (``kind`` from :func:`store_dtype`), rounded to
    ``work`` (float32 or float64) first, as a stored float image would be."""
    cast = "np.float32" if work == np.float32 else "np.float64"
    if kind == "float":
        return f"@numba.njit(inline='always')\ndef store(v):\n    return {cast}(v), 0\n"
    if kind == "float16":
        # float16 bits with round-to-nearest-even: normals from frexp (exact scaling by
        # a power of two, then rint), subnormals in units of 2^-24; 65520 and above
        # round to infinity. A carry out of the mantissa moves into the exponent.
        return (
            "@numba.njit(inline='always')\n"
            "def store(v):\n"
            f"    f = np.float64({cast}(v))\n"
            "    sign = 0x8000 if f < 0.0 or (f == 0.0 and math.copysign(1.0, f) < 0.0) else 0\n"
            "    a = abs(f)\n"
            "    if a != a:\n"
            "        return np.uint16(0x7E00), 0\n"
            "    if a >= 65520.0:\n"
            "        return np.uint16(sign | 0x7C00), 0\n"
            "    if a < 6.103515625e-05:\n"
            "        return np.uint16(sign | int(np.rint(a * 16777216.0))), 0\n"
            "    m, e = math.frexp(a)\n"
            "    t = int(np.rint(math.ldexp(m, 11)))\n"
            "    return np.uint16(sign | (((e + 14) << 10) + t - 1024)), 0\n"
        )
    levels = np.iinfo(np.dtype(kind)).max
    return (
        "@numba.njit(inline='always')\n"
        "def store(v):\n"
        f"    f = {cast}(v)\n"
        "    if not math.isfinite(f):\n"
        f"        return np.{kind}(0), {NONFINITE}\n"
        f"    if f < {cast}(0.0):\n"
        f"        return np.{kind}(0), 1\n"
        f"    if f > {cast}(1.0):\n"
        f"        return np.{kind}({levels}), 1\n"
        f"    return np.{kind}(np.rint(f * {cast}({levels}.0))), 0\n"
    )


def record(request: OutputRequest, total: int) -> None:
    """Set ``request``'s clipped count from a fused pass's summed store codes; raise
    :class:`InputError` for NaN or Inf values quantised to integers."""
    nonfinite, request.clipped = divmod(int(total), NONFINITE)
    request.done = True
    if nonfinite:
        raise InputError(
            f"output contains {nonfinite} NaN or Inf values; cannot quantise to "
            f"{request.dtype.name}"
        )
