"""Edge enhancement of the luma with flat and edge thresholds (fast-openISP's ``eeh``).

Input: YCbCr ``(..., H, W, 3)`` with Y in channel 0 and Cb, Cr (centred on 0.5) in
channels 1–2, as after a colour-space conversion; only Y changes. The edge map is
the luma minus its 5×5 Gaussian blur (σ = 1.2 pixels, weights normalised to sum 1,
the luma mirrored at the borders with numpy's ``reflect``, ``d c b | a b c d | c b a``)::

    d = Y − G * Y,    a = |d|

and the added detail a piecewise-linear function of ``a`` with the gain ``g``, the flat
threshold ``t1``, the edge threshold ``t2`` and the cap ``c``::

    e(a) = 0                          a <= t1          (flat: noise left alone)
    e(a) = g · t2 · (a − t1)/(t2 − t1)  t1 < a <= t2     (ramp, continuous at both ends)
    e(a) = g · a                      a > t2           (edges: detail times g)
    Y'   = clip(Y + sign(d) · min(e(a), c), 0, 1)

(unsharp masking with coring: R. C. Gonzalez, R. E. Woods, "Digital Image
Processing", 4th ed., 2018, §3.6). fast-openISP works on 8-bit luma with the gain
×256 and the thresholds in 8-bit levels (test configuration: ``edge_gain 384``,
``flat_threshold 4``, ``edge_threshold 8``, ``delta_threshold 64``); here the gain
is ``edge_gain / 256`` (default 1.5) and the thresholds are divided by 255 (defaults
4/255, 8/255, 64/255). fast-openISP rounds the blur and the products to integers;
this stage computes in floats. Like fast-openISP, it clips the luma to [0, 1].

Parameters (all constant, per image or per-pixel maps):
    edge_gain: scalar in [0, 16], default 1.5.
    flat_threshold: scalar in [0, 1], default 4/255.
    edge_threshold: scalar in [0, 1], default 8/255; at least ``flat_threshold``.
    delta_threshold: scalar in [0, 1], default 64/255 (largest change of the luma).
Shapes: ``(..., H, W, 3) -> (..., H, W, 3)``, numpy arrays only (scipy's separable
correlation; other array types are refused with an :class:`InputError`). No inverse.

Source: Q. Qiu, fast-openISP, github.com/QiuJueqin/fast-openISP, modules/eeh.py and
modules/helpers.py (``gen_gaussian_kernel``, ``generic_filter``); R. C. Gonzalez,
R. E. Woods, "Digital Image Processing", 4th ed., 2018, §3.6.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ispengine.core.errors import ParamError
from ispengine.core.params import SCALAR, ParamSpec
from ispengine.core.stage import Stage
from plugins_builtin.camera_modules.bilateral_denoise import numpy_only

EDGE_KERNEL_SIZE = 5
EDGE_SIGMA = 1.2


def edge_kernel() -> np.ndarray:
    """The 1-D factor of fast-openISP's 5×5 Gaussian (σ = 1.2), normalised to sum 1."""
    offsets = np.arange(EDGE_KERNEL_SIZE, dtype=np.float64) - EDGE_KERNEL_SIZE // 2
    weights = np.exp(-(offsets**2) / (2.0 * EDGE_SIGMA**2))
    return weights / weights.sum()


def edge_map(luma: np.ndarray) -> np.ndarray:
    """``Y − G * Y`` of luma planes ``(..., H, W)`` (numpy's ``reflect`` borders, which
    are scipy's ``mirror``)."""
    from scipy.ndimage import correlate1d

    weights = edge_kernel()
    blurred = correlate1d(luma, weights, axis=-2, mode="mirror")
    blurred = correlate1d(blurred, weights, axis=-1, mode="mirror")
    return luma - blurred


def threshold_pair(values: Mapping[str, np.ndarray], low: str, high: str) -> None:
    """Raise a :class:`ParamError` when ``values[low] > values[high]`` anywhere."""
    if low in values and high in values and np.any(values[low] > values[high]):
        raise ParamError(key=high, message=f"must be at least {low}")


class EdgeEnhancement(Stage):
    """Cored, capped unsharp masking of the luma, ``(..., H, W, 3) -> (..., H, W, 3)``."""

    name = "edge_enhancement"
    runs_on_host = True  # Numba/numpy CPU code: device inputs go through the host
    params = (
        ParamSpec("edge_gain", SCALAR, 0.0, 16.0, default=1.5, description="detail gain"),
        ParamSpec(
            "flat_threshold",
            SCALAR,
            0.0,
            1.0,
            default=4.0 / 255.0,
            description="detail at or below it is left out (8-bit value / 255)",
        ),
        ParamSpec(
            "edge_threshold",
            SCALAR,
            0.0,
            1.0,
            default=8.0 / 255.0,
            description="detail above it is multiplied by edge_gain (8-bit value / 255)",
        ),
        ParamSpec(
            "delta_threshold",
            SCALAR,
            0.0,
            1.0,
            default=64.0 / 255.0,
            description="largest change of the luma (8-bit value / 255)",
        ),
    )
    input_range = (0.0, 1.0)

    @classmethod
    def check_params(cls, values: Mapping[str, np.ndarray]) -> None:
        threshold_pair(values, "flat_threshold", "edge_threshold")

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        x = numpy_only(x, self.name)
        luma = x[..., 0]
        delta = edge_map(luma)
        gain, flat, edge = p["edge_gain"], p["flat_threshold"], p["edge_threshold"]
        size = np.abs(delta)
        span = edge - flat
        ramp = gain * edge * (size - flat) / np.where(span > 0, span, 1.0)
        enhanced = np.where(size > edge, gain * size, np.where(size > flat, ramp, 0.0))
        enhanced = np.minimum(enhanced, p["delta_threshold"])
        out = x.copy()
        out[..., 0] = np.clip(luma + np.sign(delta) * enhanced, 0.0, 1.0)
        return out


FILTERS = (EdgeEnhancement,)
