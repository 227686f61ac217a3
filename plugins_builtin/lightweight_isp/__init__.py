"""The lightweight learned ISPs: Efficient ISP (3,060 parameters) and Robust ISP (1,616).

Registers the stages ``efficient_isp`` and ``robust_isp`` (:mod:`.stages`: packed
RAW → sRGB in any pipeline, weights from a file) and the RAW-to-sRGB methods of
the same names (:mod:`.method`: trained paired or unpaired by the engine's forward
trainer, :mod:`ispengine.learning.forward_training`). Importing this package does
not import torch.

Source: A. Arhire, R. Timofte, "Learned Lightweight Smartphone ISP with Unpaired
Data", CVPR 2025 workshops.
"""

from ispengine.core.hookspecs import hookimpl
from plugins_builtin.lightweight_isp.method import EfficientIsp, RobustIsp
from plugins_builtin.lightweight_isp.stages import EfficientIspStage, RobustIspStage

__all__ = ["EfficientIsp", "EfficientIspStage", "RobustIsp", "RobustIspStage"]


@hookimpl
def ispengine_register_stages(register):
    register(EfficientIspStage)
    register(RobustIspStage)


@hookimpl
def ispengine_register_raw_to_srgb(register):
    register(EfficientIsp)
    register(RobustIsp)
