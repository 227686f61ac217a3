"""``efficient_isp`` and ``robust_isp``: the lightweight ISP networks as pipeline stages.

Each takes packed RAW ``(..., H/2, W/2, 4)`` (R, Gr, Gb, B, normalised: black 0,
white 1) and returns sRGB ``(..., H, W, 3)`` at the mosaic's full size
(:mod:`~plugins_builtin.lightweight_isp.networks`). The packing order and the
levels come from the file's metadata through the stages before it, so one spec
serves every Bayer pattern (``plugins_builtin/lightweight_isp/efficient_isp.toml``)::

    [[stage]]
    type = "black_level"
    from_metadata = { black = "black_level", white = "white_level", pattern = "cfa_pattern" }

    [[stage]]
    type = "pack_bayer"
    from_metadata = { pattern = "cfa_pattern" }

    [[stage]]
    type = "efficient_isp"
    params = { weights = "efficient_isp.json" }

Options:
    weights: a model saved by the ``efficient_isp`` / ``robust_isp`` method
        (``ispengine train``: its ``.json`` or weights file) or a state dict of
        the network (``.safetensors`` or a torch file of tensors); relative to
        the spec file's folder.

The output is not clipped; a ``clip`` stage or the output file does that.

Source: A. Arhire, R. Timofte, "Learned Lightweight Smartphone ISP with Unpaired
Data", CVPR 2025 workshops, §3.1.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ispengine.learning.model_stage import LearnedStage


class LightweightIspStage(LearnedStage):
    """A lightweight ISP network on packed RAW (module docstring)."""

    architecture: ClassVar[str] = ""
    input_layout = "packed"
    output_layout = "rgb"
    input_range = (0.0, 1.0)

    def build_model(self) -> Any:
        from plugins_builtin.lightweight_isp.networks import build_network

        return build_network(self.architecture)


class EfficientIspStage(LightweightIspStage):
    """Efficient ISP (3,060 parameters): packed RAW → sRGB."""

    name = "efficient_isp"
    architecture = "efficient"


class RobustIspStage(LightweightIspStage):
    """Robust ISP (1,616 parameters): packed RAW → sRGB."""

    name = "robust_isp"
    architecture = "robust"
