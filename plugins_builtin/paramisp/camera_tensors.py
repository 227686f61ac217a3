"""The camera parameters of a batch, as the tensors ParamNet reads.

Source: W. Kim, G. Kim, J. Lee, S. Lee, S.-H. Baek, S. Cho, "ParamISP: Learned Forward
and Inverse ISPs using Camera Parameters", CVPR 2024, §3 (optical parameters from EXIF,
canonical parameters from the RAW metadata).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np

from ispengine.core.errors import InputError
from plugins_builtin.paramisp.encoding import OPTICAL_NAMES


@attrs.frozen(eq=False)
class CameraTensors:
    """Per-image camera parameters of a batch of N images (torch tensors).

    Attributes:
        optical: ``(N, 4)`` float, columns focal length (mm), f-number, exposure time (s),
            ISO, in that order; NaN where a value is unknown.
        wb: ``(N, 3)`` white-balance gains (R, G, B) normalised so that G = 1.
        ccm: ``(N, 3, 3)`` camera RGB -> linear sRGB matrix, applied as ``y = M x``.

    Compared by identity (tensors have no single truth value).
    """

    optical: Any
    wb: Any
    ccm: Any

    @classmethod
    def from_values(
        cls,
        captures: Sequence[Any],
        wb: Any,
        ccm: Any,
        device: Any = None,
        dtype: Any = None,
    ) -> CameraTensors:
        """Build from per-image capture settings and colour values.

        Args:
            captures: one :class:`~ispengine.io.raw.image.CaptureParams` (or ``None``, all
                unknown) per image; a field that is ``None`` becomes NaN.
            wb: ``(N, 3)`` gains; normalised here by their G entry.
            ccm: ``(N, 3, 3)`` camera RGB -> linear sRGB matrices.
            device, dtype: of the tensors (default CPU, float32).
        """
        import torch

        dtype = dtype or torch.float32
        wb_array = np.asarray(wb, dtype=np.float64)
        ccm_array = np.asarray(ccm, dtype=np.float64)
        n = len(captures)
        if wb_array.shape != (n, 3) or ccm_array.shape != (n, 3, 3):
            raise InputError(
                f"camera values: expected wb ({n}, 3) and ccm ({n}, 3, 3) for {n} captures, "
                f"got {wb_array.shape} and {ccm_array.shape}"
            )
        if not np.all(wb_array[:, 1] > 0):
            raise InputError("camera values: white-balance G gains must be > 0")
        optical = np.array(
            [
                [
                    math.nan if c is None or getattr(c, name) is None else getattr(c, name)
                    for name in OPTICAL_NAMES
                ]
                for c in captures
            ],
            dtype=np.float64,
        ).reshape(n, len(OPTICAL_NAMES))

        def tensor(a: np.ndarray) -> Any:
            return torch.as_tensor(a, dtype=dtype, device=device)

        return cls(tensor(optical), tensor(wb_array / wb_array[:, 1:2]), tensor(ccm_array))

    def to(self, device: Any) -> CameraTensors:
        """The same values on ``device``."""
        return CameraTensors(self.optical.to(device), self.wb.to(device), self.ccm.to(device))

    def __len__(self) -> int:
        return int(self.optical.shape[0])
