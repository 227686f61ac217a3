"""RGB ↔ Y'CbCr colour-space conversion (ITU-R BT.601 / BT.709, full and limited range).

With the luma weights ``Kr``, ``Kb`` of the chosen standard (``Kg = 1 − Kr − Kb``)
and the engine's Y'CbCr convention (8-bit code values divided by 255, neutral
chroma at 0.5)::

    Y  = Kr·R + Kg·G + Kb·B
    Cb = 0.5 + (B − Y) / (2 (1 − Kb))                         (full range)
    Cr = 0.5 + (R − Y) / (2 (1 − Kr))

    Y_lim = (16 + 219·Y) / 255,   C_lim = (128 + 224·(C − 0.5)) / 255   (limited range)

so limited-range black/white are Y = 16/255 and 235/255 and chroma spans
[16/255, 240/255] about 128/255. ``standard = "bt601"``: Kr = 0.299, Kb = 0.114
(ITU-R BT.601-7, §2.5.1); ``"bt709"``: Kr = 0.2126, Kb = 0.0722 (ITU-R BT.709-6,
item 3.2). The limited ("studio", "legal") quantisation is BT.601-7 §2.5.3 /
BT.709-6 item 3.4 for 8 bits, ``D = round(219·E'Y + 16)``,
``D = round(224·E'C + 128)`` with ``E'C = C − 0.5`` in [−0.5, 0.5], here without the
rounding and divided by 255 (at higher bit depths the standards multiply by
2^(n−8); dividing those codes by 2^n − 1 gives values that differ slightly from
these, e.g. 64/1023 vs 16/255). The full range is the JPEG/JFIF convention (ITU-T
T.871, §7), the same equations with 255 instead of 219 and 224.

Both directions are affine maps with an invertible matrix, so each stage is
exact and registers the other direction as its inverse: ``rgb_to_ycbcr``
(inverse ``rgb_to_ycbcr_inverse``) and ``ycbcr_to_rgb`` (inverse
``ycbcr_to_rgb_inverse``). Values are not clipped: RGB outside [0, 1] and
Y'CbCr outside the nominal ranges pass through the affine maps unchanged in
kind.

Options:
    standard: ``bt601`` (default, as fast-openISP's csc) or ``bt709``.
    range: ``full`` (default) or ``limited``.
Shapes: ``(..., H, W, 3) -> (..., H, W, 3)``; Y'CbCr channels in the order Y, Cb, Cr.
Input: R'G'B' (usually gamma-encoded) in [0, 1], or Y'CbCr in the convention above.

In fused per-pixel chains (:mod:`ispengine.kernels.fused`) every stage here is a
per-pixel kernel (:func:`affine_pixel`: the 3×3 matrix and the offsets, packed as 12
numbers), since the stages have no parameters, only options.

fast-openISP's csc (BT.601, limited range, integer coefficients ×256 on 8-bit
data) is ``standard = "bt601"``, ``range = "limited"`` up to its integer rounding.

Sources: ITU-R Recommendation BT.601-7 (2011), "Studio encoding parameters of digital
television for standard 4:3 and wide-screen 16:9 aspect ratios", §2.5; ITU-R
Recommendation BT.709-6 (2015), "Parameter values for the HDTV standards for production
and international programme exchange", part 1 items 3.2–3.4; ITU-T T.871 (2011),
"JPEG File Interchange Format", §7; Q. Qiu, fast-openISP,
github.com/QiuJueqin/fast-openISP, modules/csc.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ispengine.core.arrays import as_param
from ispengine.core.capabilities import Capabilities, PixelKernel
from ispengine.core.params import OptionSpec
from ispengine.core.stage import InverseStage, Stage

#: Luma weights (Kr, Kb) per standard.
LUMA_WEIGHTS = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}

STANDARD_OPTION = OptionSpec(
    "standard",
    tuple(LUMA_WEIGHTS),
    default="bt601",
    description="luma weights Kr, Kb: ITU-R BT.601 or BT.709",
)
RANGE_OPTION = OptionSpec(
    "range",
    ("full", "limited"),
    default="full",
    description="full (JFIF, 0-255) or limited (studio, Y 16-235, C 16-240) code range",
)


def ycbcr_matrix(standard: str, code_range: str) -> tuple[np.ndarray, np.ndarray]:
    """``(M, offset)`` of ``YCbCr = M @ RGB + offset`` (float64) for a standard and range."""
    kr, kb = LUMA_WEIGHTS[standard]
    kg = 1.0 - kr - kb
    luma = np.array([kr, kg, kb])
    matrix = np.stack(
        [
            luma,
            (np.array([0.0, 0.0, 1.0]) - luma) / (2.0 * (1.0 - kb)),
            (np.array([1.0, 0.0, 0.0]) - luma) / (2.0 * (1.0 - kr)),
        ]
    )
    if code_range == "limited":
        matrix = np.diag([219.0, 224.0, 224.0]) / 255.0 @ matrix
        return matrix, np.array([16.0, 128.0, 128.0]) / 255.0
    return matrix, np.array([0.0, 0.5, 0.5])


def _affine(x: Any, matrix: np.ndarray, offset: np.ndarray, xp: Any) -> Any:
    """``y = matrix @ x + offset`` per pixel, in the dtype and on the device of ``x``."""
    return xp.matmul(x, as_param(matrix.T, x, xp)) + as_param(offset, x, xp)


def rgb_to_ycbcr(x: Any, standard: str, code_range: str, xp: Any) -> Any:
    """R'G'B' ``(..., H, W, 3)`` to Y'CbCr (see the module docstring)."""
    matrix, offset = ycbcr_matrix(standard, code_range)
    return _affine(x, matrix, offset, xp)


def ycbcr_to_rgb(x: Any, standard: str, code_range: str, xp: Any) -> Any:
    """Y'CbCr ``(..., H, W, 3)`` to R'G'B', the exact inverse of :func:`rgb_to_ycbcr`."""
    matrix, offset = ycbcr_matrix(standard, code_range)
    inverse = np.linalg.inv(matrix)
    return _affine(x, inverse, -inverse @ offset, xp)


def affine_pixel(r: float, g: float, b: float, prm: Any, o: int) -> tuple:
    """``M · (r, g, b) + t`` with ``M`` row-major at ``prm[o:o + 9]`` and ``t`` at
    ``prm[o + 9:o + 12]`` (plain Python, compiled into fused chains)."""
    return (
        prm[o] * r + prm[o + 1] * g + prm[o + 2] * b + prm[o + 9],
        prm[o + 3] * r + prm[o + 4] * g + prm[o + 5] * b + prm[o + 10],
        prm[o + 6] * r + prm[o + 7] * g + prm[o + 8] * b + prm[o + 11],
    )


def pack_to_ycbcr(stage: Stage) -> np.ndarray:
    """The stage's RGB → Y'CbCr map for :func:`affine_pixel` (always constant)."""
    matrix, offset = ycbcr_matrix(stage.config["standard"], stage.config["range"])
    return np.concatenate([matrix.ravel(), offset])


def pack_to_rgb(stage: Stage) -> np.ndarray:
    """The stage's Y'CbCr → RGB map for :func:`affine_pixel` (always constant)."""
    matrix, offset = ycbcr_matrix(stage.config["standard"], stage.config["range"])
    inverse = np.linalg.inv(matrix)
    return np.concatenate([inverse.ravel(), -inverse @ offset])


TO_YCBCR = Capabilities(pixel=PixelKernel(pack_to_ycbcr, kernel=affine_pixel))
TO_RGB = Capabilities(pixel=PixelKernel(pack_to_rgb, kernel=affine_pixel))


class RgbToYcbcr(Stage):
    """R'G'B' to Y'CbCr (BT.601/BT.709, full/limited), ``(..., H, W, 3) -> (..., H, W, 3)``."""

    name = "rgb_to_ycbcr"
    options = (STANDARD_OPTION, RANGE_OPTION)

    capabilities = TO_YCBCR

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        return rgb_to_ycbcr(x, self.config["standard"], self.config["range"], xp)


class YcbcrToRgb(Stage):
    """Y'CbCr (BT.601/BT.709, full/limited) to R'G'B', ``(..., H, W, 3) -> (..., H, W, 3)``."""

    name = "ycbcr_to_rgb"
    options = (STANDARD_OPTION, RANGE_OPTION)

    capabilities = TO_RGB

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        return ycbcr_to_rgb(x, self.config["standard"], self.config["range"], xp)


class RgbToYcbcrInverse(InverseStage):
    """Y'CbCr back to R'G'B' (exact)."""

    name = "rgb_to_ycbcr_inverse"
    forward = RgbToYcbcr
    method = "exact"

    capabilities = TO_RGB

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        return ycbcr_to_rgb(x, self.config["standard"], self.config["range"], xp)


class YcbcrToRgbInverse(InverseStage):
    """R'G'B' back to Y'CbCr (exact)."""

    name = "ycbcr_to_rgb_inverse"
    forward = YcbcrToRgb
    method = "exact"

    capabilities = TO_YCBCR

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        return rgb_to_ycbcr(x, self.config["standard"], self.config["range"], xp)


STAGES = (RgbToYcbcr, YcbcrToRgb)
INVERSES = (RgbToYcbcrInverse, YcbcrToRgbInverse)
