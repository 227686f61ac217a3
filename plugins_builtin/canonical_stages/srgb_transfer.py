"""The sRGB transfer stages of IEC 61966-2-1:1999: the OETF and the EOTF.

The formulas, the knee where the two branches meet, and the odd extension to
negative values are those of :mod:`ispengine.core.colour` (``srgb_encode``,
``srgb_decode``), which this module uses and re-exports.

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

from ispengine.core.capabilities import Capabilities, PixelKernel
from ispengine.core.colour import (
    ENCODED_KNEE,
    EXPONENT,
    LINEAR_KNEE,
    LINEAR_SLOPE,
    OFFSET,
    srgb_decode,
    srgb_encode,
)
from ispengine.core.stage import InverseStage, Stage
from ispengine.kernels.curve_table import sqrt_space_table, table_pixel_kernel


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


def _encode_kernel(jit=None):  # noqa: ANN001, ANN202
    return table_pixel_kernel(_encode_scalar, jit)


def _decode_kernel(jit=None):  # noqa: ANN001, ANN202
    return table_pixel_kernel(_decode_scalar, jit)


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
