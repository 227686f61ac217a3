"""f_CC colour correction of the SemiISP / PQDynamicISP function ISP.

``f_CC(I) = M · I`` per pixel, ``M`` a 3×3 matrix; exact inverse ``M⁻¹ · I``.

Parameters:
    matrix: 3×3, every entry in [-4, 4], default identity. The matrix must be
        well conditioned: condition number (2-norm) at most 20, which bounds the
        round-trip error at float32 precision to about 1e-6, and 2-norm at least 0.1.

Source: M. Yoshimura, J. Otsuka, R. Berdan, T. Ohashi, "SemiISP/SemiIE: Semi-Supervised
Image Signal Processor and Image Enhancement Leveraging One-to-Many Mapping
sRGB-to-RAW", arXiv:2504.02345, 2025 (SemiISP), §3.1 Eqs. 4 and 7,
appendix A.1 Eqs. 16–17.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ispengine.core.capabilities import Capabilities, PixelKernel
from ispengine.core.errors import ParamError
from ispengine.core.params import MATRIX_3X3, ParamSpec
from ispengine.core.stage import InverseStage, Stage

MAX_CONDITION_NUMBER = 20.0
MIN_MATRIX_NORM = 0.1


def apply_matrix(x: Any, matrix: Any, xp: Any) -> Any:
    """``matrix · x`` per pixel for ``x`` of shape ``(..., 3)``.

    ``matrix`` is ``(3, 3)`` or broadcasts as ``(..., 3, 3)`` against the pixels.
    """
    if matrix.ndim == 2:
        return xp.matmul(x, xp.matrix_transpose(matrix))
    return xp.matmul(x[..., None, :], xp.matrix_transpose(matrix))[..., 0, :]


def check_matrix_condition(name: str, matrix: np.ndarray) -> None:
    """Raise :class:`ParamError` unless every 3×3 matrix in ``matrix`` is well conditioned.

    Well conditioned: condition number (2-norm) at most :data:`MAX_CONDITION_NUMBER`
    and 2-norm at least :data:`MIN_MATRIX_NORM` (a near-zero matrix underflows in
    float32 and has no usable inverse).
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    worst = float(np.max(np.linalg.cond(matrix)))
    if not worst <= MAX_CONDITION_NUMBER:
        raise ParamError(
            key=name,
            message=f"matrix condition number {worst:.3g} exceeds {MAX_CONDITION_NUMBER:g} "
            "(the inverse would amplify rounding errors)",
        )
    norm = float(np.min(np.linalg.norm(matrix, ord=2, axis=(-2, -1))))
    if norm < MIN_MATRIX_NORM:
        raise ParamError(key=name, message=f"matrix 2-norm {norm:.3g} is below {MIN_MATRIX_NORM:g}")


def color_matrix_pixel(r: float, g: float, b: float, prm: Any, o: int) -> tuple:
    """``M · (r, g, b)`` with ``M`` row-major at ``prm[o:o + 9]`` (fused kernels)."""
    return (
        prm[o] * r + prm[o + 1] * g + prm[o + 2] * b,
        prm[o + 3] * r + prm[o + 4] * g + prm[o + 5] * b,
        prm[o + 6] * r + prm[o + 7] * g + prm[o + 8] * b,
    )


def constant_matrix(stage: Stage) -> np.ndarray | None:
    """The stage's constant 3×3 matrix, or None when it is per image or per pixel."""
    matrix = stage.values["matrix"]
    return None if matrix is None or matrix.shape != (3, 3) else matrix


class ColorCorrection(Stage):
    """f_CC: a 3×3 colour matrix per pixel, ``(..., H, W, 3) -> (..., H, W, 3)``."""

    name = "color_correction"
    params = (
        ParamSpec(
            "matrix",
            MATRIX_3X3,
            -4.0,
            4.0,
            default=np.eye(3),
            description="3x3 colour matrix, condition number <= 20",
        ),
    )

    @classmethod
    def check_params(cls, values: Mapping[str, np.ndarray]) -> None:
        if "matrix" in values:
            check_matrix_condition("matrix", values["matrix"])

    def pixel_params(self) -> np.ndarray | None:
        """The constant matrix for fused chains (None when per image or per pixel)."""
        return constant_matrix(self)

    capabilities = Capabilities(pixel=PixelKernel(pixel_params, kernel=color_matrix_pixel))

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        return apply_matrix(x, p["matrix"], xp)


class ColorCorrectionInverse(InverseStage):
    """f_CC⁻¹: ``M⁻¹ · I`` (exact)."""

    name = "color_correction_inverse"
    forward = ColorCorrection
    method = "exact"

    def pixel_params(self) -> np.ndarray | None:
        """The constant inverse matrix for fused chains (None when not constant)."""
        matrix = constant_matrix(self)
        return None if matrix is None else np.linalg.inv(matrix)

    capabilities = Capabilities(pixel=PixelKernel(pixel_params, kernel=color_matrix_pixel))

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        return apply_matrix(x, xp.linalg.inv(p["matrix"]), xp)
