"""Automatic exposure: a digital gain so that a luminance statistic reaches a target.

Per image, with the luminance ``L = 0.2126 R + 0.7152 G + 0.0722 B`` (BT.709 /
linear sRGB primaries)::

    s = mean(L)                                      mode = "mean"
    s = percentile(L, percentile)                    mode = "histogram"
    gain = clip(target / s, min_gain, max_gain)      (mean; max_gain when s <= 0)
    gain = clip(target_percentile_value / s, ...)    (histogram)
    y = gain · x

``mode = "mean"`` with the default target 0.18 is average metering to
photographic mid-grey (Reinhard et al.'s "normal key" a = 0.18, on linear data);
``mode = "histogram"`` places a high percentile of the histogram (default the
99th) at ``target_percentile_value`` (default 0.9), keeping the highlights below
white. Values are not clipped. A filter: the gain depends on the image.

Reporting: as ``auto_white_balance`` does, each call logs its gain on the
``logging`` logger ``"ispengine.camera_modules"`` at INFO level (one line per
image: ``auto_exposure (mean): image 0 gain …``) and keeps the
gains in the stage's ``last_gain`` attribute (float64, shape ``batch``);
:func:`estimate_gain` returns the gain without applying it.

Options (constant per pipeline):
    mode: ``mean`` (default) or ``histogram``.
    target: [0.05, 0.9], default 0.18 (mean mode).
    percentile: [50, 100], default 99 (histogram mode).
    target_percentile_value: [0.05, 1], default 0.9 (histogram mode).
    min_gain: [0.01, 1], default 0.125; max_gain: [1, 64], default 16.
Shapes: ``(..., H, W, 3) -> (..., H, W, 3)``; linear RGB input. numpy arrays
only (other array types raise an InputError).

Source: E. Reinhard, M. Stark, P. Shirley, J. Ferwerda, "Photographic tone reproduction
for digital images", SIGGRAPH 2002, §3.1 (the key value 0.18 of a normal-key scene).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from ispengine.core.arrays import as_param, to_host
from ispengine.core.errors import InputError
from ispengine.core.params import OptionSpec
from ispengine.core.settings import FloatSetting
from ispengine.core.stage import Stage
from plugins_builtin.filters.local_tone_map import luminance

LOGGER = logging.getLogger("ispengine.camera_modules")

MODES = ("mean", "histogram")


def luminance_statistic(image: np.ndarray, mode: str, percentile: float = 99.0) -> np.ndarray:
    """The mean (or ``percentile``-th percentile) luminance of each image, shape ``batch``."""
    lum = luminance(image.astype(np.float64, copy=False), np)
    if mode == "mean":
        return lum.mean(axis=(-2, -1))
    return np.percentile(lum.reshape(lum.shape[:-2] + (-1,)), percentile, axis=-1)


def estimate_gain(
    image: Any,
    mode: str = "mean",
    *,
    target: float = 0.18,
    percentile: float = 99.0,
    target_percentile_value: float = 0.9,
    min_gain: float = 0.125,
    max_gain: float = 16.0,
) -> np.ndarray:
    """The exposure gain of RGB images ``(..., H, W, 3)``: float64 of shape ``batch``."""
    if not isinstance(image, np.ndarray):
        raise InputError(f"auto_exposure: the estimate runs in numpy; got {type(image).__name__}")
    if image.ndim < 3 or image.shape[-1] != 3:
        raise InputError(f"auto_exposure: expected (..., H, W, 3), got {image.shape}")
    if mode not in MODES:
        raise InputError(f"auto_exposure: unknown mode {mode!r} ({', '.join(MODES)})")
    statistic = luminance_statistic(image, mode, percentile)
    goal = target if mode == "mean" else target_percentile_value
    positive = statistic > 0
    gain = np.where(positive, goal / np.where(positive, statistic, 1.0), max_gain)
    return np.clip(gain, min_gain, max_gain)


class AutoExposure(Stage):
    """A digital gain bringing the mean or a percentile of luminance to a target."""

    name = "auto_exposure"
    options = (
        OptionSpec("mode", MODES, default="mean", description="statistic: mean or percentile"),
        FloatSetting("target", 0.18, "mean luminance target", low=0.05, high=0.9),
        FloatSetting("percentile", 99.0, "histogram percentile", low=50.0, high=100.0),
        FloatSetting(
            "target_percentile_value", 0.9, "value the percentile reaches", low=0.05, high=1.0
        ),
        FloatSetting("min_gain", 0.125, "smallest gain", low=0.01, high=1.0),
        FloatSetting("max_gain", 16.0, "largest gain", low=1.0, high=64.0),
    )
    last_gain: np.ndarray | None = None

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        """The gain is estimated on the host (a device image is copied there once) and
        applied on the image's device."""
        settings = {k: v for k, v in self.config.items() if k != "mode"}
        gain = estimate_gain(to_host(x), self.config["mode"], **settings)
        self.last_gain = gain
        for index, value in enumerate(np.reshape(gain, (-1,))):
            LOGGER.info("%s (%s): image %d gain %.6g", self.name, self.config["mode"], index, value)
        return x * as_param(gain[..., None, None, None], x, xp)


FILTERS = (AutoExposure,)
