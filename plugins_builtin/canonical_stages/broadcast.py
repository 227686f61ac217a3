"""Broadcasting a scalar parameter against an RGB image.

:func:`ispengine.core.params.broadcast_param` gives a scalar parameter the shape
``()`` (a constant), ``batch + (1, 1)`` (per image) or ``(..., H, W)`` (a
per-pixel map); the last two need a trailing axis to meet the channel axis of
an image ``(..., H, W, 3)``.
"""

from __future__ import annotations

from typing import Any


def against_channels(value: Any) -> Any:
    """A resolved scalar parameter reshaped to broadcast against ``(..., H, W, 3)``."""
    return value[..., None] if value.ndim > 0 else value
