"""CycleISP, a learned sRGB-to-RAW baseline.

Source: S. W. Zamir, A. Arora, S. Khan, M. Hayat, F. S. Khan, M.-H. Yang and
L. Shao, "CycleISP: Real Image Restoration via Improved Data Synthesis",
CVPR 2020. Its RGB2RAW network (dual attention blocks in recursive residual
groups) maps sRGB to camera RGB, mosaicked to the target Bayer pattern; its
RAW2RGB network maps RAW back to sRGB with a colour-correction branch that
reads the sRGB image itself, so CycleISP has no standalone forward ISP.

Registers the sRGB-to-RAW method ``cycleisp``
(:class:`plugins_builtin.cycleisp.method.CycleISP`). Importing this package
does not import torch: the networks (:mod:`plugins_builtin.cycleisp.networks`)
are imported only when a model is built.

The authors' released weights (one checkpoint per network) load into the
``published`` configuration with
:func:`plugins_builtin.cycleisp.checkpoint.load_official_checkpoint`, or are
saved as a model by ``ispengine cycleisp import OUT RGB2RAW_CKPT [--raw2rgb
CKPT --ccm CKPT]`` (:mod:`plugins_builtin.cycleisp.checkpoint`: the shared
PReLU is loaded once, RAW2RGB's unused ``conv1x1`` is ignored, CCM's fixed
blur is checked).
"""

from ispengine.core.hookspecs import hookimpl
from plugins_builtin.cycleisp.commands import COMMANDS
from plugins_builtin.cycleisp.method import CycleISP

__all__ = ["CycleISP"]


@hookimpl
def ispengine_register_srgb_to_raw(register):
    register(CycleISP)


@hookimpl
def ispengine_register_commands(register):
    for command in COMMANDS:
        register(command)
