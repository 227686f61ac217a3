"""Bayer demosaicing (bilinear; Malvar–He–Cutler) and its inverse, mosaicing.

Both demosaicers are linear filters evaluated only where a colour is missing;
every measured sample is kept exactly at its own site, so mosaicing the
result gives back the mosaic bit for bit: mosaicing
(:func:`ispengine.core.cfa.mosaic`) is their exact inverse.

* Bilinear: the average of the nearest samples of the missing colour
  (Losson, Macaire & Yang 2010, "Comparison of Color Demosaicing Methods",
  Advances in Imaging and Electron Physics 162), as in colour-demosaicing's
  ``demosaicing_CFA_Bayer_bilinear``.
* Malvar: the gradient-corrected 5×5 kernels of Malvar, He & Cutler 2004,
  "High-quality linear interpolation for demosaicing of Bayer-patterned color
  images", ICASSP, as in colour-demosaicing's
  ``demosaicing_CFA_Bayer_Malvar2004``.

Filtering uses shifted strided slices of the mosaic padded by 2 samples with
mirror reflection that does not repeat the edge sample (numpy's ``reflect``
mode, scipy.ndimage's ``mirror``), which keeps the Bayer parity at the
borders. Away from a 1-pixel (bilinear) or 2-pixel (Malvar) border the result
equals colour-demosaicing's, whose scipy convolution pads differently.

numpy inputs run through compiled Numba kernels (:mod:`.demosaic_kernels`)
with the same arithmetic; other arrays (torch, CuPy) through the array-API code.

Shapes: mosaic ``(..., H, W)``, H and W even; RGB ``(..., H, W, 3)``. No
numeric parameters; the ``pattern`` option is one of rggb, bggr, grbg, gbrg.

Source: H. S. Malvar, L.-W. He, R. Cutler, "High-quality linear interpolation for
demosaicing of Bayer-patterned color images", ICASSP 2004 (the 5×5 kernels); O. Losson,
L. Macaire, Y. Yang, "Comparison of Color Demosaicing Methods", Advances in Imaging and
Electron Physics 162, 2010 (bilinear).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from ispengine.core.capabilities import Capabilities
from ispengine.core.cfa import cfa_positions, merge_cfa, mosaic, split_cfa
from ispengine.core.stage import InverseStage, Stage
from plugins_builtin.canonical_stages import demosaic_kernels
from plugins_builtin.canonical_stages.cfa import PATTERN_OPTION

PAD = 2

# A kernel is a tuple of (weight, offsets (dy, dx) sharing that weight).
Kernel = tuple[tuple[float, tuple[tuple[int, int], ...]], ...]

CROSS_1 = ((-1, 0), (1, 0), (0, -1), (0, 1))
CROSS_2 = ((-2, 0), (2, 0), (0, -2), (0, 2))
DIAGONAL_1 = ((-1, -1), (-1, 1), (1, -1), (1, 1))
CENTRE = ((0, 0),)


def _transpose(kernel: Kernel) -> Kernel:
    return tuple((w, tuple((dx, dy) for dy, dx in offsets)) for w, offsets in kernel)


# Kernels named by what they estimate at a site of the 2x2 cell:
#   green: G at an R or B site;
#   row: the colour of the site's row neighbours at a G site (R at Gr, B at Gb);
#   column: the colour of the column neighbours at a G site (B at Gr, R at Gb);
#   diagonal: B at an R site, R at a B site.
BILINEAR_ROW: Kernel = ((1 / 2, ((0, -1), (0, 1))),)
BILINEAR: dict[str, Kernel] = {
    "green": ((1 / 4, CROSS_1),),
    "row": BILINEAR_ROW,
    "column": _transpose(BILINEAR_ROW),
    "diagonal": ((1 / 4, DIAGONAL_1),),
}

# Malvar et al. 2004, Fig. 2, with the weights divided by 8.
MALVAR_ROW: Kernel = (
    (5 / 8, CENTRE),
    (4 / 8, ((0, -1), (0, 1))),
    (-1 / 8, ((0, -2), (0, 2)) + DIAGONAL_1),
    (1 / 16, ((-2, 0), (2, 0))),
)
MALVAR: dict[str, Kernel] = {
    "green": ((4 / 8, CENTRE), (2 / 8, CROSS_1), (-1 / 8, CROSS_2)),
    "row": MALVAR_ROW,
    "column": _transpose(MALVAR_ROW),
    "diagonal": ((6 / 8, CENTRE), (2 / 8, DIAGONAL_1), (-3 / 16, CROSS_2)),
}


def _take(x: Any, start: int, stop: int, axis: int) -> Any:
    return x[(..., slice(start, stop)) + (slice(None),) * (-1 - axis)]


def mirror_pad(x: Any, axis: int, xp: Any) -> Any:
    """Pad ``x`` by :data:`PAD` samples on both ends of ``axis`` (-1 or -2) by mirroring.

    ``[a b c d] -> [c b | a b c d | c b]``; a length-2 axis repeats periodically
    (``[a b | a b | a b]``), as numpy's ``reflect`` mode does.
    """
    n = x.shape[axis]
    if n == 2:
        return xp.concat([x, x, x], axis=axis)
    before = xp.flip(_take(x, 1, 1 + PAD, axis), axis=axis)
    after = xp.flip(_take(x, n - 1 - PAD, n - 1, axis), axis=axis)
    return xp.concat([before, x, after], axis=axis)


def filter_sites(padded: Any, site: tuple[int, int], kernel: Kernel, size: tuple[int, int]) -> Any:
    """``kernel`` correlated with the mosaic at the sites ``site + 2·(i, j)``.

    ``padded`` is the mosaic mirror-padded by :data:`PAD`; the result is a CFA
    plane ``(..., H/2, W/2)``. The kernels are symmetric, so this is also
    their convolution.
    """
    height, width = size
    total = 0
    for weight, offsets in kernel:
        taps = 0
        for dy, dx in offsets:
            top, left = PAD + site[0] + dy, PAD + site[1] + dx
            taps = taps + padded[..., top : top + height - 1 : 2, left : left + width - 1 : 2]
        total = total + weight * taps
    return total


def demosaic(x: Any, pattern: str, kernels: Mapping[str, Kernel], xp: Any) -> Any:
    """Demosaic ``(..., H, W) -> (..., H, W, 3)``, keeping the measured samples."""
    size = (x.shape[-2], x.shape[-1])
    padded = mirror_pad(mirror_pad(x, -1, xp), -2, xp)
    where = cfa_positions(pattern)
    red, green_r, green_b, blue = split_cfa(x, pattern)

    def estimate(site: str, kernel: str) -> Any:
        return filter_sites(padded, where[site], kernels[kernel], size)

    channels = (
        [red, estimate("Gr", "row"), estimate("Gb", "column"), estimate("B", "diagonal")],
        [estimate("R", "green"), green_r, green_b, estimate("B", "green")],
        [estimate("R", "diagonal"), estimate("Gr", "column"), estimate("Gb", "row"), blue],
    )
    return xp.stack([merge_cfa(planes, pattern, xp) for planes in channels], axis=-1)


class BayerDemosaic(Stage):
    """A linear demosaicer, ``(..., H, W) -> (..., H, W, 3)``; subclasses set ``kernels``."""

    kernels: ClassVar[dict[str, Kernel]]
    options = (PATTERN_OPTION,)
    input_layout = "mosaic"
    output_layout = "rgb"
    needs_even_size = True

    method: ClassVar[str]

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        if isinstance(x, np.ndarray) and min(x.shape[-2:]) > 2 and demosaic_kernels.available():
            return demosaic_kernels.demosaic_numpy(x, self.config["pattern"], self.method)
        return demosaic(x, self.config["pattern"], self.kernels, xp)


class DemosaicBilinear(BayerDemosaic):
    """Bilinear demosaicing (Losson et al. 2010; colour-demosaicing's bilinear)."""

    name = "demosaic_bilinear"
    kernels = BILINEAR
    method = "bilinear"
    capabilities = Capabilities(demosaic=demosaic_kernels.demosaic_form("bilinear"))


class DemosaicMalvar(BayerDemosaic):
    """Malvar–He–Cutler 2004 gradient-corrected linear demosaicing."""

    name = "demosaic_malvar"
    kernels = MALVAR
    method = "malvar"
    capabilities = Capabilities(demosaic=demosaic_kernels.demosaic_form("malvar"))


class Mosaic(Stage):
    """Sample an RGB image through a Bayer CFA, ``(..., H, W, 3) -> (..., H, W)``.

    Keeps one colour per site and discards the other two, so it has no inverse
    (demosaicing only estimates what it discards).
    """

    name = "mosaic"
    options = (PATTERN_OPTION,)
    input_layout = "rgb"
    output_layout = "mosaic"
    needs_even_size = True

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        return mosaic(x, self.config["pattern"], xp)


class DemosaicBilinearInverse(InverseStage):
    """Mosaicing: exact inverse of bilinear demosaicing (it keeps the measured samples)."""

    name = "demosaic_bilinear_inverse"
    forward = DemosaicBilinear
    method = "exact"

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        return mosaic(x, self.config["pattern"], xp)


class DemosaicMalvarInverse(DemosaicBilinearInverse):
    """Mosaicing: exact inverse of Malvar demosaicing (it keeps the measured samples)."""

    name = "demosaic_malvar_inverse"
    forward = DemosaicMalvar
