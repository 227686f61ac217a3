"""``identity``: no mapping; camera A's normalised RAW is taken as camera B's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ispengine.learning.raw_to_raw import RawToRawMethod, check_direction


class Identity(RawToRawMethod):
    """The source camera's packed normalised planes, unchanged (what an ISP tuned for
    camera B sees when fed camera A's RAW as it is)."""

    name = "identity"
    summary = "no mapping: the source camera's normalised RAW taken as the target's"

    def map_packed(
        self,
        packed: np.ndarray,
        direction: str,
        *,
        scene: Mapping[str, Any] | None = None,
        downsample: int | None = None,
    ) -> np.ndarray:
        check_direction(direction)
        self.check_downsample(downsample)
        return np.asarray(packed, dtype=np.float32).copy()
