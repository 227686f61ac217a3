"""Plain JSON values from numpy-laden structures (manifests, benchmark results)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def json_ready(value: Any) -> Any:
    """Dicts, lists and numbers JSON can hold: arrays become (nested) lists, numpy
    scalars Python numbers, keys strings, and non-finite floats the strings
    ``"inf"``, ``"-inf"`` or ``"nan"`` (strict JSON has no such numbers)."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else str(value)
    return value
