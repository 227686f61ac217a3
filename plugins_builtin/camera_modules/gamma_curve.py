"""Gamma from a power curve or from a table, per channel.

``mode = "power"`` (default), fast-openISP's gac without its clip::

    y = (gain · max(x, 0))^gamma                inverse: x = y^(1/gamma) / gain

fast-openISP computes ``min(gain·x, 1)^gamma`` through a LUT on 10-bit data
with ``gain`` ×256 (its test configuration: gain 256, gamma 0.42, i.e.
``gain = 1.0, gamma = 0.42`` here). The clip is left out so the curve is a
bijection of [0, ∞); a ``clip`` filter after the stage clips.

``mode = "table"``: a table ``t_0 ≤ t_1 ≤ … ≤ t_{N−1}`` (N ≥ 2, values in [0, 1])
of outputs at the equally spaced inputs ``k / (N − 1)``, linearly interpolated,
and extended beyond [0, 1] by its first and last segments::

    k = min(max(floor(x·(N−1)), 0), N − 2),   f = x·(N−1) − k
    y = t_k + f · (t_{k+1} − t_k)

The forward stage accepts any non-decreasing table; a decreasing one is refused.

Inverse (``gamma_curve_inverse``, exact): the power's closed form, or for a
table the same interpolation with inputs and outputs swapped (``k`` found by
``searchsorted`` in the table). A table has an inverse only when it is
*strictly* increasing: building the inverse of a table with two equal
neighbours (e.g. ``Pipeline.inverse()``) raises a ParamError naming them. The
inverse's error grows as ``ε / ((N − 1) · min_k (t_{k+1} − t_k))`` for the
rounding ``ε`` of the dtype, so nearly flat segments invert poorly in float32.

Parameters (power mode; scalars, per-image values and per-pixel maps allowed):
    gain: [0.25, 4], default 1 (fast-openISP's ``gain`` / 256).
    gamma: [0.1, 5], default 1 (encoding gammas are about 0.4–0.5, decoding
        2.2–2.6). Larger exponents are left out because the round trip breaks in
        float32: ``x^gamma`` underflows float32's smallest value (1.4e-45) for
        every ``x < 1.4e-45^(1/gamma)``, which is 3e-5 at gamma = 10.
Options:
    mode: ``power`` (default) or ``table``.
    table: list of N ≥ 2 values in [0, 1], non-decreasing, default ``[0, 1]``
        (the identity); used by ``mode = "table"`` only.
Shapes: ``(..., H, W, 3) -> (..., H, W, 3)``; input in [0, 1].

In fused per-pixel chains (:mod:`ispengine.kernels.fused`) both stages are a
per-channel kernel (:func:`gamma_channel`, :func:`gamma_inverse_channel`) in both
modes: power mode packs ``(0, gain, gamma)`` when both are constant scalars (per-image
values and per-pixel maps run unfused); table mode packs ``(1, N, t_0 … t_{N−1})``
(the table is a setting, always constant), and the inverse finds ``k`` by bisection.

Source: Q. Qiu, fast-openISP, github.com/QiuJueqin/fast-openISP, modules/gac.py (the
power curve); the table mode is linear interpolation of a 1-D LUT.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ispengine.core.arrays import as_param, safe_power
from ispengine.core.capabilities import Capabilities, ChannelKernel
from ispengine.core.errors import ParamError
from ispengine.core.params import SCALAR, OptionSpec, ParamSpec
from ispengine.core.settings import ArraySetting
from ispengine.core.stage import InverseStage, Stage
from plugins_builtin.canonical_stages.broadcast import against_channels

MODE_OPTION = OptionSpec(
    "mode", ("power", "table"), default="power", description="power curve or interpolated table"
)
TABLE_OPTION = ArraySetting(
    "table",
    (None,),
    default=[0.0, 1.0],
    description="outputs at equally spaced inputs in [0, 1] (mode = table)",
    low=0.0,
    high=1.0,
)


def _segments(table: Any, index: Any) -> tuple[Any, Any]:
    """The table's values at ``index`` and ``index + 1`` (``index`` an integer array)."""
    return table[index], table[index + 1]


def table_forward(x: Any, table: Any, xp: Any) -> Any:
    """Linear interpolation of ``table`` at equally spaced inputs, extended linearly."""
    last = table.shape[0] - 1
    position = x * last
    index = xp.astype(xp.clip(xp.floor(position), 0, last - 1), xp.int64)
    low, high = _segments(table, index)
    return low + (position - xp.astype(index, x.dtype)) * (high - low)


def table_inverse(y: Any, table: Any, xp: Any) -> Any:
    """The inverse of :func:`table_forward` for a strictly increasing ``table``."""
    last = table.shape[0] - 1
    index = xp.clip(xp.searchsorted(table, y, side="right") - 1, 0, last - 1)
    index = xp.astype(index, xp.int64)
    low, high = _segments(table, index)
    return (xp.astype(index, y.dtype) + (y - low) / (high - low)) / last


def gamma_channel(v: float, prm: Any, o: int) -> float:
    """The forward curve of one value (plain Python, compiled into fused chains):
    ``prm[o:] = (0, gain, gamma)`` (power) or ``(1, N, t_0, …, t_{N−1})`` (table)."""
    if prm[o] == 0.0:
        base = prm[o + 1] * max(v, 0.0)
        return base ** prm[o + 2] if base > 0.0 else 0.0
    last = int(prm[o + 1]) - 1
    position = v * last
    if not position >= 1.0:
        k = 0
    elif position >= last - 1:
        k = last - 1
    else:
        k = int(position)
    low = prm[o + 2 + k]
    return low + (position - k) * (prm[o + 3 + k] - low)


def gamma_inverse_channel(v: float, prm: Any, o: int) -> float:
    """The inverse curve of one value, with the forward's packed parameters; for a
    table, ``k`` is found by bisection like ``searchsorted(side="right") − 1``."""
    if prm[o] == 0.0:
        base = max(v, 0.0)
        return (base ** (1.0 / prm[o + 2]) if base > 0.0 else 0.0) / prm[o + 1]
    count = int(prm[o + 1])
    lo, hi = 0, count
    while lo < hi:
        mid = (lo + hi) // 2
        if prm[o + 2 + mid] <= v:
            lo = mid + 1
        else:
            hi = mid
    k = min(max(lo - 1, 0), count - 2)
    low = prm[o + 2 + k]
    return (k + (v - low) / (prm[o + 3 + k] - low)) / (count - 1)


def pack_gamma(stage: Stage) -> np.ndarray | None:
    """The ``(3, k)`` packed parameters of :func:`gamma_channel` (one row, repeated per
    channel); None in power mode unless ``gain`` and ``gamma`` are constant scalars."""
    if stage.config["mode"] == "table":
        table = np.asarray(stage.config["table"], dtype=np.float64)
        row = np.concatenate([[1.0, float(table.size)], table])
    else:
        gain, gamma = stage.values["gain"], stage.values["gamma"]
        if gain is None or gamma is None or gain.shape != () or gamma.shape != ():
            return None
        row = np.array([0.0, float(gain), float(gamma)])
    return np.tile(row, (3, 1))


class GammaCurve(Stage):
    """A power curve ``(gain·x)^gamma`` or an interpolated table, per channel."""

    name = "gamma_curve"
    params = (
        ParamSpec("gain", SCALAR, 0.25, 4.0, default=1.0, description="gain before the power"),
        ParamSpec("gamma", SCALAR, 0.1, 5.0, default=1.0, description="exponent"),
    )
    options = (MODE_OPTION, TABLE_OPTION)
    capabilities = Capabilities(channel=ChannelKernel(gamma_channel, pack_gamma))

    def __init__(self, **values: Any) -> None:
        super().__init__(**values)
        table = np.asarray(self.config["table"], dtype=np.float64)
        if table.size < 2:
            raise ParamError(key="table", message=f"needs at least 2 values, got {table.size}")
        falling = np.flatnonzero(np.diff(table) < 0)
        if falling.size:
            k = int(falling[0])
            raise ParamError(
                key="table",
                message=f"must be non-decreasing: entry {k} ({table[k]:g}) > entry {k + 1} "
                f"({table[k + 1]:g})",
            )

    def _table(self, x: Any, xp: Any) -> Any:
        return as_param(np.asarray(self.config["table"], dtype=np.float64), x, xp)

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        if self.config["mode"] == "table":
            return table_forward(x, self._table(x, xp), xp)
        gain, gamma = against_channels(p["gain"]), against_channels(p["gamma"])
        return safe_power(gain * xp.maximum(x, 0.0), gamma, xp)


class GammaCurveInverse(InverseStage):
    """``y^(1/gamma) / gain``, or the swapped table interpolation (exact)."""

    name = "gamma_curve_inverse"
    forward = GammaCurve
    method = "exact"
    capabilities = Capabilities(channel=ChannelKernel(gamma_inverse_channel, pack_gamma))

    def __init__(self, **values: Any) -> None:
        super().__init__(**values)
        table = np.asarray(self.config["table"], dtype=np.float64)
        flat = np.flatnonzero(np.diff(table) <= 0)
        if self.config["mode"] == "table" and flat.size:
            k = int(flat[0])
            raise ParamError(
                key="table",
                message=f"the inverse of gamma_curve needs a strictly increasing table; "
                f"entries {k} and {k + 1} are both {table[k]:g}",
            )

    _table = GammaCurve._table

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        if self.config["mode"] == "table":
            return table_inverse(x, self._table(x, xp), xp)
        gain, gamma = against_channels(p["gain"]), against_channels(p["gamma"])
        return safe_power(xp.maximum(x, 0.0), 1.0 / gamma, xp) / gain


STAGES = (GammaCurve,)
INVERSES = (GammaCurveInverse,)
