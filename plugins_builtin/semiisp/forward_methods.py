"""SemiISP's forward models as RAW-to-sRGB methods: ``semiisp_function_isp`` and ``unet_isp``.

Both render a RAW the way SemiISP's models see it: the normalised mosaic
(0 black, 1 white) demosaiced bilinearly to camera RGB with no white balance
(:mod:`~plugins_builtin.semiisp.front_end`), then the model, output clipped to
[0, 1]:

* ``semiisp_function_isp``: the function ISP ``f_ISP(I; DNN(I))``
  (:class:`~plugins_builtin.semiisp.function_isp.FunctionISP`: f_CS ∘ f_GM ∘
  f_GA ∘ f_CC by default, parameters predicted per image by the PQDynamicISP
  predictor; SemiISP §3.1 Eqs. 1–4);
* ``unet_isp``: the compact U-Net target model F
  (:func:`~plugins_builtin.semiisp.unet.build_unet`; SemiISP §3.3).

``fit`` trains the model supervised on the train split's (camera RGB, camera
sRGB) pairs (:func:`~plugins_builtin.semiisp.semi_trainer.train_supervised`):
random aligned crops with horizontal flips, MSE, AdamW with a cosine schedule
from ``lr`` to 0.001·lr over the budget's steps (SemiISP appendix A.3, Tables
5–6; the paper's lr is 1e-4, the default 1e-3 suits short CPU budgets). The
initial weights come from the fit's seed. Checkpoints and resume as every
method's (:func:`~ispengine.learning.training.run_training`).

Source: Yoshimura, Otsuka, Berdan, Ohashi, "SemiISP/SemiIE: Semi-Supervised Image Signal
Processor and Image Enhancement Leveraging One-to-Many Mapping sRGB-to-RAW",
arXiv:2504.02345, 2025 (SemiISP), §3.1, §3.3 and appendix A; the function ISP's
predictor is that of Yoshimura, Otsuka, Ohashi, "PQDynamicISP: Dynamically Controlled
Image Signal Processor for Any Image Sensors Pursuing Perceptual Quality",
arXiv:2403.10091, 2024.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ispengine.core.errors import InputError
from ispengine.core.settings import FloatSetting, IntegerSetting, OptionSpec
from ispengine.io.raw.image import CaptureParams, RawImage
from ispengine.learning.raw_to_srgb import RawToSrgbMethod
from ispengine.learning.srgb_to_raw import Budget, FitReport, check_seed
from ispengine.learning.torch_runtime import LEARNING_SETTINGS, TorchRuntime
from plugins_builtin.semiisp.method import PREDICTOR_SETTINGS, SPEC_SETTING, load_train_pairs
from plugins_builtin.semiisp.unet import DEPTH, WIDTH

TRAINING_SETTINGS = (
    IntegerSetting("batch_size", 8, "training crops per step", low=1, high=256),
    IntegerSetting("crop", 64, "training crop side (even)", low=8, high=4096),
    FloatSetting("lr", 1e-3, "maximum learning rate (cosine to 0.001x)", low=1e-7, high=1.0),
    FloatSetting("weight_decay", 0.0, "AdamW weight decay", low=0.0, high=1.0),
    IntegerSetting("checkpoint_every", 200, "steps between checkpoints", low=1, high=1_000_000),
    *LEARNING_SETTINGS,
)


class SupervisedForward(RawToSrgbMethod):
    """A torch model on the bilinear camera-RGB front end, trained supervised.

    A subclass gives :meth:`build`: a fresh ``torch.nn.Module``, NHWC camera RGB →
    NHWC sRGB, whose ``state_dict`` is what is saved."""

    learned = True

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        if self.config["crop"] % 2:
            raise InputError(f"setting 'crop': expected an even number, got {self.config['crop']}")
        self._module: Any = None

    def build(self) -> Any:
        """A fresh network (weights from torch's global RNG)."""
        raise NotImplementedError

    @property
    def module(self) -> Any:
        """The network (built from seed 0 on first use, unless fitted or loaded)."""
        if self._module is None:
            self._module = self._seeded(0)
        return self._module

    def _seeded(self, seed: int) -> Any:
        import torch

        with torch.random.fork_rng():
            torch.manual_seed(seed)
            return self.build().eval()

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
        """Train on ``dataset``'s train split (see the module docstring)."""
        from plugins_builtin.semiisp.semi_trainer import train_supervised

        config = self.config
        seed = check_seed(seed)
        pairs = load_train_pairs(dataset, self.name, config["crop"])
        self._module = self._seeded(seed)
        return train_supervised(
            self._module,
            pairs,
            budget,
            batch=config["batch_size"],
            crop=config["crop"],
            lr=config["lr"],
            weight_decay=config["weight_decay"],
            seed=seed,
            progress=progress,
            label=self.name,
            checkpoint=checkpoint,
            resume=resume,
            checkpoint_every=config["checkpoint_every"],
            runtime=TorchRuntime.from_config(config),
        )

    def render(self, raw: RawImage, *, capture: CaptureParams | None = None) -> np.ndarray:
        """The model on the bilinear camera RGB of ``raw`` (its capture is not used)."""
        import torch

        from ispengine.io.raw.levels import normalize
        from plugins_builtin.semiisp.front_end import camera_rgb

        if not isinstance(raw, RawImage):
            raise InputError(f"{self.name}: expected a RawImage, got {type(raw).__name__}")
        image = camera_rgb(normalize(raw), raw.cfa_pattern)
        runtime = TorchRuntime.from_config(self.config)
        module = self.module.to(runtime.device).eval()
        with torch.no_grad(), runtime.autocast():
            out = runtime.output(module(runtime.tensor(image)[None])[0])
        return np.clip(out, 0.0, 1.0).astype(np.float32)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.module.parameters())

    def state(self) -> dict[str, Any]:
        """The network's ``state_dict`` as float32 arrays."""
        return {k: v.detach().cpu().numpy() for k, v in self.module.state_dict().items()}

    def load_state(self, state: Mapping[str, Any]) -> None:
        import torch

        expected = self.module.state_dict()
        given = {key: np.asarray(value, dtype=np.float32) for key, value in state.items()}
        if set(given) != set(expected) or any(
            given[key].shape != tuple(value.shape) for key, value in expected.items()
        ):
            raise InputError(f"{self.name}: the weights do not fit this model and its settings")
        self.module.load_state_dict({key: torch.from_numpy(v) for key, v in given.items()})


class FunctionIspForward(SupervisedForward):
    """SemiISP's function ISP as a forward ISP (RAW → sRGB), trained supervised."""

    name = "semiisp_function_isp"
    summary = "SemiISP's function ISP f_ISP(I; DNN(I)) on bilinear camera RGB, trained on pairs"
    settings = (
        SPEC_SETTING,
        OptionSpec("mode", ("global", "local"), "local", "predictor mode"),
        *PREDICTOR_SETTINGS,
        *TRAINING_SETTINGS,
    )

    def build(self) -> Any:
        from plugins_builtin.semiisp.function_isp import FunctionISP

        config = self.config
        isp = FunctionISP(
            config["spec"],
            mode=config["mode"],
            resize=config["resize"],
            width=config["width"],
            grid=config["grid"],
            device=config["device"],
            precision=config["precision"],
        )
        return isp.module()


class UNetForward(SupervisedForward):
    """SemiISP's U-Net target model F as a forward ISP (RAW → sRGB), trained supervised."""

    name = "unet_isp"
    summary = "the compact U-Net target model of SemiISP on bilinear camera RGB, trained on pairs"
    settings = (WIDTH, DEPTH, *TRAINING_SETTINGS)

    def build(self) -> Any:
        from plugins_builtin.semiisp.unet import build_unet

        return build_unet(self.config["width"], self.config["depth"])
