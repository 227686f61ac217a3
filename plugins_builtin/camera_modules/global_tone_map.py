"""Global tone mapping: Reinhard's photographic operator on luminance, colour kept.

With the luminance ``L_w = 0.2126 R + 0.7152 G + 0.0722 B`` (ITU-R BT.709 /
linear sRGB primaries) and ``L = exposure · max(L_w, 0)``::

    L_d = L (1 + L / white²) / (1 + L)          operator = "extended" (eq. 4)
    L_d = L / (1 + L)                           operator = "simple"   (eq. 3; white = ∞)
    RGB_out = RGB_in · L_d / L_w  =  RGB_in · exposure · (1 + L / white²) / (1 + L)

Every channel is multiplied by the same factor, so the chromaticity (the
ratios R : G : B) is kept. The factor is written without the division by
``L_w``, so it is ``exposure`` for black pixels; pixels of luminance ≤ 0 (noise
below black) are scaled by ``exposure``. ``exposure`` stands for Reinhard's
``a / L̄_w`` (the key over the log-average luminance, eq. 2) held constant per
pipeline, so the stage is a fixed bijection; an ``auto_exposure`` filter in
front of it adapts the exposure to the image. ``white`` is the scaled
luminance mapped to 1 (``white = 1`` makes the extended operator the identity
on luminance).

Exact inverse (``global_tone_map_inverse``). The output's luminance is
``L_d`` (luminance is linear), and ``L`` solves ``L² / white² + (1 − L_d) L − L_d = 0``,
taken in the form without cancellation (``b = 1 − L_d``, ``D = sqrt(b² + 4 L_d / white²)``)::

    L = 2 L_d / (b + D)                if b ≥ 0
    L = white² (D − b) / 2             if b < 0
    L = L_d / (1 − L_d)                (operator = "simple"; L_d < 1)
    RGB_in = RGB_out · (1 + L) / (exposure · (1 + L / white²))

Outputs of the simple operator with luminance ≥ 1 are outside its range and
come back as Inf.

Parameters (scalars; per-image values and per-pixel maps allowed):
    exposure: [0.05, 10], default 1 (scale applied to the luminance before the curve).
    white: [1, 100], default 4 (scaled luminance that maps to 1; extended operator).
Options:
    operator: ``extended`` (default, eq. 4) or ``simple`` (eq. 3, white = ∞).
Shapes: ``(..., H, W, 3) -> (..., H, W, 3)``. Input: linear scene-referred RGB, HDR
values ≥ 0 allowed; its declared input range is [0, 8] (three stops above
white), over which the float32 round trip stays within 1e-5: the simple
operator's inverse loses float32 precision as ``ε · L`` for large ``L``.

In fused per-pixel chains (:mod:`ispengine.kernels.fused`) both stages are a
per-pixel kernel (:func:`tone_map_pixel`, :func:`tone_map_inverse_pixel`) when
``exposure`` and ``white`` are constants; per-image values and per-pixel maps run
unfused.

Source: E. Reinhard, M. Stark, P. Shirley, J. Ferwerda, "Photographic tone reproduction
for digital images", ACM Transactions on Graphics (SIGGRAPH) 21(3), 2002, §3.1,
eqs. 2–4.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ispengine.core.capabilities import Capabilities, PixelKernel
from ispengine.core.params import SCALAR, OptionSpec, ParamSpec
from ispengine.core.stage import InverseStage, Stage
from plugins_builtin.filters.local_tone_map import luminance

OPERATOR_OPTION = OptionSpec(
    "operator",
    ("extended", "simple"),
    default="extended",
    description="L(1 + L/white^2)/(1 + L) (eq. 4) or L/(1 + L) (eq. 3)",
)


def _factor(scaled: Any, p: Mapping[str, Any], simple: bool) -> Any:
    """``L_d / L_w`` as a function of the scaled luminance ``L`` (≥ 0)."""
    if simple:
        return p["exposure"] / (1 + scaled)
    return p["exposure"] * (1 + scaled / (p["white"] * p["white"])) / (1 + scaled)


def tone_map_pixel(r: float, g: float, b: float, prm: Any, o: int) -> tuple:
    """The forward operator on one pixel, ``prm[o:o + 3] = (exposure, white, simple)``
    (plain Python, compiled into fused chains; self-contained, as Numba compiles it
    alone)."""
    exposure, white = prm[o], prm[o + 1]
    scaled = exposure * max(0.2126 * r + 0.7152 * g + 0.0722 * b, 0.0)
    if prm[o + 2] != 0.0:
        factor = exposure / (1.0 + scaled)
    else:
        factor = exposure * (1.0 + scaled / (white * white)) / (1.0 + scaled)
    return r * factor, g * factor, b * factor


def tone_map_inverse_pixel(r: float, g: float, b: float, prm: Any, o: int) -> tuple:
    """The inverse operator on one pixel, with the forward's packed parameters. A zero
    factor (simple operator, luminance ≥ 1) gives ±Inf or NaN, as numpy's division."""
    exposure, white = prm[o], prm[o + 1]
    mapped = max(0.2126 * r + 0.7152 * g + 0.0722 * b, 0.0)
    rest = 1.0 - mapped
    if prm[o + 2] != 0.0:
        scaled = mapped / rest if rest > 0.0 else math.inf
        factor = exposure / (1.0 + scaled)
    else:
        w2 = white * white
        root = math.sqrt(rest * rest + 4.0 * mapped / w2)
        scaled = 2.0 * mapped / (rest + root) if rest >= 0.0 else w2 * (root - rest) / 2.0
        factor = exposure * (1.0 + scaled / w2) / (1.0 + scaled)
    if factor == 0.0:
        return r * math.inf, g * math.inf, b * math.inf
    return r / factor, g / factor, b / factor


def pack_tone_map(stage: Stage) -> np.ndarray | None:
    """``(exposure, white, simple)`` for the fused kernels; None unless both parameters
    are constant scalars."""
    values = [stage.values[name] for name in ("exposure", "white")]
    if any(value is None or value.shape != () for value in values):
        return None
    simple = 1.0 if stage.config["operator"] == "simple" else 0.0
    return np.array([*(float(value) for value in values), simple])


class GlobalToneMap(Stage):
    """Reinhard's global operator on luminance, RGB scaled by ``L_d / L``."""

    name = "global_tone_map"
    params = (
        ParamSpec(
            "exposure", SCALAR, 0.05, 10.0, default=1.0, description="luminance scale (a / L_avg)"
        ),
        ParamSpec("white", SCALAR, 1.0, 100.0, default=4.0, description="scaled L mapped to 1"),
    )
    options = (OPERATOR_OPTION,)
    input_range = (0.0, 8.0)
    capabilities = Capabilities(pixel=PixelKernel(pack_tone_map, kernel=tone_map_pixel))

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        scaled = p["exposure"] * xp.maximum(luminance(x, xp), 0.0)
        factor = _factor(scaled, p, self.config["operator"] == "simple")
        return x * factor[..., None]


class GlobalToneMapInverse(InverseStage):
    """Solve Reinhard's curve for the luminance, divide RGB by the factor (exact)."""

    name = "global_tone_map_inverse"
    forward = GlobalToneMap
    method = "exact"
    capabilities = Capabilities(pixel=PixelKernel(pack_tone_map, kernel=tone_map_inverse_pixel))

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        mapped = xp.maximum(luminance(x, xp), 0.0)
        b = 1 - mapped
        simple = self.config["operator"] == "simple"
        if simple:
            inside = b > 0
            scaled = xp.where(inside, mapped / xp.where(inside, b, 1.0), float("inf"))
        else:
            w2 = p["white"] * p["white"]
            root = xp.sqrt(b * b + 4 * mapped / w2)
            scaled = xp.where(b >= 0, 2 * mapped / (b + root), w2 * (root - b) / 2)
        return x / _factor(scaled, p, simple)[..., None]


STAGES = (GlobalToneMap,)
INVERSES = (GlobalToneMapInverse,)
