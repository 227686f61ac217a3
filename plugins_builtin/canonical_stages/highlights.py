"""Highlight handling on the white-balanced Bayer mosaic: clip, pass through, or blend.

A sensor site saturates at the white level, which :mod:`.black_level` maps to 1.
White balance then multiplies each colour by its gain, so a site that was
saturated in every channel reads ``gains[c]`` in channel c: with the usual gains
(G = 1, R and B above 1) a burnt-out sky or lamp comes out magenta instead of
white. This stage, placed after ``mosaic_white_balance`` and before demosaicing,
decides what those values become. All three modes use one clip level, the value
at which the least-amplified channel saturates::

    L = min(gains[R], gains[G], gains[B])        (= 1 for gains with G = 1, R, B >= 1)

``mode = "clip"`` (default): LibRaw's default highlight mode 0, as in dcraw
``-H 0``: every site is clipped at L, so a site saturated in every channel
becomes neutral white::

    y = min(x, L)

dcraw's ``scale_colors`` normalises the white-balance multipliers so that the
smallest is 1 (in mode 0; the largest in the other modes, so that nothing clips)
and clips every channel at the white point (65535) after scaling; in this
engine's units (gains with G = 1, not renormalised) that clip is at L.
darktable's "clip highlights" mode clips at the same value (the minimum of the
channels' processed white points).

``mode = "none"``: ``y = x``, values above L kept (the magenta highlights of
LibRaw's ``highlight_mode = 1``, "unclip", before its rescaling).

``mode = "blend"``: dcraw's ``blend_highlights`` (``-H 2``, LibRaw's highlight
mode 2), applied on the mosaic the way darktable's "reconstruct in LCh" mode
does: each site looks at the 2×2 Bayer block whose top-left sample it is (the
last row and column take the block just above or left of them), with
``R``, ``G = (Gr + Gb) / 2`` and ``B`` its samples. When no sample of the block
exceeds L the site is unchanged. Otherwise, with the block's clipped colour
``(Rc, Gc, Bc)`` (each sample ``min(sample, L)``, ``Gc`` the mean of the two
clipped greens)::

    lightness = (R + G + B) / 3
    C  = √3 · (R − G),     H  = 2B − G − R       (chroma of the measured block)
    Cc = √3 · (Rc − Gc),   Hc = 2Bc − Gc − Rc   (chroma of the clipped block)
    s  = sqrt((Cc² + Hc²) / (C² + H²))          (s = 0 when C = H = 0)
    R' = lightness − s·H/6 + s·C/√12
    G' = lightness − s·H/6 − s·C/√12
    B' = lightness + s·H/3

and the site takes the one of ``R', G', B'`` of its own colour. The block keeps
the measured lightness and hue (the direction of ``(C, H)``) with the chroma of
the clipped colour, so a block saturated in every channel (clipped colour
``(L, L, L)``, chroma 0) becomes neutral, ``R' = G' = B' = lightness``. Unlike
``clip`` the result may exceed L (the lightness is not clipped; the output file
clips it, or a tone curve compresses it). The √3 chroma axes and the inverse
transform are dcraw's ``trans``/``itrans`` matrices for three colours; using the
mean of the two greens (darktable uses their maximum and minimum) and the
``C = H = 0`` guard are this module's choices.

Parameters:
    gains: per channel (R, G, B), each in [0.05, 20], default 1: the gains the
        preceding white balance applied (``from_metadata = { gains = "wb_gains" }``
        in a spec); only their minimum L is used. Constants or per-image values,
        not per pixel.
Options:
    mode: ``clip`` (default), ``none`` or ``blend``.
    pattern: the Bayer pattern (``blend`` needs each site's colour).
Input: the black-levelled, white-balanced mosaic. In every mode a mosaic whose
values all lie in [0, L] (or below 0) passes unchanged: its input range is [0, L].

Fused form: ``cfa_clip`` (:mod:`ispengine.core.capabilities`) for constant gains in
modes ``clip`` (the bound L at every site) and ``none`` (``+inf``), so a camera
front end black level → white balance → highlights → demosaic runs as one fused
pass (:mod:`ispengine.kernels.fused_mosaic`); ``blend`` reads neighbouring sites and
runs unfused.

Inverse (``highlights_inverse``, exact): the identity. It is exact on [0, L],
where every mode is the identity, so an image whose values stay at or below L
round-trips bit for bit; values the forward stage clipped (or blended) cannot
be recovered and come back as the clipped (blended) values.

Source: D. Coffin, dcraw.c (version 9.28, 2018), ``scale_colors`` (the clip
after white balance, highlight mode 0) and ``blend_highlights`` (``-H 2``);
LibRaw documentation, "Processing parameters" (``imgdata.params.highlight``:
0 clip, 1 unclip, 2 blend, 3–9 rebuild), https://www.libraw.org/docs/API-datastruct-eng.html;
darktable, ``src/iop/highlights.c`` (the "clip highlights" and "reconstruct
in LCh" modes on Bayer data).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ispengine.core.capabilities import Capabilities
from ispengine.core.cfa import CFA_CHANNELS, CFA_COLOUR, cfa_positions, merge_cfa, split_cfa
from ispengine.core.params import PER_CHANNEL, OptionSpec, ParamSpec
from ispengine.core.stage import InverseStage, Stage
from plugins_builtin.canonical_stages.cfa import PATTERN_OPTION
from plugins_builtin.canonical_stages.white_balance import GAIN_RANGE

MODES = ("clip", "none", "blend")
MODE_OPTION = OptionSpec(
    "mode",
    MODES,
    default="clip",
    description="clip at the white point (LibRaw's default), none, or blend (dcraw -H 2)",
)
SQRT3 = math.sqrt(3.0)
SQRT12 = math.sqrt(12.0)


def clip_level(gains: Any, xp: Any) -> Any:
    """The white point after white balance: the smallest of the (resolved) gains,
    ``(..., 1, 1)`` for per-image gains, ``()`` for constants."""
    return xp.min(gains, axis=-1)


def _next_cell(plane: Any, rows: int, columns: int, xp: Any) -> Any:
    """``plane`` read one cell further down (``rows``) and/or right (``columns``),
    repeating the last cell row/column at the far edge."""
    if rows:
        plane = xp.concat([plane[..., 1:, :], plane[..., -1:, :]], axis=-2)
    if columns:
        plane = xp.concat([plane[..., :, 1:], plane[..., :, -1:]], axis=-1)
    return plane


def blend(x: Any, level: Any, pattern: str, xp: Any) -> Any:
    """The ``blend`` mode on a mosaic ``(..., H, W)`` (see the module docstring)."""
    planes = split_cfa(x, pattern)
    positions = cfa_positions(pattern)
    out = []
    for k, channel in enumerate(CFA_CHANNELS):
        a, b = positions[channel]
        # The block whose top-left sample is a site at (a, b) of its cell: the CFA
        # channel at (p, q) comes from the next cell row when p < a, column when q < b.
        block = [
            _next_cell(planes[m], int(positions[c][0] < a), int(positions[c][1] < b), xp)
            for m, c in enumerate(CFA_CHANNELS)
        ]
        red, green_r, green_b, blue = block
        clipped = (red > level) | (green_r > level) | (green_b > level) | (blue > level)
        green = (green_r + green_b) / 2
        red_c, blue_c = xp.minimum(red, level), xp.minimum(blue, level)
        green_c = (xp.minimum(green_r, level) + xp.minimum(green_b, level)) / 2
        lightness = (red + green + blue) / 3
        chroma, hue = SQRT3 * (red - green), 2 * blue - green - red
        chroma_c, hue_c = SQRT3 * (red_c - green_c), 2 * blue_c - green_c - red_c
        measured, kept = chroma**2 + hue**2, chroma_c**2 + hue_c**2
        # ratio = sqrt(kept / measured), 0 where either is 0; the inner ``where``s keep
        # torch's gradients finite there (no sqrt(0) or 0 / 0 on any branch)
        both = (measured > 0) & (kept > 0)
        one = xp.ones_like(measured)
        ratio = xp.where(
            both,
            xp.sqrt(xp.where(both, kept, one) / xp.where(both, measured, one)),
            xp.zeros_like(measured),
        )
        chroma, hue = chroma * ratio, hue * ratio
        rebuilt = (
            lightness - hue / 6 + chroma / SQRT12,
            lightness - hue / 6 - chroma / SQRT12,
            lightness + hue / 3,
        )[CFA_COLOUR[k]]
        out.append(xp.where(clipped, rebuilt, planes[k]))
    return merge_cfa(out, pattern, xp)


def cfa_clip(stage: Stage) -> float | None:
    """The per-site upper bound of modes ``clip`` (L) and ``none`` (+inf), for fused
    camera front ends; None for ``blend`` or gains that are not constants."""
    mode = stage.config["mode"]
    if mode == "none":
        return math.inf
    gains = stage.values["gains"]
    if mode != "clip" or gains is None or np.ndim(gains) > 1:
        return None
    return float(np.min(gains))


class Highlights(Stage):
    """Clip (default), keep or blend the values above the white point of a white-balanced
    mosaic, ``(..., H, W) -> (..., H, W)``."""

    name = "highlights"
    params = (
        ParamSpec(
            "gains",
            PER_CHANNEL,
            *GAIN_RANGE,
            default=1.0,
            local=False,
            description="the white-balance gains applied before (R, G, B); the clip "
            "level is their minimum",
        ),
    )
    options = (MODE_OPTION, PATTERN_OPTION)
    input_layout = "mosaic"
    output_layout = "mosaic"
    needs_even_size = True
    capabilities = Capabilities(cfa_clip=cfa_clip)

    def input_domain(self) -> tuple[float, float]:
        """[0, L]: where every mode is the identity (L the smallest gain)."""
        gains = self.values["gains"]
        if gains is None:
            return self.input_range
        return (0.0, float(np.min(gains)))

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        mode = self.config["mode"]
        if mode == "none":
            return x
        level = clip_level(p["gains"], xp)
        if mode == "clip":
            return xp.minimum(x, level)
        return blend(x, level, self.config["pattern"], xp)


class HighlightsInverse(InverseStage):
    """The identity: exact on [0, L], where the forward stage changes nothing; clipped
    (or blended) highlights cannot be recovered."""

    name = "highlights_inverse"
    forward = Highlights
    method = "exact"

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        return x
