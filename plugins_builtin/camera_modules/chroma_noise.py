"""Chroma noise filter on a white-balanced Bayer mosaic (fast-openISP's CNF).

Works on the CFA planes ``R, Gr, Gb, B`` (each ``H/2 × W/2``); green sites are
never changed. With ``mean5`` the 5×5 box mean on a plane (the plane reflect-padded
by two samples)::

    R̄ = mean5(R),   B̄ = mean5(B),   Ḡ = (mean5(Gr) + mean5(Gb)) / 2
    Y = (306·R̄ + 601·Ḡ + 117·B̄) / 1024                     (BT.601 luma of the local means)

Detection: a red site is chroma noise when it stands above both other colours'
local means, its own local mean stands above the green one, and that mean does
not exceed the blue one by the threshold ``t``::

    noisy_R = (R − Ḡ > t) and (R − B̄ > t) and (R̄ − Ḡ > t) and (R̄ − B̄ < t)

(and likewise for blue with R and B swapped). Correction of a noisy red site:
pull it towards the larger of the other two local means, ``m = max(Ḡ, B̄)``,
by a factor that depends on the red white-balance gain (noise amplified more
is damped more), and fade the correction out in bright areas and where the red
mean is high::

    damp = 1 for g_R <= 1,  1/2 for 1 < g_R <= 1229/1024,  77/256 for g_R > 1229/1024
    pulled = m + damp·(R − m)
    f = f_Y(Y) · f_C(R̄)
    y_R = f·pulled + (1 − f)·R = R − f·(1 − damp)·(R − m)

where ``g_R = gains[R] / gains[G]`` (``g_B`` for blue sites, whose ``m = max(Ḡ, R̄)``
and ``f_C(B̄)``), and the step functions (breakpoints ``v`` on the source's 10-bit
scale, so ``v/1023`` here; each step holds up to and including its breakpoint)::

    f_Y: Y <= 30: 1, <= 50: 0.9, <= 70: 0.8, <= 100: 0.7, <= 150: 0.6, <= 200: 0.3,
         <= 250: 0.1, above: 0
    f_C: C <= 30: 1, <= 50: 0.9, <= 70: 0.8, <= 100: 0.6, <= 150: 0.5, <= 200: 0.3,
         above: 0

Note that with a gain of at most 1 the damping is 1 and the site is unchanged.
A corrected site lies between ``m`` and its input value, so data in [0, 1] stays
in [0, 1] (the source's final clip to the white level is not needed).

Conversion from the source's integers: ``diff_threshold`` and the breakpoints are
10-bit digital numbers of its test data (white 1023), divided by 1023 here; the
gains are ×1024 (fast-openISP's test configuration: ``r_gain = 1860``, ``b_gain =
1280``, i.e. ``gains = [1.816, 1, 1.25]``); its right shifts and integer casts
(rounding down) are exact divisions here.

Parameters:
    diff_threshold: scalar in [0, 1], default 0 (fast-openISP's test configuration);
        per-pixel maps allowed.
    gains: per colour (R, G, B) in [0.05, 20], default 1: the white-balance gains
        applied before (``from_metadata = { gains = "wb_gains" }``); only
        ``gains[R]/gains[G]`` and ``gains[B]/gains[G]`` are used. Constant or per image.
Options:
    pattern: the Bayer pattern (which sites are red and blue).
Input: the black-levelled, white-balanced mosaic (fast-openISP runs CNF after AWB).
Shapes: ``(..., H, W) -> (..., H, W)``, H and W even. A filter: never inverted.

Source: Q. Qiu, fast-openISP, github.com/QiuJueqin/fast-openISP, modules/cnf.py (2021),
after openISP's CNF module (cruxopen, openISP).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ispengine.core.cfa import merge_cfa, split_cfa
from ispengine.core.params import PER_CHANNEL, SCALAR, ParamSpec
from ispengine.core.stage import Stage
from plugins_builtin.camera_modules.mosaic_window import reflect_pad
from plugins_builtin.canonical_stages.cfa import PATTERN_OPTION
from plugins_builtin.canonical_stages.white_balance import GAIN_RANGE

WHITE_10_BIT = 1023.0
LUMA_WEIGHTS = (306 / 1024, 601 / 1024, 117 / 1024)
# (upper breakpoint on the 10-bit scale, fade) for f_Y and f_C; above the last: 0.
LUMA_FADE = ((30, 1.0), (50, 0.9), (70, 0.8), (100, 0.7), (150, 0.6), (200, 0.3), (250, 0.1))
CHROMA_FADE = ((30, 1.0), (50, 0.9), (70, 0.8), (100, 0.6), (150, 0.5), (200, 0.3))
# (upper gain bound, damping); above the last: 77/256.
DAMPING = ((1.0, 1.0), (1229 / 1024, 0.5))
STRONG_DAMPING = 77 / 256


def box_mean5(plane: Any, xp: Any) -> Any:
    """The 5×5 mean of a plane ``(..., h, w)``, reflect-padded by 2 (separable sums)."""
    height, width = plane.shape[-2:]
    padded = reflect_pad(plane, 2, xp)
    rows = sum(padded[..., d : d + height, :] for d in range(5))
    return sum(rows[..., :, d : d + width] for d in range(5)) / 25


def step(value: Any, steps: tuple[tuple[float, float], ...], above: float, xp: Any) -> Any:
    """``steps[k][1]`` for the first breakpoint ``steps[k][0]/1023`` with ``value <=`` it,
    ``above`` past the last."""
    out = xp.full_like(value, above)
    for breakpoint, level in reversed(steps):
        out = xp.where(value <= breakpoint / WHITE_10_BIT, level, out)
    return out


def damping(gain: Any, xp: Any) -> Any:
    """The damping factor for a colour's white-balance gain relative to green."""
    out = xp.full_like(gain, STRONG_DAMPING)
    for bound, level in reversed(DAMPING):
        out = xp.where(gain <= bound, level, out)
    return out


def filter_chroma_noise(x: Any, threshold: Any, gains: Any, pattern: str, xp: Any) -> Any:
    """The module's math on a mosaic ``(..., H, W)`` (see the module docstring)."""
    red, green_r, green_b, blue = split_cfa(x, pattern)
    if threshold.ndim >= 2:  # per image or per pixel: the red and blue sites' values
        t_red, _, _, t_blue = split_cfa(xp.broadcast_to(threshold, x.shape), pattern)
    else:
        t_red = t_blue = threshold
    mean_r, mean_b = box_mean5(red, xp), box_mean5(blue, xp)
    mean_g = (box_mean5(green_r, xp) + box_mean5(green_b, xp)) / 2
    luma = LUMA_WEIGHTS[0] * mean_r + LUMA_WEIGHTS[1] * mean_g + LUMA_WEIGHTS[2] * mean_b
    luma_fade = step(luma, LUMA_FADE, 0.0, xp)

    def corrected(c: Any, own: Any, other: Any, gain: Any, t: Any) -> Any:
        noisy = (c - mean_g > t) & (c - other > t) & (own - mean_g > t) & (own - other < t)
        fade = luma_fade * step(own, CHROMA_FADE, 0.0, xp)
        target = xp.maximum(mean_g, other)
        return xp.where(noisy, c - fade * (1 - damping(gain, xp)) * (c - target), c)

    green = gains[..., 1]
    red_out = corrected(red, mean_r, mean_b, gains[..., 0] / green, t_red)
    blue_out = corrected(blue, mean_b, mean_r, gains[..., 2] / green, t_blue)
    return merge_cfa([red_out, green_r, green_b, blue_out], pattern, xp)


class ChromaNoiseFilter(Stage):
    """Pull isolated red/blue excursions towards the local means (fast-openISP's CNF),
    ``(..., H, W) -> (..., H, W)``."""

    name = "chroma_noise_filter"
    params = (
        ParamSpec(
            "diff_threshold",
            SCALAR,
            0.0,
            1.0,
            default=0.0,
            description="detection threshold, normalised (fast-openISP's value / 1023)",
        ),
        ParamSpec(
            "gains",
            PER_CHANNEL,
            *GAIN_RANGE,
            default=1.0,
            local=False,
            description="the white-balance gains applied before (R, G, B); R/G and B/G "
            "set the damping",
        ),
    )
    options = (PATTERN_OPTION,)
    input_layout = "mosaic"
    output_layout = "mosaic"
    needs_even_size = True

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        return filter_chroma_noise(x, p["diff_threshold"], p["gains"], self.config["pattern"], xp)


FILTERS = (ChromaNoiseFilter,)
