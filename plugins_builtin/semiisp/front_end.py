"""The fixed RAW front end of the function ISP: mosaic ↔ camera RGB.

The function ISP and the target models of SemiISP work on demosaiced camera
RGB (``camera_rgb``): a normalised mosaic (0 black, 1 white) demosaiced
bilinearly, with no white balance (f_CC learns it). Pseudo RAWs made by the
inverse are mosaicked to a real CFA and demosaiced again by the same front end,
so real and pseudo inputs carry the same demosaicing artefacts.
"""

from __future__ import annotations

import functools

import numpy as np

from plugins_builtin.canonical_stages.demosaic import DemosaicBilinear, Mosaic


@functools.cache
def _demosaic(pattern: str) -> DemosaicBilinear:
    return DemosaicBilinear(pattern=pattern)


@functools.cache
def _mosaic(pattern: str) -> Mosaic:
    return Mosaic(pattern=pattern)


def camera_rgb(mosaic: np.ndarray, pattern: str) -> np.ndarray:
    """Bilinear demosaic of a normalised mosaic ``(H, W)`` → ``(H, W, 3)`` float32."""
    return _demosaic(pattern)(np.asarray(mosaic, dtype=np.float32)).astype(np.float32)


def mosaic_of(rgb: np.ndarray, pattern: str) -> np.ndarray:
    """The CFA samples of camera RGB ``(H, W, 3)`` → ``(H, W)``."""
    return _mosaic(pattern)(np.asarray(rgb))
