"""Canonical camera operations every pipeline needs.

Black level and white level, Bayer pattern normalisation and packing, white
balance, highlight handling (clip at the white point, LibRaw's default, or
dcraw's blend), demosaicing (bilinear, Malvar–He–Cutler) and mosaicing, colour matrices
(camera → linear sRGB, XYZ → linear sRGB), the sRGB OETF/EOTF, clipping and
quantisation, with exact inverses wherever they exist. Each module names its
source (Adobe's DNG specification 1.6, IEC 61966-2-1:1999, H. S. Malvar, L.-W. He,
R. Cutler, "High-quality linear interpolation for demosaicing of Bayer-patterned
color images", ICASSP 2004).

Clipping and quantisation discard information and are never inverted, so
they register as filters (the rule is in :mod:`ispengine.core.hookspecs`).
``highlights`` clips too, but only above the white point, where a sensor records
nothing: it is the identity on its input range [0, white point], so it is a stage
whose exact inverse is that identity, and camera pipelines keep their inverse.
The RAW-to-sRGB method ``pipeline`` renders a RAW with a fixed pipeline spec
(``camera_default`` by default).
"""

from ispengine.core.hookspecs import hookimpl
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
from plugins_builtin.canonical_stages.highlights import Highlights, HighlightsInverse
from plugins_builtin.canonical_stages.quantize import Quantize
from plugins_builtin.canonical_stages.raw_to_srgb import PipelineRawToSrgb
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
    Highlights,
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
    HighlightsInverse,
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


@hookimpl
def ispengine_register_raw_to_srgb(register):
    register(PipelineRawToSrgb)
