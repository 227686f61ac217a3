"""Function stages of SemiISP / PQDynamicISP (seed 000 A.1): CC, GA, GM, CS, IT.

Registers the forward stages with their exact inverses, and numerical
(safeguarded Newton) inverses of the two tone curves as the accuracy reference.
"""

from ispengine.hookspecs import hookimpl
from plugins_builtin.function_stages.color_correction import (
    ColorCorrection,
    ColorCorrectionInverse,
)
from plugins_builtin.function_stages.gamma_tone import (
    GammaTone,
    GammaToneInverse,
    GammaToneNumericalInverse,
)
from plugins_builtin.function_stages.inverse_tone import (
    InverseTone,
    InverseToneInverse,
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
    ContrastStretchInverse,
    InverseToneInverse,
    InverseToneNumericalInverse,
)


@hookimpl
def ispengine_register_stages(register):
    for stage in FORWARD:
        register(stage)


@hookimpl
def ispengine_register_inverse_stages(register):
    for stage in INVERSE:
        register(stage)
