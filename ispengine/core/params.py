"""Declared stage parameters: :class:`ParamSpec` and :class:`OptionSpec`, and their broadcasting.

Both classes live in :mod:`ispengine.core.settings` (the one declaration family of
the engine) and stay importable from here. A stage declares each numeric
parameter once, as a :class:`ParamSpec`. That
single declaration drives TOML validation, the Hypothesis strategies of the
round-trip tests, and (in later plugins) the predictor's output squashing and
the LUT grids.

Values take three forms and stages broadcast all of them:

* a constant: an array of exactly ``spec.shape`` (a scalar is accepted for a
  per-channel parameter and repeated over the channels);
* per image: ``batch + spec.shape`` for an image of shape ``batch + (H, W, C)``;
* per pixel: ``(..., H, W) + spec.shape``, broadcastable to the image.
"""

from __future__ import annotations

from typing import Any

from ispengine.core.errors import ParamError
from ispengine.core.settings import (
    MATRIX_3X3,
    PER_CFA_CHANNEL,
    PER_CHANNEL,
    SCALAR,
    OptionSpec,
    ParamSpec,
)

__all__ = [
    "MATRIX_3X3",
    "PER_CFA_CHANNEL",
    "PER_CHANNEL",
    "SCALAR",
    "OptionSpec",
    "ParamSpec",
    "broadcast_param",
]


def broadcast_param(value: Any, spec: ParamSpec, lead_shape: tuple[int, ...], xp: Any) -> Any:
    """Reshape a parameter value so it broadcasts against an image.

    ``lead_shape`` is the image shape without its channel axis: ``batch + (H, W)``.
    Returns an array of shape ``L + spec.shape`` where ``L`` broadcasts to
    ``lead_shape``: ``()`` for a constant, ``batch + (1, 1)`` for per-image values,
    the given leading shape for per-pixel maps.
    """
    shape = tuple(value.shape)
    lead = shape[: len(shape) - len(spec.shape)]
    if not lead:
        return value
    batch = lead_shape[:-2]
    if batch and lead == batch:
        return xp.reshape(value, lead + (1, 1) + spec.shape)
    if len(lead) >= 2 and spec.local and _broadcasts(lead, lead_shape):
        return value
    kind = "per-pixel maps" if spec.local else "per-image values"
    raise ParamError(
        key=spec.name,
        message=f"leading shape {lead} matches neither the image batch {batch} nor the "
        f"image size {lead_shape} ({kind} allowed)",
    )


def _broadcasts(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    if len(shape) > len(target):
        return False
    return all(s in (1, t) for s, t in zip(shape[::-1], target[::-1], strict=False))
