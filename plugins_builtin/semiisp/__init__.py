"""SemiISP (seed 000, methods.md §1–3): semi-supervised ISP training with pseudo data.

Registers the parameter predictor ``pqdynamic``, the one-to-many sRGB-to-RAW
method ``semiisp`` and the compact U-Net target model ``unet_isp`` (a learned
forward stage), and the command ``ispengine bench semiisp``. Importing this
package does not import torch: the classes import it in their methods.
"""

from ispengine.hookspecs import hookimpl
from plugins_builtin.semiisp.commands import BENCH_SEMIISP
from plugins_builtin.semiisp.method import SemiISP
from plugins_builtin.semiisp.predictor import PQDynamicPredictor
from plugins_builtin.semiisp.unet import UNetISP


@hookimpl
def ispengine_register_param_predictors(register):
    register(PQDynamicPredictor)


@hookimpl
def ispengine_register_srgb_to_raw(register):
    register(SemiISP)


@hookimpl
def ispengine_register_stages(register):
    register(UNetISP)


@hookimpl
def ispengine_register_commands(register):
    register(BENCH_SEMIISP)
