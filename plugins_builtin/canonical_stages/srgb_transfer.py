"""The sRGB transfer functions of IEC 61966-2-1:1999 (OETF and EOTF).

Encoding (linear → sRGB), and its inverse, decoding::

    OETF(x) = 12.92 · x                         x ≤ x_k
            = 1.055 · x^(1/2.4) − 0.055         x > x_k
    EOTF(v) = v / 12.92                         v ≤ v_k
            = ((v + 0.055) / 1.055)^2.4         v > v_k

The standard rounds the knees to x_k = 0.0031308 and v_k = 0.04045; with
those the two branches miss each other by 2.9e-8, so OETF is not monotone and
the pair is not mutually inverse on a sliver around the knee. Here the knee is
where the branches meet, x_k = 0.003130668442500634 (v_k = 12.92 · x_k =
0.04044823627710819), which makes both curves continuous, strictly increasing
and exact inverses of each other; they differ from the rounded-knee formula
by less than 3e-8 (about 1/500 of a 16-bit code value).

Negative inputs are extended oddly, ``f(x) = sign(x) · f(|x|)``, so the round
trips also hold for out-of-gamut values. The powers use
:func:`ispengine.core.arrays.safe_power`, whose torch gradient at 0 is finite.

Stages: ``srgb_oetf`` (exact inverse: the EOTF) and ``srgb_eotf`` (exact
inverse: the OETF). No parameters; input in [0, 1]. In fused Numba chains
(:mod:`ispengine.kernels.fused`) both curves run from tables interpolated in
``sqrt(|v|)`` with the knee as a node (:mod:`ispengine.kernels.curve_table`), within
5e-9 of the formulas.

Source: IEC 61966-2-1:1999, "Multimedia systems and equipment – Colour measurement and
management – Part 2-1: Default RGB colour space – sRGB", section 5 (the transfer
functions; the knee is moved to where the branches meet, see above).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ispengine.core.arrays import safe_power
from ispengine.core.capabilities import Capabilities, PixelKernel
from ispengine.core.stage import InverseStage, Stage
from ispengine.kernels.curve_table import sqrt_space_table, table_pixel_kernel

LINEAR_SLOPE = 12.92
OFFSET = 0.055
EXPONENT = 2.4
# The root of 12.92·x = 1.055·x^(1/2.4) − 0.055 next to the standard's 0.0031308.
LINEAR_KNEE = 0.003130668442500634
ENCODED_KNEE = LINEAR_SLOPE * LINEAR_KNEE


def srgb_encode(x: Any, xp: Any) -> Any:
    """The sRGB OETF (IEC 61966-2-1), linear → encoded, odd-extended to negatives."""
    magnitude = xp.abs(x)
    power = (1 + OFFSET) * safe_power(magnitude, 1 / EXPONENT, xp) - OFFSET
    return xp.where(magnitude <= LINEAR_KNEE, LINEAR_SLOPE * x, xp.where(x < 0, -power, power))


def srgb_decode(v: Any, xp: Any) -> Any:
    """The sRGB EOTF (IEC 61966-2-1), encoded → linear, odd-extended to negatives."""
    magnitude = xp.abs(v)
    power = safe_power((magnitude + OFFSET) / (1 + OFFSET), EXPONENT, xp)
    return xp.where(magnitude <= ENCODED_KNEE, v / LINEAR_SLOPE, xp.where(v < 0, -power, power))


def _encode_scalar(a: float) -> float:
    """The OETF branch above the knee (plain ``math``, for compiled kernels)."""
    return (1 + OFFSET) * a ** (1 / EXPONENT) - OFFSET


def _decode_scalar(a: float) -> float:
    """The EOTF branch above the knee (plain ``math``, for compiled kernels)."""
    return ((a + OFFSET) / (1 + OFFSET)) ** EXPONENT


_tables: dict[str, np.ndarray] = {}


def encode_table() -> np.ndarray:
    """The OETF as a table (:mod:`ispengine.kernels.curve_table`), built once."""
    if "encode" not in _tables:
        _tables["encode"] = sqrt_space_table(
            lambda x: srgb_encode(x, np), LINEAR_KNEE, LINEAR_SLOPE
        )
    return _tables["encode"]


def decode_table() -> np.ndarray:
    """The EOTF as a table, built once."""
    if "decode" not in _tables:
        _tables["decode"] = sqrt_space_table(
            lambda v: srgb_decode(v, np), ENCODED_KNEE, 1 / LINEAR_SLOPE
        )
    return _tables["decode"]


def _encode_pack(stage: Stage) -> np.ndarray:
    """The OETF table, the same for every configured stage."""
    return encode_table()


def _decode_pack(stage: Stage) -> np.ndarray:
    """The EOTF table, the same for every configured stage."""
    return decode_table()


def _encode_kernel():  # noqa: ANN202
    return table_pixel_kernel(_encode_scalar)


def _decode_kernel():  # noqa: ANN202
    return table_pixel_kernel(_decode_scalar)


class SRGBOETF(Stage):
    """Encode linear sRGB with the sRGB OETF, ``(..., H, W, 3) -> (..., H, W, 3)``."""

    name = "srgb_oetf"
    monotone = True
    capabilities = Capabilities(pixel=PixelKernel(_encode_pack, factory=_encode_kernel))

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        return srgb_encode(x, xp)


class SRGBOETFInverse(InverseStage):
    """Decode with the sRGB EOTF (exact)."""

    name = "srgb_oetf_inverse"
    forward = SRGBOETF
    method = "exact"
    capabilities = Capabilities(pixel=PixelKernel(_decode_pack, factory=_decode_kernel))

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        return srgb_decode(x, xp)


class SRGBEOTF(Stage):
    """Decode sRGB to linear with the sRGB EOTF, ``(..., H, W, 3) -> (..., H, W, 3)``."""

    name = "srgb_eotf"
    monotone = True
    capabilities = Capabilities(pixel=PixelKernel(_decode_pack, factory=_decode_kernel))

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        return srgb_decode(x, xp)


class SRGBEOTFInverse(InverseStage):
    """Encode with the sRGB OETF (exact)."""

    name = "srgb_eotf_inverse"
    forward = SRGBEOTF
    method = "exact"
    capabilities = Capabilities(pixel=PixelKernel(_encode_pack, factory=_encode_kernel))

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        return srgb_encode(x, xp)
