"""Colour-space matrices: camera RGB → linear sRGB, and CIE XYZ → linear sRGB.

* ``camera_to_srgb``: ``y = M · x`` per pixel with the camera's 3×3 matrix to
  linear sRGB (D65). In DNG terms (DNG 1.6, chapter 6) ``M = M_XYZ→sRGB ·
  CameraToXYZ``, where CameraToXYZ is the inverse of the white-balanced
  ``ColorMatrix``; LibRaw exposes the same product as ``rgb_cam``. Exact
  inverse ``M⁻¹ · y``.
* ``xyz_to_linear_srgb``: the fixed D65 matrix of IEC 61966-2-1:1999 as
  tabulated by Lindbloom (http://www.brucelindbloom.com, "RGB/XYZ Matrices"),
  :data:`ispengine.core.colour.XYZ_TO_LINEAR_SRGB`. The inverse is its exact
  numerical inverse (computed in float64), so the round trip is exact to
  rounding.

Parameters:
    matrix (``camera_to_srgb``): 3×3, every entry in [-8, 8] (sensors with
        strongly overlapping sensitivities, such as Foveon's, reach ±6), required; its
        condition number must be at most 20 (as for ``color_correction``) and
        its 2-norm at least 0.1 (it maps the camera's white to about 1; a
        near-zero matrix would underflow in float32). A constant or per-image
        values (one matrix per camera), not per-pixel.
Input: linear values in [0, 1].

Source: Adobe, "Digital Negative (DNG) Specification", version 1.6, chapter 6 (camera →
XYZ); IEC 61966-2-1:1999, "Multimedia systems and equipment – Colour measurement and
management – Part 2-1: Default RGB colour space – sRGB" (XYZ → linear sRGB).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ispengine.core.arrays import as_param
from ispengine.core.colour import LINEAR_SRGB_TO_XYZ, XYZ_TO_LINEAR_SRGB
from ispengine.core.params import MATRIX_3X3, ParamSpec
from ispengine.core.stage import InverseStage, Stage
from plugins_builtin.function_stages.color_correction import (
    ColorCorrection,
    ColorCorrectionInverse,
    apply_matrix,
)


class CameraToSRGB(ColorCorrection):
    """Camera RGB to linear sRGB by a 3×3 matrix, ``(..., H, W, 3) -> (..., H, W, 3)``.

    The math and checks of ``color_correction``; the matrix is required and
    constant or per image.
    """

    name = "camera_to_srgb"
    params = (
        ParamSpec(
            "matrix",
            MATRIX_3X3,
            -8.0,
            8.0,
            local=False,
            description="camera RGB to linear sRGB (D65), condition number <= 20",
        ),
    )
    input_range = (0.0, 1.0)


class CameraToSRGBInverse(ColorCorrectionInverse):
    """Linear sRGB back to camera RGB, ``M⁻¹ · y`` (exact)."""

    name = "camera_to_srgb_inverse"
    forward = CameraToSRGB


class XYZToLinearSRGB(Stage):
    """CIE XYZ (D65) to linear sRGB, IEC 61966-2-1, ``(..., H, W, 3) -> (..., H, W, 3)``."""

    name = "xyz_to_linear_srgb"
    input_range = (0.0, 1.0)

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        return apply_matrix(x, as_param(XYZ_TO_LINEAR_SRGB, x, xp), xp)


class XYZToLinearSRGBInverse(InverseStage):
    """Linear sRGB to CIE XYZ (D65), the exact inverse matrix."""

    name = "xyz_to_linear_srgb_inverse"
    forward = XYZToLinearSRGB
    method = "exact"

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        return apply_matrix(x, as_param(LINEAR_SRGB_TO_XYZ, x, xp), xp)
