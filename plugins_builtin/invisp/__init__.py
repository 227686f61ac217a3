"""Invertible-ISP: RAW → sRGB and back with one invertible network.

Source: Y. Xing, Z. Qian, Q. Chen, "Invertible Image Signal Processing", CVPR 2021.

Registers the sRGB-to-RAW method ``invisp``
(:class:`plugins_builtin.invisp.method.InvertibleISP`, the network run
backward), the RAW-to-sRGB method ``invisp`` (the network run forward), the
learned forward stage ``invisp_forward`` and its learned inverse (the network run backward).
Importing this package does not import torch: the network
(:mod:`plugins_builtin.invisp.networks`) and the differentiable JPEG
(:mod:`plugins_builtin.invisp.jpeg`) are imported when a model is built.
"""

from ispengine.core.hookspecs import hookimpl
from plugins_builtin.invisp.commands import COMMANDS
from plugins_builtin.invisp.method import InvertibleISP, InvertibleISPRender
from plugins_builtin.invisp.stages import InvISPForward, InvISPForwardInverse

__all__ = ["InvISPForward", "InvISPForwardInverse", "InvertibleISP", "InvertibleISPRender"]


@hookimpl
def ispengine_register_srgb_to_raw(register):
    register(InvertibleISP)


@hookimpl
def ispengine_register_raw_to_srgb(register):
    register(InvertibleISPRender)


@hookimpl
def ispengine_register_stages(register):
    register(InvISPForward)


@hookimpl
def ispengine_register_inverse_stages(register):
    register(InvISPForwardInverse)


@hookimpl
def ispengine_register_commands(register):
    for command in COMMANDS:
        register(command)
