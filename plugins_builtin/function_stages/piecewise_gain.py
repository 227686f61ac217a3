"""f_GA gain and f_CS contrast stretcher of the SemiISP / PQDynamicISP function ISP.

Both are the same monotone three-segment piecewise-linear map of [0, 1] onto
[0, 1], with per-channel parameters ``p_x, p_w, p_h``::

    a = p_x (1 − p_w)                                   window start
    f(i) = (1 − p_h)/(1 − p_w) · i                      if i < a
         = (p_h/p_w)(i − a) + p_x (1 − p_h)             if a ≤ i ≤ a + p_w
         = (1 − p_h)/(1 − p_w) · i + (p_h − p_w)/(1 − p_w)   otherwise

The window ``[a, a + p_w]`` of the input is mapped onto a window of height
``p_h``. f(0) = 0, f(1) = 1, continuous, never clips. Exact inverse: the same
map with ``p_w`` and ``p_h`` swapped.

Parameter ranges (per channel): ``p_x`` in [0, 1]; ``p_w`` and ``p_h`` in
[0.05, 0.95], which bounds every slope to [1/19, 19] so the inverse stays
accurate at float32 precision. ``p_w == p_h`` is the identity (the default).

Source: M. Yoshimura, J. Otsuka, R. Berdan, T. Ohashi, "SemiISP/SemiIE: Semi-Supervised
Image Signal Processor and Image Enhancement Leveraging One-to-Many Mapping
sRGB-to-RAW", arXiv:2504.02345, 2025 (SemiISP), appendix A.1
Eqs. 18–19 (f_GA and its inverse; f_CS is the same function).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ispengine.core.capabilities import Capabilities, ChannelKernel
from ispengine.core.params import PER_CHANNEL, ParamSpec
from ispengine.core.stage import InverseStage, Stage
from ispengine.kernels.fused import constant_channel_params

WINDOW_PARAMS = (
    ParamSpec(
        "p_x",
        PER_CHANNEL,
        0.0,
        1.0,
        default=0.5,
        description="window position: start = p_x (1 - p_w)",
    ),
    ParamSpec(
        "p_w", PER_CHANNEL, 0.05, 0.95, default=0.5, description="window width on the input side"
    ),
    ParamSpec(
        "p_h", PER_CHANNEL, 0.05, 0.95, default=0.5, description="window height on the output side"
    ),
)


def piecewise_gain(x: Any, p_x: Any, p_w: Any, p_h: Any, xp: Any) -> Any:
    """The f_GA / f_CS map, elementwise, parameters broadcast against ``x``."""
    start = p_x * (1 - p_w)
    outer_slope = (1 - p_h) / (1 - p_w)
    below = outer_slope * x
    inside = (p_h / p_w) * (x - start) + p_x * (1 - p_h)
    above = outer_slope * x + (p_h - p_w) / (1 - p_w)
    return xp.where(x < start, below, xp.where(x <= start + p_w, inside, above))


def piecewise_gain_channel(v: float, prm: Any, o: int) -> float:
    """The map for one value (fused kernels), coefficients of
    :func:`piecewise_gain_coefficients` at ``prm[o:o + 5]``.

    Branch-free on the pixel value: the map is the lower line, the window line
    and the upper line combined by min/max (which order depends only on whether
    the window is steeper than the outer segments, a per-channel constant).
    """
    lower = prm[o] * v
    window = prm[o + 1] * v + prm[o + 2]
    upper = prm[o] * v + prm[o + 3]
    if prm[o + 4] > 0.5:  # window steeper than the outer segments
        return min(max(lower, window), upper)
    return max(min(lower, window), upper)


def piecewise_gain_coefficients(window: np.ndarray | None) -> np.ndarray | None:
    """Per channel ``[outer slope, window slope, window offset, upper offset, steep]``
    from ``(3, 3)`` rows of ``p_x, p_w, p_h`` (precomputed: kernels never divide)."""
    if window is None:
        return None
    p_x, p_w, p_h = window[:, 0], window[:, 1], window[:, 2]
    outer = (1 - p_h) / (1 - p_w)
    inner = p_h / p_w
    offset = p_x * (1 - p_h) - inner * p_x * (1 - p_w)
    steep = (inner > outer).astype(np.float64)
    return np.stack([outer, inner, offset, (p_h - p_w) / (1 - p_w), steep], axis=-1)


class Gain(Stage):
    """f_GA: per-channel piecewise-linear gain, ``(..., H, W, 3)``."""

    name = "gain"
    params = WINDOW_PARAMS

    def channel_params(self) -> np.ndarray | None:
        """The fused kernel's coefficients (None unless the parameters are constants)."""
        return piecewise_gain_coefficients(constant_channel_params(self, ("p_x", "p_w", "p_h")))

    capabilities = Capabilities(channel=ChannelKernel(piecewise_gain_channel, channel_params))

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        return piecewise_gain(x, p["p_x"], p["p_w"], p["p_h"], xp)


class GainInverse(InverseStage):
    """f_GA⁻¹: the gain with ``p_w`` and ``p_h`` swapped (exact)."""

    name = "gain_inverse"
    forward = Gain
    method = "exact"

    def channel_params(self) -> np.ndarray | None:
        """The fused kernel's coefficients (None unless the parameters are constants)."""
        return piecewise_gain_coefficients(constant_channel_params(self, ("p_x", "p_h", "p_w")))

    capabilities = Capabilities(channel=ChannelKernel(piecewise_gain_channel, channel_params))

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        return piecewise_gain(x, p["p_x"], p["p_h"], p["p_w"], xp)


class ContrastStretch(Gain):
    """f_CS: the contrast stretcher, the gain's map with its own parameters."""

    name = "contrast_stretch"


class ContrastStretchInverse(GainInverse):
    """f_CS⁻¹ (exact)."""

    name = "contrast_stretch_inverse"
    forward = ContrastStretch
