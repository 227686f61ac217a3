"""SemiISP: semi-supervised ISP training with pseudo data.

Registers the parameter predictor ``pqdynamic``, the one-to-many sRGB-to-RAW
method ``semiisp``, the compact U-Net target model ``unet_isp`` (a learned
forward stage), the RAW-to-sRGB methods ``semiisp_function_isp`` and ``unet_isp``
(the function ISP and the U-Net trained on RAW/sRGB pairs), and the command
``ispengine bench semiisp``. Importing this package does not import torch: the
classes import it in their methods.

Source: M. Yoshimura, J. Otsuka, R. Berdan, T. Ohashi, "SemiISP/SemiIE:
Semi-Supervised Image Signal Processor and Image Enhancement Leveraging One-to-Many
Mapping sRGB-to-RAW", arXiv:2504.02345, 2025 (SemiISP), §3 and appendix A; its
function ISP and parameter predictor are those of M. Yoshimura, J. Otsuka, T. Ohashi,
"PQDynamicISP: Dynamically Controlled Image Signal Processor for Any Image Sensors
Pursuing Perceptual Quality", arXiv:2403.10091, 2024 (PQDynamicISP).
"""

from ispengine.core.hookspecs import hookimpl
from plugins_builtin.semiisp.commands import BENCH_SEMIISP
from plugins_builtin.semiisp.forward_methods import FunctionIspForward, UNetForward
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


@hookimpl
def ispengine_register_raw_to_srgb(register):
    register(FunctionIspForward)
    register(UNetForward)
