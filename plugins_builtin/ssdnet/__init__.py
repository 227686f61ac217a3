"""SSDNet: a learned reverse ISP with soft supervision.

Source: B. Zou, Y. Zhang, "Learned Reverse ISP with Soft Supervision", ECCV 2022
workshops (AIM 2022 reverse-ISP challenge).

Registers the sRGB-to-RAW method ``ssdnet``
(:class:`plugins_builtin.ssdnet.method.SSDNetMethod`). Importing this package does
not import torch: the network (:mod:`plugins_builtin.ssdnet.networks`) is imported
when a model is built.
"""

from ispengine.core.hookspecs import hookimpl
from plugins_builtin.ssdnet.commands import COMMANDS
from plugins_builtin.ssdnet.method import SSDNetMethod

__all__ = ["SSDNetMethod"]


@hookimpl
def ispengine_register_srgb_to_raw(register):
    register(SSDNetMethod)


@hookimpl
def ispengine_register_commands(register):
    for command in COMMANDS:
        register(command)
