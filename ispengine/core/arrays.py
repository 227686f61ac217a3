"""Array-API helpers shared by every stage.

Stage math is written once against the Python array API; these helpers pick
the namespace of an input (numpy, torch, cupy through ``array-api-compat``),
move parameters onto the input's device and dtype, and check images. Nothing
here imports torch or cupy: ``array-api-compat`` only recognises them when the
caller already has them.
"""

from __future__ import annotations

from typing import Any

import array_api_compat
import numpy as np

from ispengine.core.errors import InputError

LAYOUT_CHANNELS = {"rgb": 3, "packed": 4}


def namespace(x: Any) -> Any:
    """The array-API namespace of ``x`` (numpy, torch or cupy, compat-wrapped)."""
    try:
        return array_api_compat.array_namespace(x)
    except TypeError:
        raise InputError(f"expected an array, got {type(x).__name__}") from None


def is_floating(x: Any, xp: Any) -> bool:
    return xp.isdtype(x.dtype, "real floating")


def as_param(value: Any, like: Any, xp: Any) -> Any:
    """``value`` as an array of ``xp`` on the device and with the dtype of ``like``."""
    if isinstance(value, np.ndarray) or np.isscalar(value):
        host = np.asarray(value)
        if not host.flags.writeable:  # torch warns on (and may write to) read-only buffers
            host = host.copy()
        return xp.asarray(host, dtype=like.dtype, device=array_api_compat.device(like))
    if value.dtype != like.dtype:
        return xp.astype(value, like.dtype)
    return value


def check_image(x: Any, layout: str, *, where: str = "input", need_even: bool = False) -> Any:
    """Validate an image for a stage layout and return its namespace.

    ``rgb``: ``(..., H, W, 3)``; ``packed``: ``(..., H, W, 4)``; ``mosaic``:
    ``(..., H, W)``. Raises :class:`InputError` naming what was expected.
    """
    xp = namespace(x)
    if not is_floating(x, xp):
        raise InputError(f"{where}: expected a float32 or float64 array, got dtype {x.dtype}")
    shape = tuple(x.shape)
    if layout == "mosaic":
        if len(shape) < 2:
            raise InputError(f"{where}: expected a mosaic of shape (..., H, W), got {shape}")
        spatial = shape[-2:]
    else:
        channels = LAYOUT_CHANNELS[layout]
        if len(shape) < 3 or shape[-1] != channels:
            raise InputError(
                f"{where}: expected a {layout} image of shape (..., H, W, {channels}), got {shape}"
            )
        spatial = shape[-3:-1]
    if need_even and (spatial[0] % 2 or spatial[1] % 2):
        raise InputError(f"{where}: a Bayer mosaic needs even height and width, got {spatial}")
    if 0 in spatial:
        raise InputError(f"{where}: image has zero size {shape}")
    return xp


def check_finite(x: Any, xp: Any, *, where: str = "input") -> None:
    if not bool(xp.all(xp.isfinite(x))):
        raise InputError(f"{where}: contains NaN or Inf values")


def safe_power(base: Any, exponent: Any, xp: Any) -> Any:
    """``base ** exponent`` for ``base >= 0``, with 0 where ``base == 0``.

    Written so the gradient at ``base == 0`` is finite (0) in torch, where the
    plain power gives NaN for exponents below 1.
    """
    positive = base > 0
    safe_base = xp.where(positive, base, xp.ones_like(base))
    return xp.where(positive, safe_base**exponent, xp.zeros_like(base))
