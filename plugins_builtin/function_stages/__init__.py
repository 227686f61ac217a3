"""Function stages of SemiISP / PQDynamicISP (seed 000 A.1): CC, GA, GM, CS, IT.

Registers the forward stages with their exact inverses; the two tone curves
also get numerical (safeguarded Newton) inverses, the accuracy reference, and
LUT inverses (methods.md §2).
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
