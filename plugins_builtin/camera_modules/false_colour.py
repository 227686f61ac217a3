"""False-colour suppression: chroma pulled to neutral on luma edges (fast-openISP's ``fcs``).

Input: YCbCr ``(..., H, W, 3)`` with Y in channel 0 and Cb, Cr (centred on 0.5) in
channels 1–2, as after a colour-space conversion; only Cb and Cr change. Demosaicing
leaves coloured fringes along sharp luma edges; this stage desaturates them. With
the edge map of :mod:`.edge_enhancement` (the luma minus its 5×5 Gaussian blur,
σ = 1.2) and the thresholds ``d_min <= d_max``::

    e    = |Y − G * Y|
    k    = clip((d_max − e) / (d_max − d_min), 0, 1)   (k = [e < d_max] when d_min = d_max)
    C'   = 0.5 + k · (C − 0.5)                          (C = Cb, Cr)

so chroma is kept where ``e <= d_min``, set to neutral (0.5) where ``e >= d_max`` and
scaled linearly in between. fast-openISP works on 8-bit YCbCr (neutral 128) with the
thresholds in 8-bit levels (test configuration: ``delta_min 8``, ``delta_max 32``);
here they are divided by 255 (defaults 8/255, 32/255), and computed in floats
instead of its 16-bit fixed point.

fast-openISP takes the edge map that its edge enhancement computed from the luma
*before* enhancing it; this stage computes it from its own input's luma. The two
stages touch different channels, so ``false_colour_suppression`` placed just before
``edge_enhancement`` gives fast-openISP's result exactly.

Parameters (constant, per image or per-pixel maps):
    delta_min: scalar in [0, 1], default 8/255.
    delta_max: scalar in [0, 1], default 32/255; at least ``delta_min``.
Shapes: ``(..., H, W, 3) -> (..., H, W, 3)``, numpy arrays only (other array types
are refused with an :class:`InputError`). No inverse.

Source: Q. Qiu, fast-openISP, github.com/QiuJueqin/fast-openISP, modules/fcs.py (and
modules/eeh.py for the edge map).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ispengine.core.params import SCALAR, ParamSpec
from ispengine.core.stage import Stage
from plugins_builtin.camera_modules.bilateral_denoise import numpy_only
from plugins_builtin.camera_modules.edge_enhancement import edge_map, threshold_pair

NEUTRAL = 0.5
_kernels: dict[str, Any] = {}


def _build() -> Any:
    import numba

    @numba.njit(parallel=True, cache=True, nogil=True)
    def suppress(x, edge, low, high, out):  # noqa: ANN001, ANN202
        pixels = edge.shape[0]
        span = high - low
        inv = 1.0 / span if span > 0 else 0.0
        for n in numba.prange(pixels):
            strength = abs(edge[n])
            if span > 0:
                keep = min(max((high - strength) * inv, 0.0), 1.0)
            else:
                keep = 1.0 if strength < high else 0.0
            out[n, 0] = x[n, 0]
            out[n, 1] = NEUTRAL + keep * (x[n, 1] - NEUTRAL)
            out[n, 2] = NEUTRAL + keep * (x[n, 2] - NEUTRAL)

    return suppress


class FalseColourSuppression(Stage):
    """Desaturate the chroma on luma edges, ``(..., H, W, 3) -> (..., H, W, 3)``."""

    name = "false_colour_suppression"
    runs_on_host = True  # Numba/numpy CPU code: device inputs go through the host
    params = (
        ParamSpec(
            "delta_min",
            SCALAR,
            0.0,
            1.0,
            default=8.0 / 255.0,
            description="edge strength up to which chroma is kept (8-bit value / 255)",
        ),
        ParamSpec(
            "delta_max",
            SCALAR,
            0.0,
            1.0,
            default=32.0 / 255.0,
            description="edge strength from which chroma is neutral (8-bit value / 255)",
        ),
    )
    input_range = (0.0, 1.0)

    @classmethod
    def check_params(cls, values: Mapping[str, np.ndarray]) -> None:
        threshold_pair(values, "delta_min", "delta_max")

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        x = numpy_only(x, self.name)
        low, high = p["delta_min"], p["delta_max"]
        if np.size(low) == 1 and np.size(high) == 1 and x.dtype in (np.float32, np.float64):
            # constant thresholds: one compiled pass over the pixels
            if "suppress" not in _kernels:
                _kernels["suppress"] = _build()
            edge = edge_map(np.ascontiguousarray(x[..., 0]))
            flat = np.ascontiguousarray(x).reshape(-1, 3)
            out = np.empty_like(flat)
            _kernels["suppress"](flat, edge.reshape(-1), float(low), float(high), out)
            return out.reshape(x.shape)
        strength = np.abs(edge_map(x[..., 0]))
        span = high - low
        ramp = np.clip((high - strength) / np.where(span > 0, span, 1.0), 0.0, 1.0)
        keep = np.where(span > 0, ramp, (strength < high).astype(x.dtype))
        out = x.copy()
        out[..., 1:] = NEUTRAL + keep[..., None] * (x[..., 1:] - NEUTRAL)
        return out


FILTERS = (FalseColourSuppression,)
