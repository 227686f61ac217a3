"""Function stages of SemiISP / PQDynamicISP: CC, GA, GM, CS, IT.

Registers the forward stages with their exact inverses; the two tone curves
also get numerical (safeguarded Newton) inverses, the accuracy reference, and
LUT inverses.

Source: M. Yoshimura, J. Otsuka, R. Berdan, T. Ohashi, "SemiISP/SemiIE: Semi-Supervised
Image Signal Processor and Image Enhancement Leveraging One-to-Many Mapping
sRGB-to-RAW", arXiv:2504.02345, 2025 (SemiISP), §3.1 and appendix A.1
(the functions), appendix A.2, Algorithm 1 (the LUT inverses); the function set is
that of M. Yoshimura, J. Otsuka, T. Ohashi, "PQDynamicISP: Dynamically Controlled Image
Signal Processor for Any Image Sensors Pursuing Perceptual Quality", arXiv:2403.10091,
2024 (PQDynamicISP).
"""

from ispengine.core.hookspecs import hookimpl
from plugins_builtin.function_stages.color_correction import (
    ColorCorrection,
    ColorCorrectionInverse,
)
from plugins_builtin.function_stages.gamma_tone import (
    GammaTone,
    GammaToneInverse,
    GammaToneLutInverse,
    GammaToneNumericalInverse,
)
from plugins_builtin.function_stages.inverse_tone import (
    InverseTone,
    InverseToneInverse,
    InverseToneLutInverse,
    InverseToneNumericalInverse,
)
from plugins_builtin.function_stages.piecewise_gain import (
    ContrastStretch,
    ContrastStretchInverse,
    Gain,
    GainInverse,
)

FORWARD = (ColorCorrection, Gain, GammaTone, ContrastStretch, InverseTone)
INVERSE = (
    ColorCorrectionInverse,
    GainInverse,
    GammaToneInverse,
    GammaToneNumericalInverse,
    GammaToneLutInverse,
    ContrastStretchInverse,
    InverseToneInverse,
    InverseToneNumericalInverse,
    InverseToneLutInverse,
)


@hookimpl
def ispengine_register_stages(register):
    for stage in FORWARD:
        register(stage)


@hookimpl
def ispengine_register_inverse_stages(register):
    for stage in INVERSE:
        register(stage)
