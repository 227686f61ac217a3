"""Camera banks for UPI: the XYZ→camera matrices its random colour matrix mixes.

UPI draws each image's camera colour space as a random convex combination of
a bank of XYZ→camera matrices (T. Brooks, B. Mildenhall, T. Xue, J. Chen, D. Sharlet,
J. T. Barron, "Unprocessing Images for Learned Raw Denoising", CVPR 2019 (UPI), §3,
as in the authors' released code). Besides the four published matrices, a bank can
be any list of 3×3 matrices, for example the DNG ``ColorMatrix`` (D65) tags of a
user's own RAW files, read with
:func:`bank_from_raws`, or the matrices of a dataset's training RAWs
(``bank = "dataset"`` in the ``upi`` method, gathered by ``fit``).

A usable matrix is finite, and its sRGB→camera product (rows normalised to
sum 1, as UPI does) is invertible with a condition number of at most
:data:`MAX_CONDITION`, the bound the engine's ``camera_to_srgb`` stage uses.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ispengine.core.errors import InputError
from ispengine.io.raw.image import SRGB_TO_XYZ

MAX_CONDITION = 20.0


def check_bank(value: Any, where: str = "bank") -> np.ndarray:
    """A bank as a float64 array ``(N, 3, 3)``; raises :class:`InputError` naming the bad entry."""
    try:
        bank = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{where}: expected a list of 3x3 matrices") from None
    if bank.ndim == 2:
        bank = bank[None]
    if bank.ndim != 3 or bank.shape[1:] != (3, 3) or len(bank) == 0:
        raise InputError(f"{where}: expected a list of 3x3 matrices, got shape {bank.shape}")
    for index, matrix in enumerate(bank):
        if not np.all(np.isfinite(matrix)):
            raise InputError(f"{where}[{index}]: contains NaN or Inf")
        rgb2cam = matrix @ SRGB_TO_XYZ
        sums = rgb2cam.sum(axis=1)
        if np.any(np.abs(sums) < 1e-6):
            raise InputError(f"{where}[{index}]: a row of XYZ->camera · sRGB->XYZ sums to 0")
        condition = np.linalg.cond(rgb2cam / sums[:, None])
        if not condition <= MAX_CONDITION:
            raise InputError(
                f"{where}[{index}]: sRGB->camera condition number {condition:.3g} "
                f"exceeds {MAX_CONDITION:g}"
            )
    return bank


def unique_matrices(matrices: Iterable[np.ndarray]) -> np.ndarray:
    """Distinct matrices, in first-seen order."""
    seen: list[np.ndarray] = []
    for matrix in matrices:
        matrix = np.asarray(matrix, dtype=np.float64)
        if not any(np.array_equal(matrix, s) for s in seen):
            seen.append(matrix)
    return np.array(seen).reshape(-1, 3, 3)


def bank_from_raws(paths: Iterable[str | Path]) -> np.ndarray:
    """The distinct XYZ→camera (DNG ``ColorMatrix``) matrices of RAW files LibRaw reads."""
    from ispengine.io.raw.reader import read_raw

    matrices = []
    for path in paths:
        raw = read_raw(path)
        if raw.xyz_to_camera is None:
            raise InputError(f"{path}: has no colour matrix (XYZ->camera)")
        matrices.append(raw.xyz_to_camera)
    if not matrices:
        raise InputError("bank: no RAW files given")
    return check_bank(unique_matrices(matrices))
