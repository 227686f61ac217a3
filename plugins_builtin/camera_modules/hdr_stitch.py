"""HDR stitching of a long and a short exposure of the same scene, on Bayer mosaics.

``x`` is the long exposure and ``short`` the short one, both black-levelled and
normalised (white = 1), aligned site for site; ``ratio`` is the exposure ratio
long/short, so ``ratio·short`` estimates what the long exposure would read
without saturating. Where the long exposure nears its white point it is
replaced by that estimate, with a smooth weight::

    m = max of x over the site's 2×2 Bayer cell (rows 2i, 2i + 1, columns 2j, 2j + 1)
    s = clip((m − knee) / (1 − knee), 0, 1)
    w = s²·(3 − 2s)                                   (smoothstep: w = 0 below knee, 1 at 1)
    y = (1 − w)·x + w·ratio·short

Below the knee the long exposure (less noisy) is kept as it is; at the long
exposure's white point (``x = 1``, clipped) only the short one counts, so a
scene clipped in the long exposure is recovered wherever the short one is not
clipped too. The weight is the same for the four sites of a cell, so a cell
switches exposure as a whole and the colour of a highlight does not shift where
one colour saturates first. The output is linear, on the long exposure's scale:
values above 1 (up to ``ratio``) are the highlights the long exposure clipped;
later stages (tone mapping) compress them.

This is the weighted merge of exposures scaled by their exposure times
(Debevec & Malik), with a weight that trusts the longest exposure wherever it
is not near saturation, as sensor-side DOL/staggered HDR merges do. No motion
compensation: the two exposures must show the same scene.

Parameters:
    short: the short exposure, a per-pixel map of the mosaic's shape (``(..., H, W)``)
        with values in [0, 1]; required, no default (a forgotten map must not
        silently read as black). Given per call: ``stage(long, {"short": short})``,
        or ``pipeline(long, {"hdr_stitch": {"short": short}})`` with the stage's label.
        A TOML spec must give every required parameter and ``from_metadata`` takes
        only the camera's metadata keys, so a spec writes a constant placeholder
        (``params = { short = 0.0 }``) that the per-call map replaces.
    ratio: exposure ratio long/short, scalar in [1, 64], default 4; constant or per image.
    knee: where the blend starts, scalar in [0, 0.99], default 0.8; constant or per image.
Options:
    pattern: the Bayer pattern; accepted so that specs can take it from the file's
        metadata like every mosaic stage, but the result is the same for all four
        patterns (every 2×2 cell holds one site of each CFA channel).
Shapes: ``(..., H, W) -> (..., H, W)``, H and W even; output in [0, ratio].
A filter: never inverted (the long exposure's clipped values are discarded).

Source: P. E. Debevec, J. Malik, "Recovering high dynamic range radiance maps from
photographs", SIGGRAPH 1997, §2.2 (eq. 6, the weighted merge of exposures divided by
their exposure times). Infinite-ISP's ``hdr_stitching`` module (10xEngineers,
Infinite-ISP) is a pass-through placeholder, so nothing is taken from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ispengine.core.cfa import interleave
from ispengine.core.params import SCALAR, ParamSpec
from ispengine.core.stage import Stage
from plugins_builtin.canonical_stages.cfa import PATTERN_OPTION


def cell_maximum(x: Any, xp: Any) -> Any:
    """Every site's 2×2 Bayer-cell maximum, ``(..., H, W) -> (..., H, W)``."""
    sites = [x[..., a::2, b::2] for a in (0, 1) for b in (0, 1)]
    highest = xp.maximum(xp.maximum(sites[0], sites[1]), xp.maximum(sites[2], sites[3]))
    return interleave({(a, b): highest for a in (0, 1) for b in (0, 1)}, xp)


def long_exposure_weight(x: Any, knee: Any, xp: Any) -> Any:
    """The weight ``w`` of the short exposure at every site (see the module docstring)."""
    s = xp.clip((cell_maximum(x, xp) - knee) / (1 - knee), 0.0, 1.0)
    return s * s * (3 - 2 * s)


class HdrStitch(Stage):
    """Replace the long exposure near saturation by ``ratio`` times the short one,
    ``(..., H, W) -> (..., H, W)``."""

    name = "hdr_stitch"
    params = (
        ParamSpec(
            "short",
            SCALAR,
            0.0,
            1.0,
            description="the short exposure, a per-pixel map of the mosaic's shape",
        ),
        ParamSpec(
            "ratio",
            SCALAR,
            1.0,
            64.0,
            default=4.0,
            local=False,
            description="exposure ratio long / short",
        ),
        ParamSpec(
            "knee",
            SCALAR,
            0.0,
            0.99,
            default=0.8,
            local=False,
            description="long-exposure level where the blend towards the short one starts",
        ),
    )
    options = (PATTERN_OPTION,)
    input_layout = "mosaic"
    output_layout = "mosaic"
    needs_even_size = True

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        weight = long_exposure_weight(x, p["knee"], xp)
        return x + weight * (p["ratio"] * p["short"] - x)


FILTERS = (HdrStitch,)
