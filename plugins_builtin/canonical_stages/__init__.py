"""Canonical camera operations every pipeline needs (methods.md section 10).

Black level and white level, Bayer pattern normalisation and packing, white
balance, demosaicing (bilinear, Malvar–He–Cutler 2004) and mosaicing, colour
matrices (camera → linear sRGB, XYZ → linear sRGB), the sRGB OETF/EOTF,
clipping and quantisation, with exact inverses wherever they exist.

Clipping and quantisation discard information and are never inverted, so
they register as filters (the rule is in :mod:`ispengine.hookspecs`).
"""

from ispengine.hookspecs import hookimpl
from plugins_builtin.canonical_stages.bayer import (
    BayerNormalize,
    BayerNormalizeInverse,
    PackBayer,
    UnpackBayer,
)
from plugins_builtin.canonical_stages.black_level import BlackLevel, BlackLevelInverse
from plugins_builtin.canonical_stages.clip import Clip
from plugins_builtin.canonical_stages.color_matrix import (
    CameraToSRGB,
    CameraToSRGBInverse,
    XYZToLinearSRGB,
    XYZToLinearSRGBInverse,
)
from plugins_builtin.canonical_stages.demosaic import (
    DemosaicBilinear,
    DemosaicBilinearInverse,
    DemosaicMalvar,
    DemosaicMalvarInverse,
    Mosaic,
)
from plugins_builtin.canonical_stages.quantize import Quantize
from plugins_builtin.canonical_stages.srgb_transfer import (
    SRGBEOTF,
    SRGBOETF,
    SRGBEOTFInverse,
    SRGBOETFInverse,
)
from plugins_builtin.canonical_stages.white_balance import (
    MosaicWhiteBalance,
    MosaicWhiteBalanceInverse,
    WhiteBalance,
    WhiteBalanceInverse,
)

FORWARD = (
    BlackLevel,
    BayerNormalize,
    PackBayer,
    WhiteBalance,
    MosaicWhiteBalance,
    DemosaicBilinear,
    DemosaicMalvar,
    Mosaic,
    CameraToSRGB,
    XYZToLinearSRGB,
    SRGBOETF,
    SRGBEOTF,
)
FILTERS = (Clip, Quantize)
INVERSE = (
    BlackLevelInverse,
    BayerNormalizeInverse,
    UnpackBayer,
    WhiteBalanceInverse,
    MosaicWhiteBalanceInverse,
    DemosaicBilinearInverse,
    DemosaicMalvarInverse,
    CameraToSRGBInverse,
    XYZToLinearSRGBInverse,
    SRGBOETFInverse,
    SRGBEOTFInverse,
)


@hookimpl
def ispengine_register_stages(register):
    for stage in FORWARD:
        register(stage)


@hookimpl
def ispengine_register_filters(register):
    for stage in FILTERS:
        register(stage)


@hookimpl
def ispengine_register_inverse_stages(register):
    for stage in INVERSE:
        register(stage)
