"""``efficient_isp`` and ``robust_isp`` as RAW-to-sRGB methods, trained paired or unpaired.

``render`` packs the RAW's normalised mosaic into R, Gr, Gb, B planes (its own
pattern and levels) and runs the network (output clipped to [0, 1]).

``fit`` trains with the forward trainer
(:func:`~ispengine.learning.forward_training.train_forward`; every setting of
:data:`~ispengine.learning.forward_training.FORWARD_TRAINING_SETTINGS`). The
references are the train RAWs developed by ``camera_default`` (black level,
white balance, Malvar demosaic, camera matrix, sRGB OETF, from each file's
metadata), the unpaired content loss's target and the pre-training target.
With ``training = "paired"`` every train RAW is paired with its own sRGB image,
which is also the pre-training target. With ``training = "unpaired"`` the train
split is cut in two by sample order: the RAWs of the first half and the sRGB
images of the second half, so no scene is seen as both (half the data of the
paired setting, as unpaired sets are collected).

Source: A. Arhire, R. Timofte, "Learned Lightweight Smartphone ISP with Unpaired
Data", CVPR 2025 workshops.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ispengine.core.errors import InputError
from ispengine.io.raw.image import CaptureParams, RawImage
from ispengine.learning.forward_training import FORWARD_TRAINING_SETTINGS
from ispengine.learning.raw_to_srgb import RawToSrgbMethod
from ispengine.learning.srgb_to_raw import Budget, FitReport, check_seed, train_split
from ispengine.learning.torch_runtime import TorchRuntime


def packed_planes(raw: RawImage) -> np.ndarray:
    """The normalised mosaic of ``raw`` as planes ``(4, H/2, W/2)`` (R, Gr, Gb, B), float32."""
    from ispengine.core.cfa import pack_cfa
    from ispengine.io.raw.levels import normalize

    mosaic = np.asarray(normalize(raw), dtype=np.float32)
    return np.ascontiguousarray(pack_cfa(mosaic, raw.cfa_pattern, np).transpose(2, 0, 1))


@functools.cache
def _camera_default() -> Any:
    from ispengine.core.pipeline import Pipeline
    from ispengine.specs import resolve_spec

    return Pipeline.from_toml(resolve_spec("camera_default"))


def reference_rendering(raw: RawImage) -> np.ndarray:
    """``raw`` developed by ``camera_default``, ``(3, H, W)`` in [0, 1], float32."""
    from ispengine.io.raw.levels import denormalize

    if raw.normalized:
        raw = raw.evolve(mosaic=denormalize(raw).astype(np.float32), normalized=False)
    rendered = _camera_default()(raw)
    return np.ascontiguousarray(np.clip(np.asarray(rendered, np.float32), 0, 1).transpose(2, 0, 1))


class LightweightIsp(RawToSrgbMethod):
    """A lightweight ISP network as a RAW-to-sRGB method (module docstring)."""

    architecture: ClassVar[str] = ""
    settings = FORWARD_TRAINING_SETTINGS
    learned = True

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self._module: Any = None

    def build(self, seed: int = 0) -> Any:
        """A fresh network, weights from ``seed``."""
        import torch

        from plugins_builtin.lightweight_isp.networks import build_network

        with torch.random.fork_rng():
            torch.manual_seed(seed)
            return build_network(self.architecture).eval()

    @property
    def module(self) -> Any:
        """The network (seed 0 unless fitted or loaded)."""
        if self._module is None:
            self._module = self.build(0)
        return self._module

    def training_data(self, dataset: Any) -> Any:
        """The :class:`~ispengine.learning.forward_training.ForwardTrainingData` of
        ``dataset``'s train split for this method's ``training`` mode."""
        from ispengine.learning.forward_training import ForwardTrainingData

        samples = list(train_split(dataset))
        paired = self.config["training"] == "paired"
        if len(samples) < (1 if paired else 2):
            raise InputError(
                f"{self.name}: {self.config['training']} training needs "
                f"{'a train sample' if paired else 'at least two train samples'}"
            )
        raws = samples if paired else samples[: len(samples) // 2]
        srgbs = samples if paired else samples[len(samples) // 2 :]
        targets = [
            np.ascontiguousarray(np.asarray(s.srgb, np.float32).transpose(2, 0, 1)) for s in srgbs
        ]
        return ForwardTrainingData(
            inputs=[packed_planes(s.raw) for s in raws],
            scale=2,
            references=targets if paired else [reference_rendering(s.raw) for s in raws],
            targets=targets,
            paired=paired,
        )

    def fit(
        self,
        dataset: Any,
        budget: Budget,
        *,
        seed: int = 0,
        checkpoint: str | Path | None = None,
        resume: bool = False,
        progress: bool = True,
    ) -> FitReport:
        """Train on ``dataset``'s train split (module docstring)."""
        from ispengine.learning.forward_training import check_extractor_files, train_forward

        seed = check_seed(seed)
        check_extractor_files(self.config)  # before any data is loaded
        data = self.training_data(dataset)
        self._module = self.build(seed)
        report = train_forward(
            self._module,
            data,
            self.config,
            budget,
            seed=seed,
            checkpoint=checkpoint,
            resume=resume,
            progress=progress,
            label=self.name,
        )
        self._module = self._module.cpu()
        return report

    def render(self, raw: RawImage, *, capture: CaptureParams | None = None) -> np.ndarray:
        """The network on ``raw``'s packed planes (its capture is not used)."""
        import torch

        if not isinstance(raw, RawImage):
            raise InputError(f"{self.name}: expected a RawImage, got {type(raw).__name__}")
        runtime = TorchRuntime.from_config(self.config)
        module = self.module.to(runtime.device).eval()
        with torch.no_grad(), runtime.autocast():
            out = runtime.output(module(runtime.tensor(packed_planes(raw))[None])[0])
        return np.clip(out.transpose(1, 2, 0), 0.0, 1.0).astype(np.float32)

    def export_module(self) -> Any:
        """The network for ONNX export: packed planes ``(N, 4, h, w)`` in, sRGB
        ``(N, 3, 2h, 2w)`` out (unclipped)."""
        from ispengine.learning.onnx_export import ExportableModel

        return ExportableModel(self.module.cpu().eval(), channels=4, scale=2, input_name="packed")

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.module.parameters())

    def state(self) -> dict[str, Any]:
        return {k: v.detach().cpu().numpy() for k, v in self.module.state_dict().items()}

    def load_state(self, state: Mapping[str, Any]) -> None:
        import torch

        from ispengine.learning.weights import checked_state

        arrays = checked_state(state, self.module.state_dict(), f"{self.name} weights")
        self.module.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()})


class EfficientIsp(LightweightIsp):
    """Efficient ISP (3,060 parameters)."""

    name = "efficient_isp"
    summary = "Efficient ISP (3,060 parameters, packed RAW → sRGB), trained paired or unpaired"
    architecture = "efficient"


class RobustIsp(LightweightIsp):
    """Robust ISP (1,616 parameters)."""

    name = "robust_isp"
    summary = "Robust ISP (1,616 parameters, packed RAW → sRGB), trained paired or unpaired"
    architecture = "robust"
