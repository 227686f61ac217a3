"""Bayer layout changes: normalising the pattern to RGGB, packing to 4 channels.

Both are permutations of the samples, so their inverses are exact.

* ``bayer_normalize`` flips a mosaic so its pattern becomes RGGB (the
  orientation trick of Liu et al. 2019, "Learning Raw Image Denoising with
  Bayer Pattern Unification and Bayer Preserving Augmentation", CVPRW):
  BGGR flips both axes, GRBG the columns, GBRG the rows. Because H and W are
  even, a flip maps the 2×2 cell onto itself with its rows or columns swapped.
  The inverse applies the same flips.
* ``pack_bayer`` gathers the four CFA channels into planes, ``(..., H, W) ->
  (..., H/2, W/2, 4)`` in the order R, Gr, Gb, B; ``unpack_bayer`` scatters
  them back.

No numeric parameters; the ``pattern`` option is one of rggb, bggr, grbg, gbrg.

Source: J. Liu et al., "Learning Raw Image Denoising with Bayer Pattern Unification and
Bayer Preserving Augmentation", CVPR Workshops 2019 (pattern unification); the CFA
layout of Adobe, "Digital Negative (DNG) Specification", version 1.6, tag CFAPattern.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ispengine.core.cfa import merge_cfa, pack_cfa
from ispengine.core.stage import InverseStage, Stage
from plugins_builtin.canonical_stages.cfa import PATTERN_OPTION

# The axes of a mosaic ``(..., H, W)`` to flip to bring each pattern to RGGB.
FLIPS_TO_RGGB: dict[str, tuple[int, ...]] = {
    "rggb": (),
    "bggr": (-2, -1),
    "grbg": (-1,),
    "gbrg": (-2,),
}


def flip_to_rggb(x: Any, pattern: str, xp: Any) -> Any:
    """The mosaic ``x`` flipped so that ``pattern`` becomes RGGB (an involution)."""
    axes = FLIPS_TO_RGGB[pattern]
    return xp.flip(x, axis=axes) if axes else x


class BayerNormalize(Stage):
    """Flip a Bayer mosaic to the RGGB pattern, ``(..., H, W) -> (..., H, W)``."""

    name = "bayer_normalize"
    options = (PATTERN_OPTION,)
    input_layout = "mosaic"
    output_layout = "mosaic"
    needs_even_size = True

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        return flip_to_rggb(x, self.config["pattern"], xp)


class BayerNormalizeInverse(InverseStage):
    """Flip an RGGB mosaic back to the original pattern (exact: the same flips)."""

    name = "bayer_normalize_inverse"
    forward = BayerNormalize
    method = "exact"

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        return flip_to_rggb(x, self.config["pattern"], xp)


class PackBayer(Stage):
    """Pack a mosaic into CFA planes, ``(..., H, W) -> (..., H/2, W/2, 4)`` (R, Gr, Gb, B)."""

    name = "pack_bayer"
    options = (PATTERN_OPTION,)
    input_layout = "mosaic"
    output_layout = "packed"
    needs_even_size = True

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        return pack_cfa(x, self.config["pattern"], xp)


class UnpackBayer(InverseStage):
    """Unpack CFA planes into a mosaic, ``(..., H/2, W/2, 4) -> (..., H, W)`` (exact)."""

    name = "unpack_bayer"
    forward = PackBayer
    method = "exact"
    # The packed planes are half size, so they may have odd height or width.
    needs_even_size = False

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        planes = [x[..., k] for k in range(4)]
        return merge_cfa(planes, self.config["pattern"], xp)
