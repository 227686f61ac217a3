"""Declared stage parameters: :class:`ParamSpec` and :class:`OptionSpec`.

A stage declares each numeric parameter once, as a :class:`ParamSpec`. That
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

from collections.abc import Sequence
from typing import Any

import numpy as np
from attrs import field, frozen

from ispengine.core.errors import ParamError

SCALAR: tuple[int, ...] = ()
PER_CHANNEL: tuple[int, ...] = (3,)
PER_CFA_CHANNEL: tuple[int, ...] = (4,)
MATRIX_3X3: tuple[int, ...] = (3, 3)


def _as_shape(value: Sequence[int]) -> tuple[int, ...]:
    return tuple(int(v) for v in value)


def _as_default(value: Any) -> np.ndarray | None:
    if value is None:
        return None
    array = np.array(value, dtype=np.float64)
    array.setflags(write=False)
    return array


@frozen
class ParamSpec:
    """One numeric stage parameter.

    Attributes:
        name: key of the parameter in TOML and in ``Stage(**values)``.
        shape: ``()`` scalar, ``(3,)`` per colour channel, ``(4,)`` per CFA
            channel, ``(3, 3)`` matrix, or any fixed shape.
        low, high: the closed valid range of every element.
        default: the value used when none is given; ``None`` makes the
            parameter required.
        description: one line for ``ispengine stages`` and the docs.
        local: whether per-pixel maps are accepted.
    """

    name: str
    shape: tuple[int, ...] = field(converter=_as_shape)
    low: float = field(converter=float)
    high: float = field(converter=float)
    default: np.ndarray | None = field(default=None, converter=_as_default, eq=False)
    description: str = ""
    local: bool = True

    def __attrs_post_init__(self) -> None:
        if not self.low <= self.high:
            raise ValueError(f"ParamSpec {self.name}: low {self.low} > high {self.high}")
        if self.default is not None:
            self.coerce(self.default)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def coerce_constant(self, value: Any) -> np.ndarray:
        """Like :meth:`coerce`, for a constant: exactly ``shape``, or one number."""
        array = self.coerce(value)
        if np.ndim(value) not in (0, len(self.shape)) or array.shape != self.shape:
            raise ParamError(
                f"{self.name}: expected one value or an array of shape {self.shape}, "
                f"got shape {np.shape(value)}"
            )
        return array

    def range_text(self) -> str:
        return f"[{self.low:g}, {self.high:g}]"

    def coerce(self, value: Any) -> np.ndarray:
        """Turn a user value (number, nested list, numpy array) into a validated float64 array.

        Raises :class:`ParamError` for a non-numeric value (booleans and strings
        included), a wrong shape, a non-finite element or an element out of
        ``[low, high]``. Leading (per-image or per-pixel) dimensions are allowed;
        :meth:`coerce_constant` accepts exactly ``shape`` (or a scalar).
        """
        try:
            raw = np.asarray(value)
        except (TypeError, ValueError):  # ragged nested lists
            raw = np.asarray(None)
        if raw.dtype.kind not in "iuf" or _holds_booleans(value):  # not numbers
            raise ParamError(
                f"{self.name}: expected a number or array of shape {self.shape}, got {value!r}"
            )
        array = raw.astype(np.float64)
        if array.ndim == 0 and self.shape:
            array = np.broadcast_to(array, self.shape)
        if array.shape[array.ndim - len(self.shape) :] != self.shape or array.ndim < len(
            self.shape
        ):
            raise ParamError(
                f"{self.name}: expected shape {self.shape} (or leading per-image/per-pixel "
                f"dimensions before it), got {array.shape}"
            )
        if not np.all(np.isfinite(array)):
            raise ParamError(f"{self.name}: contains NaN or Inf")
        lowest, highest = float(array.min()), float(array.max())
        if lowest < self.low or highest > self.high:
            bad = lowest if lowest < self.low else highest
            raise ParamError(
                f"{self.name}: value {bad:g} is outside the valid range {self.range_text()}"
            )
        return array


def _holds_booleans(value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return True
    if isinstance(value, (list, tuple)):
        return any(_holds_booleans(item) for item in value)
    return False


@frozen
class OptionSpec:
    """A categorical stage setting (e.g. a Bayer pattern), given as a string."""

    name: str
    choices: tuple[str, ...] = field(converter=tuple)
    default: str | None = None
    description: str = ""

    def coerce(self, value: Any) -> str:
        if not isinstance(value, str) or value.lower() not in self.choices:
            raise ParamError(
                f"{self.name}: expected one of {', '.join(self.choices)}, got {value!r}"
            )
        return value.lower()


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
        f"{spec.name}: leading shape {lead} matches neither the image batch {batch} nor the "
        f"image size {lead_shape} ({kind} allowed)"
    )


def _broadcasts(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    if len(shape) > len(target):
        return False
    return all(s in (1, t) for s, t in zip(shape[::-1], target[::-1], strict=False))
