"""ParamISP: learned forward and inverse ISPs conditioned on camera parameters.

Registers the sRGB-to-RAW method ``paramisp`` (the inverse network), the
RAW-to-sRGB method ``paramisp`` (the forward network), the learned forward
stage ``paramisp_forward`` and its learned inverse, and the parameter
predictor ``paramnet``. Importing this package does not import torch: the
classes import it in their methods.

Source: W. Kim, G. Kim, J. Lee, S. Lee, S.-H. Baek, S. Cho, "ParamISP: Learned Forward
and Inverse ISPs using Camera Parameters", CVPR 2024.
"""

from ispengine.core.hookspecs import hookimpl
from plugins_builtin.paramisp.commands import COMMANDS
from plugins_builtin.paramisp.method import ParamISP, ParamISPRender
from plugins_builtin.paramisp.predictor import ParamNetPredictor
from plugins_builtin.paramisp.stages import ParamISPForward, ParamISPForwardInverse

__all__ = [
    "ParamISP",
    "ParamISPForward",
    "ParamISPForwardInverse",
    "ParamISPRender",
    "ParamNetPredictor",
]


@hookimpl
def ispengine_register_srgb_to_raw(register):
    register(ParamISP)


@hookimpl
def ispengine_register_raw_to_srgb(register):
    register(ParamISPRender)


@hookimpl
def ispengine_register_stages(register):
    register(ParamISPForward)


@hookimpl
def ispengine_register_inverse_stages(register):
    register(ParamISPForwardInverse)


@hookimpl
def ispengine_register_param_predictors(register):
    register(ParamNetPredictor)


@hookimpl
def ispengine_register_commands(register):
    for command in COMMANDS:
        register(command)
