"""Declared settings: one family of frozen value classes for everything a user sets.

Every value the engine takes from a user (a stage parameter, a stage option,
an inverse method's tuning, an sRGB-to-RAW method's or a predictor's keyword,
a key of a benchmark or experiment spec) is *declared* once by one of these
classes, and *checked* by its ``coerce(value)``, which returns the value in its
canonical form or raises a one-line :class:`~ispengine.core.errors.ParamError`.

Vocabulary: a **setting** is a declaration (name, kind, range, default,
description); the values a component holds are its **config**. Components keep
their declarations in class attributes named after what they declare
(``Stage.params`` and ``Stage.options``, ``InverseStage.inverse_settings``,
``SrgbToRawMethod.settings``, ``ParamPredictor.settings``) and the checked
values in instance attributes (``stage.values`` for numeric parameters,
``stage.config``, ``inverse.inverse_config``, ``method.config``,
``predictor.config``).

Kinds (``kind`` class attribute; ``range_text()`` is what listings show):

=============== ========================================= ==========================
class           accepted values                           ``range_text()``
=============== ========================================= ==========================
ParamSpec       numbers / arrays of a fixed shape          ``[low, high]``
                (float64 arrays, per-image/per-pixel
                leading dimensions; :mod:`ispengine.core.params`)
FloatSetting    one real number (Python float)             ``[low, high]``
IntegerSetting  one whole number (Python int)              ``[low, high]``
OptionSpec      one of fixed lower-case names              ``a | b | c``
BooleanSetting  ``true`` / ``false``                       ``true | false``
StringSetting   text (or a non-empty list of texts)        ``text`` / ``list of text``
PathSetting     a file or folder path (relative ones are   ``path``
                resolved against a base folder)
ArraySetting    a nested list of numbers of a shape        ``[low, high], shape (N, 3, 3)``
                (``None`` = any length), or a named value
TableSetting    a table of declared settings               ``table {a, b}``
=============== ========================================= ==========================

:func:`coerce_table` checks a whole table (a TOML table or keyword arguments)
against declarations: unknown keys are one error naming the key, the known
keys and the nearest match; missing values take their defaults.
:func:`load_toml` reads any TOML file of the engine (pipeline, benchmark and
experiment specs) with one-line :class:`~ispengine.core.errors.SpecError`\\ s, and
every relative path in a spec is resolved against the spec file's folder
(:func:`spec_folder`, :func:`resolve_paths`).
"""

from __future__ import annotations

import difflib
import math
import os
import stat
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import array_api_compat
import numpy as np
from attrs import field, frozen

from ispengine.core.arrays import is_device_array
from ispengine.core.errors import ParamError, SpecError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

SCALAR: tuple[int, ...] = ()
PER_CHANNEL: tuple[int, ...] = (3,)
PER_CFA_CHANNEL: tuple[int, ...] = (4,)
MATRIX_3X3: tuple[int, ...] = (3, 3)


class SettingBase:
    """What every declaration offers: ``name``, ``default``, ``description``, ``kind``,
    :meth:`coerce`, :meth:`range_text`, :attr:`required` and :meth:`describe`."""

    kind: ClassVar[str] = ""
    name: str
    default: Any
    description: str

    def coerce(self, value: Any) -> Any:
        raise NotImplementedError

    def range_text(self) -> str:
        raise NotImplementedError

    @property
    def required(self) -> bool:
        """Whether a value must be given (no default)."""
        return self.default is None

    def default_value(self) -> Any:
        """The value used when none is given (``None`` for a required setting)."""
        return self.default

    def describe(self) -> dict[str, Any]:
        """A JSON-ready record for listings: name, kind, range, default, description."""
        from ispengine.core.json_values import json_ready

        return {
            "name": self.name,
            "kind": self.kind,
            "range": self.range_text(),
            "default": json_ready(self.default),
            "description": self.description,
        }

    def listed_range(self) -> str:
        """:meth:`range_text`, with the shape of array-valued settings (``[0, 1]×3``)."""
        return self.range_text()

    def text(self) -> str:
        """``name=RANGE`` (``name=RANGE (default D)`` with a default), for one-line listings."""
        default = self.default_value() if self.default is not None else None
        shown = f"{self.name}={self.listed_range()}"
        return shown if default is None else f"{shown} (default {value_text(default)})"


def value_text(value: Any) -> str:
    """A value as listings show it: numbers with ``:g`` (an array whose elements are all
    equal as that one number), booleans as ``true``/``false``, text as it is."""
    array = np.asarray(value) if not isinstance(value, Mapping) else None
    numeric = array is not None and array.dtype.kind in "iuf" and array.size
    if numeric and np.all(array == array.flat[0]):
        return f"{array.flat[0]:g}"
    return _plain_text(value)


def _plain_text(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, float, np.integer, np.floating)):
        return f"{value:g}"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k} = {_plain_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple, np.ndarray)):
        return "[" + ", ".join(_plain_text(v) for v in value) + "]"
    return str(value)


def _as_shape(value: Sequence[int]) -> tuple[int, ...]:
    return tuple(int(v) for v in value)


def _as_default(value: Any) -> np.ndarray | None:
    if value is None:
        return None
    array = np.array(value, dtype=np.float64)
    array.setflags(write=False)
    return array


def _holds_booleans(value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return True
    if isinstance(value, (list, tuple)):
        return any(_holds_booleans(item) for item in value)
    return False


def _bounds_text(low: float | None, high: float | None) -> str:
    low_text = "-inf" if low is None else f"{low:g}"
    high_text = "inf" if high is None else f"{high:g}"
    return f"[{low_text}, {high_text}]"


@frozen
class ParamSpec(SettingBase):
    """A numeric setting: a scalar or an array of a fixed shape, each element in ``[low, high]``.

    Stage parameters use it (values may also be per image or per pixel); so do
    inverse methods' numeric settings.

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

    kind: ClassVar[str] = "number"

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

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "shape": list(self.shape), "bounds": [self.low, self.high]}

    def listed_range(self) -> str:
        if not self.shape:
            return self.range_text()
        return self.range_text() + "×" + "×".join(str(s) for s in self.shape)

    def coerce_constant(self, value: Any) -> np.ndarray:
        """Like :meth:`coerce`, for a constant: exactly ``shape``, or one number."""
        array = self.coerce(value)
        if np.ndim(value) not in (0, len(self.shape)) or tuple(array.shape) != self.shape:
            raise ParamError(
                key=self.name,
                message=f"expected one value or an array of shape {self.shape}, "
                f"got shape {np.shape(value)}",
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

        A device array (CuPy, torch, any non-numpy array-API array) is checked the same
        way on its device and stays there (:meth:`coerce_device`).
        """
        if is_device_array(value):
            return self.coerce_device(value)
        try:
            raw = np.asarray(value)
        except (TypeError, ValueError):  # ragged nested lists
            raw = np.asarray(None)
        if raw.dtype.kind not in "iuf" or _holds_booleans(value):  # not numbers
            raise ParamError(
                key=self.name,
                message=f"expected a number or array of shape {self.shape}, got {value!r}",
            )
        array = raw.astype(np.float64)
        if array.ndim == 0 and self.shape:
            array = np.broadcast_to(array, self.shape)
        if array.shape[array.ndim - len(self.shape) :] != self.shape or array.ndim < len(
            self.shape
        ):
            raise ParamError(
                key=self.name,
                message=f"expected shape {self.shape} (or leading per-image/per-pixel "
                f"dimensions before it), got {array.shape}",
            )
        if not np.all(np.isfinite(array)):
            raise ParamError(key=self.name, message="contains NaN or Inf")
        lowest, highest = float(array.min()), float(array.max())
        if lowest < self.low or highest > self.high:
            bad = lowest if lowest < self.low else highest
            raise ParamError(
                key=self.name,
                message=f"value {bad:g} is outside the valid range {self.range_text()}",
            )
        return array

    def coerce_device(self, value: Any) -> Any:
        """Check a device array (CuPy, torch, ...) like :meth:`coerce` without leaving the
        device: numbers only (integers become float64), trailing shape ``shape``, every
        element finite and in ``[low, high]``. One reduction on the device reads back two
        numbers (the smallest and largest element; a NaN makes them NaN). Returns the array
        itself (a float one uncopied, so torch keeps autograd), broadcast to ``shape`` when
        it is one number."""
        xp = array_api_compat.array_namespace(value)
        if not xp.isdtype(value.dtype, ("real floating", "integral")):
            raise ParamError(
                key=self.name,
                message=f"expected a number or array of shape {self.shape}, "
                f"got a {type(value).__name__} of dtype {value.dtype}",
            )
        if not xp.isdtype(value.dtype, "real floating"):
            value = xp.astype(value, xp.float64)
        shape = tuple(value.shape)
        if not shape and self.shape:
            value = xp.broadcast_to(value, self.shape)
            shape = self.shape
        if len(shape) < len(self.shape) or shape[len(shape) - len(self.shape) :] != self.shape:
            raise ParamError(
                key=self.name,
                message=f"expected shape {self.shape} (or leading per-image/per-pixel "
                f"dimensions before it), got {shape}",
            )
        if 0 in shape:
            raise ParamError(key=self.name, message=f"is empty (shape {shape})")
        lowest, highest = float(xp.min(value)), float(xp.max(value))
        if not (math.isfinite(lowest) and math.isfinite(highest)):
            raise ParamError(key=self.name, message="contains NaN or Inf")
        if lowest < self.low or highest > self.high:
            bad = lowest if lowest < self.low else highest
            raise ParamError(
                key=self.name,
                message=f"value {bad:g} is outside the valid range {self.range_text()}",
            )
        return value


def _number(value: Any, name: str, what: str) -> float | int:
    if isinstance(value, np.generic) and not isinstance(value, np.bool_):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParamError(key=name, message=f"expected {what}, got {value!r}")
    return value


@frozen
class _BoundedNumber(SettingBase):
    """A number in ``[low, high]`` (``None``: unbounded); ``optional`` with
    ``default=None``: the value may be absent (``None``)."""

    name: str
    default: float | None = None
    description: str = ""
    low: float | None = None
    high: float | None = None
    optional: bool = False

    @property
    def required(self) -> bool:
        return self.default is None and not self.optional

    def range_text(self) -> str:
        return _bounds_text(self.low, self.high)


@frozen
class FloatSetting(_BoundedNumber):
    """One real number in ``[low, high]`` (``None``: unbounded), kept as a Python float.

    ``optional`` with ``default=None``: the value may be absent (``None``)."""

    kind: ClassVar[str] = "float"

    def coerce(self, value: Any) -> float:
        value = float(_number(value, self.name, "a number"))
        if (
            not math.isfinite(value)
            or (self.low is not None and value < self.low)
            or (self.high is not None and value > self.high)
        ):
            raise ParamError(key=self.name, message=f"{value!r} is outside {self.range_text()}")
        return value


@frozen
class IntegerSetting(_BoundedNumber):
    """One whole number in ``[low, high]`` (``None``: unbounded), kept as a Python int.

    A float with an integral value (``4.0``) is accepted as that integer.
    ``optional`` with ``default=None``: the value may be absent (``None``)."""

    kind: ClassVar[str] = "integer"

    def coerce(self, value: Any) -> int:
        number = _number(value, self.name, "a whole number")
        if not math.isfinite(number) or float(number) != int(number):
            raise ParamError(key=self.name, message=f"expected a whole number, got {value!r}")
        number = int(number)
        if (self.low is not None and number < self.low) or (
            self.high is not None and number > self.high
        ):
            raise ParamError(key=self.name, message=f"{number!r} is outside {self.range_text()}")
        return number


@frozen
class OptionSpec(SettingBase):
    """A categorical setting (e.g. a Bayer pattern): one of ``choices``, case-insensitive,
    kept lower-case. ``default=None`` makes it required."""

    kind: ClassVar[str] = "choice"

    name: str
    choices: tuple[str, ...] = field(converter=tuple)
    default: str | None = None
    description: str = ""

    def range_text(self) -> str:
        return " | ".join(self.choices)

    def coerce(self, value: Any) -> str:
        if not isinstance(value, str) or value.lower() not in self.choices:
            raise ParamError(
                key=self.name, message=f"expected one of {', '.join(self.choices)}, got {value!r}"
            )
        return value.lower()


ChoiceSetting = OptionSpec


@frozen
class BooleanSetting(SettingBase):
    """``true`` or ``false`` (a real boolean; numbers and strings are refused)."""

    kind: ClassVar[str] = "boolean"

    name: str
    default: bool | None = None
    description: str = ""

    def range_text(self) -> str:
        return "true | false"

    def coerce(self, value: Any) -> bool:
        if not isinstance(value, (bool, np.bool_)):
            raise ParamError(key=self.name, message=f"expected true or false, got {value!r}")
        return bool(value)


@frozen
class StringSetting(SettingBase):
    """Free text; with ``multiple``, a non-empty list of texts (kept as a tuple)."""

    kind: ClassVar[str] = "string"

    name: str
    default: str | tuple[str, ...] | None = None
    description: str = ""
    multiple: bool = False

    @property
    def required(self) -> bool:
        return self.default is None and not self.multiple

    def range_text(self) -> str:
        return "list of text" if self.multiple else "text"

    def coerce(self, value: Any) -> str | tuple[str, ...]:
        if not self.multiple:
            if not isinstance(value, str):
                raise ParamError(key=self.name, message=f"expected a string, got {value!r}")
            return value
        if (
            not isinstance(value, (list, tuple))
            or not value
            or not all(isinstance(v, str) for v in value)
        ):
            raise ParamError(
                key=self.name, message=f"expected a non-empty list of strings, got {value!r}"
            )
        return tuple(value)


@frozen
class PathSetting(SettingBase):
    """A file or folder path, kept as a string; ``default=None`` (or an empty string)
    means no path.

    A relative path given in a spec file is resolved against that file's folder
    (:func:`resolve_paths`); given in Python, it is taken as it is. ``~`` is expanded.
    ``names`` are values taken as they are, never as paths (e.g. the names of
    shipped specs, for a setting that takes "a shipped name or a TOML path")."""

    kind: ClassVar[str] = "path"

    name: str
    default: str | None = None
    description: str = ""
    names: tuple[str, ...] = field(default=(), converter=tuple)

    @property
    def required(self) -> bool:
        return False

    def range_text(self) -> str:
        return f"path or one of {' | '.join(self.names)}" if self.names else "path"

    def coerce(self, value: Any) -> str | None:
        if value is None or value == "":
            return None
        if not isinstance(value, (str, Path)):
            raise ParamError(key=self.name, message=f"expected a file path, got {value!r}")
        if value in self.names:
            return str(value)
        return str(Path(value).expanduser())

    def resolve(self, value: Any, base: Path | None) -> Any:
        """``value`` against the folder ``base`` when it is a relative path (else unchanged)."""
        if base is None or not isinstance(value, (str, Path)) or value in ("", *self.names):
            return value
        path = Path(value).expanduser()
        return value if path.is_absolute() else str(base / path)


def _shape_text(shape: tuple[int | None, ...]) -> str:
    inner = ", ".join("N" if s is None else str(s) for s in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


@frozen
class ArraySetting(SettingBase):
    """A nested list of numbers of ``shape`` (``None`` marks a dimension of any length
    >= 1), each in ``[low, high]`` (``None``: unbounded), kept as nested Python lists
    (JSON-ready, so saved settings files hold it as given); with ``integer``, whole
    numbers kept as ints. When the first dimension is ``None``, one item alone
    (e.g. one 3×3 matrix for ``(None, 3, 3)``) is taken as a list of one.
    ``names`` lists strings accepted instead of an array (e.g. a named camera
    bank), kept lower-case."""

    kind: ClassVar[str] = "array"

    name: str
    shape: tuple[int | None, ...] = field(converter=tuple)
    default: Any = None
    description: str = ""
    low: float | None = None
    high: float | None = None
    names: tuple[str, ...] = field(default=(), converter=tuple)
    integer: bool = False

    def range_text(self) -> str:
        array = f"{_bounds_text(self.low, self.high)}, shape {_shape_text(self.shape)}"
        return " | ".join((*self.names, array))

    def coerce(self, value: Any) -> Any:
        if isinstance(value, str):
            if value.lower() in self.names:
                return value.lower()
            named = f"one of {', '.join(self.names)} or " if self.names else ""
            raise ParamError(key=self.name, message=f"expected {named}an array, got {value!r}")
        expected = f"an array of shape {_shape_text(self.shape)}"
        try:
            array = np.asarray(value)
        except (TypeError, ValueError):  # ragged nested lists
            raise ParamError(key=self.name, message=f"expected {expected}, got {value!r}") from None
        if array.dtype.kind not in "iuf" or _holds_booleans(value):
            raise ParamError(
                key=self.name, message=f"expected {expected} of numbers, got {value!r}"
            )
        if self.shape[:1] == (None,) and array.ndim == len(self.shape) - 1:
            array = array[None]  # one item of a list of any length
        if array.ndim != len(self.shape) or any(
            (want is None and got < 1) or (want is not None and got != want)
            for want, got in zip(self.shape, array.shape, strict=True)
        ):
            raise ParamError(key=self.name, message=f"expected {expected}, got shape {array.shape}")
        if not np.all(np.isfinite(array)):
            raise ParamError(key=self.name, message="contains NaN or Inf")
        if self.integer and not np.all(array == np.round(array)):
            raise ParamError(key=self.name, message=f"expected whole numbers, got {value!r}")
        if array.size and (
            (self.low is not None and array.min() < self.low)
            or (self.high is not None and array.max() > self.high)
        ):
            bad = array.min() if self.low is not None and array.min() < self.low else array.max()
            raise ParamError(
                key=self.name,
                message=f"value {bad:g} is outside {_bounds_text(self.low, self.high)}",
            )
        return array.astype(int if self.integer else float).tolist()


@frozen
class TableSetting(SettingBase):
    """A table of its own declared ``settings`` (a TOML sub-table), checked by
    :func:`coerce_table`; its value is the dict of every declared key (given or default).
    ``default=None`` keeps the table optional; an absent optional table is ``None``."""

    kind: ClassVar[str] = "table"

    name: str
    settings: tuple[SettingBase, ...] = field(converter=tuple)
    default: Mapping[str, Any] | None = None
    description: str = ""

    @property
    def required(self) -> bool:
        return False

    def default_value(self) -> Any:
        return None if self.default is None else self.coerce(self.default)

    def range_text(self) -> str:
        return "table {" + ", ".join(s.name for s in self.settings) + "}"

    def coerce(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise ParamError(key=self.name, message=f"expected a table, got {value!r}")
        try:
            return coerce_table(self.settings, value, f"table '{self.name}'")
        except ParamError as error:
            key = self.name if error.key is None else f"{self.name}.{error.key}"
            raise ParamError(error.message, key=key) from None


# -- tables -------------------------------------------------------------------------
def unknown_key_message(key: str, known: Iterable[str], what: str, owner: str) -> str:
    """``unknown WHAT of OWNER (did you mean 'X'? known: a, b)`` for the unknown ``key``."""
    return f"unknown {what} of {owner} {unknown_key_hint(key, known)}"


def unknown_key_hint(key: str, known: Iterable[str]) -> str:
    """``(did you mean 'X'? known: a, b)`` for an unknown ``key``."""
    known = sorted(known)
    close = difflib.get_close_matches(str(key), known, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"({hint}known: {', '.join(known) or 'none'})"


def reject_unknown_keys(
    table: Mapping[str, Any], known: Iterable[str], prefix: str = "", **where: Any
) -> None:
    """Raise a :class:`SpecError` keyed ``prefix + key`` for the first key of a spec
    table that is not in ``known`` (``where``: the error's ``source``, stage, ...)."""
    known = tuple(known)
    for key in table:
        if key not in known:
            raise SpecError(
                f"unknown key {unknown_key_hint(key, known)}", key=f"{prefix}{key}", **where
            )


def check_keys(
    declared: Iterable[SettingBase | str], given: Iterable[str], owner: str, what: str = "setting"
) -> None:
    """Raise :class:`ParamError` for the first (sorted) key of ``given`` not declared."""
    known = [d if isinstance(d, str) else d.name for d in declared]
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ParamError(unknown_key_message(unknown[0], known, what, owner), key=unknown[0])


def coerce_table(
    declared: Iterable[SettingBase],
    given: Mapping[str, Any],
    owner: str,
    *,
    what: str = "setting",
    base: Path | None = None,
) -> dict[str, Any]:
    """Check ``given`` against ``declared``: every declared name with its checked value
    (or its default). Unknown keys and missing required values raise one-line
    :class:`ParamError`\\ s (``name: ...``) naming ``owner``. Relative paths of
    :class:`PathSetting`\\ s are resolved against ``base`` when it is given."""
    declared = tuple(declared)
    check_keys(declared, given, owner, what)
    out: dict[str, Any] = {}
    for setting in declared:
        value = given.get(setting.name)
        if value is None:
            if setting.required:
                raise ParamError(key=setting.name, message=f"missing ({setting.range_text()})")
            out[setting.name] = setting.default_value()
            continue
        if isinstance(setting, PathSetting):
            value = setting.resolve(value, base)
        out[setting.name] = setting.coerce(value)
    return out


def resolve_paths(
    declared: Iterable[SettingBase], given: Mapping[str, Any], base: Path | None
) -> dict[str, Any]:
    """``given`` with every relative :class:`PathSetting` value (also inside
    :class:`TableSetting`\\ s) joined to ``base``; other values unchanged."""
    out = dict(given)
    if base is None:
        return out
    for setting in declared:
        value = out.get(setting.name)
        if isinstance(setting, PathSetting):
            out[setting.name] = setting.resolve(value, base)
        elif isinstance(setting, TableSetting) and isinstance(value, Mapping):
            out[setting.name] = resolve_paths(setting.settings, value, base)
    return out


def describe(declared: Iterable[SettingBase], group: str | None = None) -> list[dict[str, Any]]:
    """JSON-ready records of ``declared`` (:meth:`SettingBase.describe`), tagged with
    ``group`` (e.g. ``params``, ``options``) when given."""
    records = []
    for setting in declared:
        record = setting.describe()
        if group is not None:
            record["group"] = group
        records.append(record)
    return records


def settings_text(declared: Iterable[SettingBase]) -> str:
    """All of ``declared`` on one line, ``name=RANGE (default D)`` separated by ``; ``
    (``-`` when there are none): the ``ispengine stages`` column."""
    return "; ".join(s.text() for s in declared) or "-"


# -- spec files ---------------------------------------------------------------------
#: The largest spec file read (1 MiB; the shipped specs are a few KiB).
MAX_SPEC_BYTES = 1 << 20
#: How deep a spec's arrays and tables may nest (a 3×3 matrix in a table is 3 deep).
MAX_NESTING = 32


def load_toml(path: str | Path, what: str = "spec") -> dict[str, Any]:
    """Read a TOML file; file, size, encoding, nesting and syntax errors become one-line
    :class:`SpecError`\\ s naming the file. Used by every spec kind (pipelines,
    benchmarks, experiments).

    Only a regular file of at most :data:`MAX_SPEC_BYTES` is read (the file is opened
    without blocking, checked with ``fstat``, and read up to the limit plus one byte),
    so ``/dev/zero``, a FIFO or a huge file is refused at once; tables and arrays
    nested deeper than :data:`MAX_NESTING` are refused without recursion."""
    source = str(path)
    text = _read_bounded(Path(path), source, what)
    try:
        data = tomllib.loads(text.decode("utf-8"))
    except UnicodeDecodeError:
        raise SpecError(f"{what} is not UTF-8 text", source=source) from None
    except tomllib.TOMLDecodeError as error:
        raise SpecError(f"TOML syntax error: {error}", source=source) from None
    except RecursionError:
        raise SpecError(_nesting_message(), source=source) from None
    except MemoryError:
        raise SpecError(f"{what} is too large to parse", source=source) from None
    check_nesting(data, source)
    return data


def _read_bounded(path: Path, source: str, what: str) -> bytes:
    """At most ``MAX_SPEC_BYTES`` of the regular file ``path``; anything else is refused."""
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as error:
        raise SpecError(f"cannot read {what}: {error.strerror or error}", source=source) from None
    try:
        status = os.fstat(descriptor)
        if stat.S_ISDIR(status.st_mode):
            raise SpecError(f"is a folder, not a {what} file", source=source)
        if not stat.S_ISREG(status.st_mode):
            raise SpecError(
                f"not a regular file (a device, FIFO or socket); give a TOML {what} file",
                source=source,
            )
        size = status.st_size
        text = b""
        if size <= MAX_SPEC_BYTES:
            with os.fdopen(os.dup(descriptor), "rb") as handle:
                text = handle.read(MAX_SPEC_BYTES + 1)
    except OSError as error:
        raise SpecError(f"cannot read {what}: {error.strerror or error}", source=source) from None
    finally:
        os.close(descriptor)
    if size > MAX_SPEC_BYTES or len(text) > MAX_SPEC_BYTES:
        raise SpecError(
            f"{what} is larger than the limit of {MAX_SPEC_BYTES // 1024} KiB "
            f"({max(size, len(text))} bytes or more); a {what} is a short text file",
            source=source,
        )
    return text


def _nesting_message() -> str:
    return f"arrays and tables nest deeper than the limit of {MAX_NESTING} levels"


def check_nesting(data: Any, source: str = "<dict>") -> None:
    """Refuse ``data`` (a spec's tables and arrays) nested deeper than :data:`MAX_NESTING`
    levels. Iterative, so any depth is checked without recursion."""
    pending = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list | tuple):
            children = value
        else:
            continue
        if depth > MAX_NESTING:
            raise SpecError(_nesting_message(), source=source)
        pending.extend((child, depth + 1) for child in children)


def spec_folder(source: str | Path | None) -> Path | None:
    """The folder relative paths of a spec resolve against: the spec file's folder, or
    ``None`` for a spec built in Python (sources such as ``<dict>``), whose paths are
    taken as they are (relative to the working directory)."""
    if source is None or str(source).startswith("<"):
        return None
    return Path(source).parent


def table_error(error: ParamError, source: str, prefix: str = "") -> SpecError:
    """A :class:`ParamError` from :func:`coerce_table` as a :class:`SpecError` keyed
    ``prefix + error.key`` (just the prefix's table when the error names no key)."""
    if error.key is not None:
        return SpecError(error.message, source=source, key=f"{prefix}{error.key}")
    return SpecError(str(error), source=source, key=prefix.rstrip(".") or None)
