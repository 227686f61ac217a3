"""The Invertible-ISP sRGB-to-RAW method: one invertible network, run backward.

Y. Xing, Z. Qian, Q. Chen, "Invertible Image Signal Processing", CVPR 2021.
The RAW side of the network is camera RGB: the normalised mosaic demosaiced
(Malvar) and white-balanced with the camera's gains, by the engine's stages of
the shipped spec ``invisp_camera``. ``convert`` runs the network backward on the
sRGB image, divides by the target camera's white-balance gains, mosaics to its
Bayer pattern and clips to [0, 1]; it needs the target's white balance
(``--like RAW``).

The RAW-to-sRGB method ``invisp`` (:class:`InvertibleISPRender`) is the same
network run forward: Malvar demosaic and white balance of the RAW, then the
network, clipped to [0, 1]. Both are trained the same way, and a model saved by
either loads as the other.

Training (§3.3): random aligned crops; the forward pass renders sRGB from
camera RGB, clipped to [0, 1]; with ``jpeg = true`` (the paper's) that sRGB
goes through a differentiable JPEG simulation (quality ``jpeg_quality``), and
the backward pass recovers camera RGB from it::

    loss = rgb_weight · ‖clip(f(x)) − y‖₁ + ‖f⁻¹(JPEG(clip(f(x)))) − x‖₁

Without the JPEG step the RAW loss falls to almost nothing (the backward pass
only undoes the forward one) and the inverse learns nothing about real camera
JPEGs. Adam; the learning rate halves at 50/300 and 80/300 of a step budget
(the paper's epochs 50 and 80 of 300), so the schedule follows the budget.

Settings (ranges inclusive):

* ``config``: ``published`` (8 blocks, growth 32: 1,413,760 parameters) or
  ``small`` (4 blocks, growth 8: 52,544; trains on a CPU).
* ``lr``: Adam learning rate, [1e-6, 0.1], default 1e-4 (the paper's);
  ``lr_decay`` (default true): halve it at 50/300 and 80/300 of a step budget.
* ``batch_size``: crops per step, [1, 256], default 1 (the paper's).
* ``crop``: crop side in pixels, even, [8, 1024], default 256 (the paper's).
* ``jpeg``: the differentiable JPEG between the two passes, default true.
* ``jpeg_quality``: its quality, [1, 100], default 90.
* ``rgb_weight``: weight of the sRGB term, [0, 100], default 1.
* ``device``: ``auto`` | ``cpu`` | ``cuda``; ``checkpoint_every`` (steps);
  ``threads``: torch CPU threads in fit/convert, 0 = torch's default.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ispengine.core.errors import InputError, ParamError
from ispengine.core.settings import BooleanSetting, FloatSetting, IntegerSetting, OptionSpec
from ispengine.io.raw.image import CaptureParams, RawImage
from ispengine.learning.raw_to_srgb import RawToSrgbMethod
from ispengine.learning.srgb_to_raw import (
    Budget,
    FitReport,
    SrgbToRawMethod,
    TargetCamera,
    Unprocessed,
    as_srgb,
)
from ispengine.learning.torch_runtime import (
    CHECKPOINT_EVERY_SETTING,
    LEARNING_SETTINGS,
    THREADS_SETTING,
    TorchRuntime,
    torch_threads,
)

#: The shipped spec whose first two stages (demosaic, white balance) make camera RGB.
SPEC = "invisp_camera"


@functools.cache
def camera_pipelines(pattern: str) -> tuple[Any, Any]:
    """Mosaic → camera RGB (Malvar demosaic, white balance) and its inverse, for one
    Bayer ``pattern``; the gains are given per call."""
    from ispengine.core.pipeline import Pipeline
    from ispengine.core.spec import load_spec_file
    from ispengine.specs import resolve_spec

    path = resolve_spec(SPEC)
    data = load_spec_file(path)
    camera_side = {
        **data,
        "output": "camera_rgb",
        "stage": [s for s in data["stage"] if s["type"] != "invisp_forward"],
        "inverse": {},
    }
    metadata = {"cfa_pattern": pattern, "wb_gains": [1.0, 1.0, 1.0]}
    forward = Pipeline.from_dict(camera_side, source=str(path)).bind(metadata)
    return forward, forward.inverse()


def to_camera_rgb(mosaic: np.ndarray, pattern: str, gains: Any) -> np.ndarray:
    """A normalised mosaic ``(H, W)`` → white-balanced camera RGB ``(H, W, 3)`` (float32)."""
    forward, _ = camera_pipelines(pattern)
    params = {"white_balance": {"gains": np.asarray(gains, dtype=np.float32)}}
    return np.asarray(forward(np.asarray(mosaic, np.float32), params), dtype=np.float32)


def to_mosaic(rgb: np.ndarray, pattern: str, gains: Any) -> np.ndarray:
    """White-balanced camera RGB ``(H, W, 3)`` → mosaic ``(H, W)`` (1/WB, then the pattern)."""
    _, inverse = camera_pipelines(pattern)
    params = {"white_balance": {"gains": np.asarray(gains, dtype=np.float32)}}
    return np.asarray(inverse(np.asarray(rgb, np.float32), params), dtype=np.float32)


SETTINGS = (
    OptionSpec(
        "config",
        ("published", "small"),
        "small",
        "network size: 'small' (CPU-trainable) or 'published' (the paper's, 1.41M)",
    ),
    FloatSetting("lr", 1e-4, "Adam learning rate", low=1e-6, high=1e-1),
    BooleanSetting(
        "lr_decay", True, "halve the rate at 50/300 and 80/300 of a step budget (the paper's)"
    ),
    IntegerSetting("batch_size", 1, "training crops per step", low=1, high=256),
    IntegerSetting("crop", 256, "training crop side in pixels (even)", low=8, high=1024),
    BooleanSetting("jpeg", True, "differentiable JPEG between the two passes in training"),
    IntegerSetting("jpeg_quality", 90, "quality of the simulated JPEG", low=1, high=100),
    FloatSetting("rgb_weight", 1.0, "weight of the sRGB loss term", low=0.0, high=100.0),
    *LEARNING_SETTINGS,
    CHECKPOINT_EVERY_SETTING,
    THREADS_SETTING,
)


class _InvISPMethod:
    """What both methods share: the network, fit and persistence."""

    name = "invisp"
    learned = True
    settings = SETTINGS
    config: dict[str, Any]

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        if self.config["crop"] % 2:
            raise ParamError(key="crop", message=f"must be even, got {self.config['crop']}")
        self._network = None  # InvISPNetwork, built on first use

    def network(self, seed: int = 0) -> Any:
        """The :class:`~plugins_builtin.invisp.networks.InvISPNetwork`, built from ``seed``
        on first use."""
        if self._network is None:
            from plugins_builtin.invisp.networks import CONFIGS, build

            self._network = build(CONFIGS[self.config["config"]], seed=seed)
        return self._network

    # -- training -------------------------------------------------------------
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
        """Train on ``dataset``'s train split within ``budget`` (module docstring).

        Weights not yet built are initialised from ``seed``; crops come from
        ``numpy.random.default_rng(seed)``. Fitting again continues from the
        current weights (with a fresh optimiser).
        """
        import torch

        from ispengine.learning.training import fit_on_crops

        runtime = TorchRuntime.from_config(self.config)
        return fit_on_crops(
            "invisp",
            dataset,
            budget,
            network=self.network(seed),
            crops=[self.config["crop"]],
            make_optimizer=lambda net: torch.optim.Adam(net.parameters(), lr=self.config["lr"]),
            make_batch=lambda data, rng: self._batch_function(data, rng, runtime),
            make_step=lambda net, optimizer, batches: self._step_function(
                net, optimizer, budget, batches, runtime
            ),
            runtime=runtime,
            threads=self.config["threads"],
            seed=seed,
            checkpoint=checkpoint,
            resume=resume,
            checkpoint_every=self.config["checkpoint_every"],
            progress=progress,
        )

    def learning_rate(self, step: int, budget: Budget) -> float:
        """The learning rate of (0-based) ``step``: ``lr``, halved at 50/300 and again at
        80/300 of a step budget when ``lr_decay`` is on (constant for a time budget)."""
        rate = self.config["lr"]
        if self.config["lr_decay"] and budget.steps:
            for fraction in (50 / 300, 80 / 300):
                if step >= round(budget.steps * fraction):
                    rate *= 0.5
        return rate

    def _batch_function(self, data, rng, runtime):
        """The batch of a step: white-balanced camera RGB and sRGB crops on the device."""
        batch_size, crop = self.config["batch_size"], self.config["crop"]

        def make(_index: int) -> tuple[Any, Any]:
            batch = data.draw(rng, batch_size, crop)
            camera = np.stack(
                [
                    to_camera_rgb(mosaic, pattern, gains)
                    for mosaic, pattern, gains in zip(
                        batch.mosaic, batch.patterns, batch.colour.wb_gains, strict=True
                    )
                ]
            )
            raw = runtime.tensor(camera).permute(0, 3, 1, 2)
            return raw, runtime.tensor(batch.srgb).permute(0, 3, 1, 2)

        return make

    def _step_function(self, network, optimizer, budget, batches, runtime):
        """One Adam step: the loss of the module docstring on a fresh batch."""
        from torch.nn import functional as F

        jpeg = None
        if self.config["jpeg"]:
            from plugins_builtin.invisp.jpeg import DifferentiableJpeg

            jpeg = DifferentiableJpeg(self.config["jpeg_quality"]).to(runtime.device)

        def step(index: int) -> float:
            for group in optimizer.param_groups:
                group["lr"] = self.learning_rate(index, budget)
            raw, srgb = batches.get(index)
            with runtime.autocast():
                rendered = network(raw).clamp(0.0, 1.0)
                loss_rgb = F.l1_loss(rendered, srgb)
                recovered = network(jpeg(rendered) if jpeg is not None else rendered, reverse=True)
                loss = self.config["rgb_weight"] * loss_rgb + F.l1_loss(recovered, raw)
            optimizer.zero_grad(set_to_none=True)
            runtime.step(loss, optimizer)
            return loss.item()

        return step

    def render_camera_rgb(self, camera_rgb: Any) -> np.ndarray:
        """The forward direction: white-balanced camera RGB ``(H, W, 3)`` → sRGB in [0, 1]."""
        from plugins_builtin.invisp.stages import run_network

        rgb = np.asarray(camera_rgb, dtype=np.float32)
        if rgb.ndim != 3 or rgb.shape[-1] != 3:
            raise InputError(f"invisp: expected camera RGB (H, W, 3), got shape {rgb.shape}")
        import torch

        runtime = TorchRuntime.from_config(self.config)
        network = self.network().to(runtime.device).eval()
        with torch_threads(self.config["threads"]), torch.no_grad(), runtime.autocast():
            out = run_network(network, runtime.tensor(rgb), reverse=False)
        return np.clip(runtime.output(out), 0.0, 1.0)

    # -- persistence ----------------------------------------------------------
    def num_parameters(self) -> int:
        from plugins_builtin.invisp.networks import count_parameters

        return count_parameters(self.network())

    def state(self) -> dict[str, Any]:
        """The network's state dict, named as in the authors' code (``operations.0.F.…``)."""
        return {k: v.detach().cpu() for k, v in self.network().state_dict().items()}

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Load weights named as :meth:`state` names them (or an authors' state dict,
        ``module.`` prefixes removed). The size must be this method's ``config``.

        Raises :class:`InputError` for missing, unexpected, mis-shaped or NaN weights.
        """
        from ispengine.learning.weights import as_numpy
        from plugins_builtin.invisp.networks import network_from_arrays

        arrays = {str(k): as_numpy(v) for k, v in state.items()}
        loaded = network_from_arrays(arrays, "invisp weights")
        wanted = self.network().config
        if loaded.config != wanted:
            raise InputError(
                f"invisp weights: a network of {loaded.config.blocks} blocks, growth "
                f"{loaded.config.growth}; config '{self.config['config']}' has "
                f"{wanted.blocks} and {wanted.growth} (another config?)"
            )
        self._network = loaded


class InvertibleISP(_InvISPMethod, SrgbToRawMethod):
    """Invertible-ISP as an sRGB-to-RAW method: the network run backward (module docstring)."""

    summary = "Invertible-ISP (Xing et al. 2021): one invertible network, run backward"
    one_to_many = False

    # -- conversion -----------------------------------------------------------
    def convert(
        self,
        srgb: Any,
        *,
        capture: CaptureParams | None = None,
        metadata: Mapping[str, Any] | None = None,
        seed: int | None = None,
    ) -> Unprocessed:
        """The network backward on the whole image, 1/WB, mosaic, clip to [0, 1].

        Deterministic: ``seed`` is ignored. Needs the target camera's white
        balance (``wb_gains`` in ``metadata``, e.g. from ``--like RAW``).
        """
        import torch

        image = as_srgb(srgb)
        target = TargetCamera.from_metadata(metadata)
        if target.wb_gains is None:
            raise InputError(
                "invisp: needs the target camera's white balance (wb_gains; give --like RAW)"
            )
        runtime = TorchRuntime.from_config(self.config)
        network = self.network().to(runtime.device).eval()
        with torch_threads(self.config["threads"]), torch.no_grad(), runtime.autocast():
            tensor = runtime.tensor(np.asarray(image, dtype=np.float32))
            nchw = tensor.permute(2, 0, 1)[None]
            camera = runtime.output(network(nchw, reverse=True)[0].permute(1, 2, 0))
        mosaic = np.clip(to_mosaic(camera, target.cfa_pattern, target.wb_gains), 0.0, 1.0)
        drawn = {"method": self.name, "config": self.config["config"], **target.as_metadata()}
        return Unprocessed(target.make_raw(mosaic, capture=capture), drawn)


class InvertibleISPRender(_InvISPMethod, RawToSrgbMethod):
    """Invertible-ISP as a RAW-to-sRGB method: the network run forward (module docstring)."""

    summary = "Invertible-ISP (Xing et al. 2021): one invertible network, run forward"

    def render(self, raw: RawImage, *, capture: CaptureParams | None = None) -> np.ndarray:
        """Malvar demosaic, white balance (the RAW's gains) and the network: float32
        ``(H, W, 3)`` in [0, 1]. ``capture`` is not used (the network does not read it)."""
        from ispengine.io.raw.levels import normalize

        if not isinstance(raw, RawImage):
            raise InputError(f"invisp: render takes a RawImage, got {type(raw).__name__}")
        camera = to_camera_rgb(normalize(raw), raw.cfa_pattern, raw.wb_gains)
        return self.render_camera_rgb(camera)
