"""The SSDNet sRGB-to-RAW method: a Restormer-style network with soft supervision.

B. Zou, Y. Zhang, "Learned Reverse ISP with Soft Supervision", ECCV 2022
workshops (AIM 2022 reverse-ISP challenge). The network
(:mod:`plugins_builtin.ssdnet.networks`) maps sRGB to the packed RAW (R, Gr,
Gb, B at half the size); ``convert`` unpacks it to the target camera's Bayer
pattern and clips to [0, 1].

Soft supervision (§3.2), when ``soft_supervision`` is on: an error branch
predicts e ≈ |x − x_gt| from the refined RGB, and training compares the
prediction x with a resampled target::

    e_gt = |x − x_gt| (no gradient),  x_rp = x_gt + z · e_gt,  z ~ N(0, 1)
    loss = ‖x − x_rp‖₁ + α ‖e − e_gt‖₁,  α = ``alpha`` (0.001)

(the authors' released loss function does not run and compares e with x_gt; this
is the paper's). Testing-resampling: ``convert`` averages ``samples`` draws of
x + e · z (seeded), and ``sample`` returns the draws themselves, so the
method is one-to-many; ``samples = 0`` returns x. Without soft supervision the
loss is ‖x − x_gt‖₁, there is no error branch and ``convert`` returns x.

Training follows the authors' Restormer recipe: AdamW (β 0.9, 0.999, weight
decay 1e-4), the learning rate constant for the first 92/300 of a step budget
then a cosine to ``lr_min``, gradient-norm clipping at ``grad_clip``
(Restormer's 0.01), progressive crops (each side of ``crops`` for an equal
share of a step budget; the first one for a time budget), random flips and
90° rotations of each sRGB crop and its packed RAW together (``augment``).

Settings (ranges inclusive):

* ``config``: ``published`` (≈35.6M parameters without the error branch) or
  ``small`` (trains on a CPU).
* ``soft_supervision``: the error branch and the resampled loss, default true.
* ``alpha``: weight of the error loss, [0, 10], default 0.001.
* ``samples``: testing-resampling draws averaged by ``convert``, [0, 1000],
  default 50 (0: the plain prediction).
* ``lr``: [1e-6, 0.1], default 3e-4; ``lr_min``: [0, 0.1], default 1e-6;
  ``weight_decay``: [0, 1], default 1e-4; ``grad_clip``: [0, 1000], default
  0.01 (0: no clipping).
* ``batch_size``: [1, 256], default 4; ``crops``: even crop sides in pixels,
  each in [16, 2048], default [128, 160, 192, 256, 320] (the authors' 128→320).
* ``augment``: flips and rotations, default true.
* ``device``: ``auto`` | ``cpu`` | ``cuda``; ``checkpoint_every`` (steps);
  ``threads``: torch CPU threads in fit/convert, 0 = torch's default.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ispengine.core.cfa import merge_cfa
from ispengine.core.errors import InputError, ParamError
from ispengine.core.settings import (
    ArraySetting,
    BooleanSetting,
    FloatSetting,
    IntegerSetting,
    OptionSpec,
)
from ispengine.io.raw.image import CaptureParams
from ispengine.learning.srgb_to_raw import (
    Budget,
    FitReport,
    SrgbToRawMethod,
    TargetCamera,
    Unprocessed,
    as_srgb,
    check_sample_count,
    check_seed,
)
from ispengine.learning.torch_runtime import (
    CHECKPOINT_EVERY_SETTING,
    LEARNING_SETTINGS,
    THREADS_SETTING,
    TorchRuntime,
    torch_threads,
)

#: Share of a step budget at the constant learning rate (Restormer: 92k of 300k iterations).
CONSTANT_FRACTION = 92 / 300


class SSDNetMethod(SrgbToRawMethod):
    """SSDNet as an sRGB-to-RAW method (see the module docstring)."""

    name = "ssdnet"
    summary = "SSDNet (Zou & Zhang 2022): Restormer-style reverse ISP with soft supervision"
    learned = True
    one_to_many = True
    settings = (
        OptionSpec(
            "config",
            ("published", "small"),
            "small",
            "network size: 'small' (CPU-trainable) or 'published' (the authors', ~35.6M)",
        ),
        BooleanSetting("soft_supervision", True, "error branch and resampled training target"),
        FloatSetting("alpha", 1e-3, "weight of the error-branch loss", low=0.0, high=10.0),
        IntegerSetting(
            "samples",
            50,
            "testing-resampling draws averaged (0: plain prediction)",
            low=0,
            high=1000,
        ),
        FloatSetting("lr", 3e-4, "AdamW learning rate", low=1e-6, high=1e-1),
        FloatSetting("lr_min", 1e-6, "learning rate at the end of the cosine", low=0.0, high=1e-1),
        FloatSetting("weight_decay", 1e-4, "AdamW weight decay", low=0.0, high=1.0),
        FloatSetting("grad_clip", 0.01, "gradient-norm clip (0: none)", low=0.0, high=1000.0),
        IntegerSetting("batch_size", 4, "training crops per step", low=1, high=256),
        ArraySetting(
            "crops",
            (None,),
            [128, 160, 192, 256, 320],
            "progressive crop sides in pixels (even), each for an equal share of the steps",
            low=16,
            high=2048,
            integer=True,
        ),
        BooleanSetting("augment", True, "random flips and 90° rotations of the training crops"),
        *LEARNING_SETTINGS,
        CHECKPOINT_EVERY_SETTING,
        THREADS_SETTING,
    )

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        crops = list(self.config["crops"])
        if not crops or any(side % 2 for side in crops):
            raise ParamError(key="crops", message=f"expected even crop sides, got {crops}")
        if self.config["lr_min"] > self.config["lr"]:
            raise ParamError(
                key="lr_min",
                message=f"must not exceed lr ({self.config['lr']:g}), "
                f"got {self.config['lr_min']:g}",
            )
        self.one_to_many = bool(self.config["soft_supervision"] and self.config["samples"] > 0)
        self._network = None

    def network(self, seed: int = 0) -> Any:
        """The :class:`~plugins_builtin.ssdnet.networks.SSDNet`, built from ``seed`` on first
        use (with the error branch when ``soft_supervision`` is on)."""
        if self._network is None:
            from plugins_builtin.ssdnet.networks import CONFIGS, build

            self._network = build(
                CONFIGS[self.config["config"]],
                seed=seed,
                with_error=self.config["soft_supervision"],
            )
        return self._network

    # -- training -------------------------------------------------------------
    def learning_rate(self, step: int, budget: Budget) -> float:
        """``lr`` for the first 92/300 of a step budget, then a cosine down to ``lr_min``
        at its end (constant for a time budget)."""
        high, low = self.config["lr"], self.config["lr_min"]
        if not budget.steps:
            return high
        start = CONSTANT_FRACTION * budget.steps
        if step < start:
            return high
        progress = min(1.0, (step - start) / max(1.0, budget.steps - start))
        return low + 0.5 * (high - low) * (1.0 + math.cos(math.pi * progress))

    def crop_at(self, step: int, budget: Budget) -> int:
        """The progressive crop side of ``step``: ``crops[k]`` over the k-th equal share of
        a step budget (the first one for a time budget)."""
        crops = self.config["crops"]
        if not budget.steps:
            return crops[0]
        return crops[min(len(crops) - 1, step * len(crops) // budget.steps)]

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

        Weights not yet built are initialised from ``seed``; crops, augmentations and
        the resampling noise are drawn from generators seeded with it.
        """
        import torch

        from ispengine.learning.training import fit_on_crops

        def make_optimizer(network: Any) -> Any:
            return torch.optim.AdamW(
                network.parameters(),
                lr=self.config["lr"],
                betas=(0.9, 0.999),
                weight_decay=self.config["weight_decay"],
            )

        runtime = TorchRuntime.from_config(self.config)
        return fit_on_crops(
            "ssdnet",
            dataset,
            budget,
            network=self.network(seed),
            crops=self.config["crops"],
            make_optimizer=make_optimizer,
            make_batch=lambda data, rng: self._batch_function(data, budget, rng, runtime),
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

    def _batch_function(self, data, budget, rng, runtime):
        """The batch of a step on the device: sRGB crops, packed RAW truth and (with soft
        supervision) the standard-normal draws of the noisy target, in that order."""
        soft = self.config["soft_supervision"]

        def make(index: int) -> tuple[Any, Any, Any]:
            batch = data.draw(rng, self.config["batch_size"], self.crop_at(index, budget))
            srgb, packed = batch.srgb, batch.packed
            if self.config["augment"]:
                srgb, packed = augment(srgb, packed, rng)
            srgb_t = runtime.tensor(np.ascontiguousarray(srgb)).permute(0, 3, 1, 2)
            truth = runtime.tensor(np.ascontiguousarray(packed)).permute(0, 3, 1, 2)
            noise = None
            if soft:
                drawn = rng.standard_normal(truth.shape).astype(np.float32)
                noise = runtime.tensor(drawn)
            return srgb_t, truth, noise

        return make

    def _step_function(self, network, optimizer, budget, batches, runtime):
        """One AdamW step on a fresh batch (module docstring)."""
        from torch.nn import functional as F

        soft, alpha = self.config["soft_supervision"], self.config["alpha"]
        clip = self.config["grad_clip"]

        def step(index: int) -> float:
            for group in optimizer.param_groups:
                group["lr"] = self.learning_rate(index, budget)
            srgb_t, truth, noise = batches.get(index)
            with runtime.autocast():
                predicted, error = network(srgb_t)
                if soft:
                    error_truth = (predicted - truth).abs().detach()
                    target = truth + noise * error_truth
                    loss = F.l1_loss(predicted, target) + alpha * F.l1_loss(error, error_truth)
                else:
                    loss = F.l1_loss(predicted, truth)
            optimizer.zero_grad(set_to_none=True)
            runtime.step(loss, optimizer, clip=clip, parameters=network.parameters())
            return loss.item()

        return step

    # -- conversion -----------------------------------------------------------
    def _predict(self, srgb: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """The packed prediction and error ``(H/2, W/2, 4)`` of one sRGB image."""
        import torch

        image = as_srgb(srgb)  # refuses odd sizes: a Bayer RAW has an even height and width
        runtime = TorchRuntime.from_config(self.config)
        network = self.network().to(runtime.device).eval()
        with torch_threads(self.config["threads"]), torch.no_grad(), runtime.autocast():
            tensor = runtime.tensor(np.asarray(image, dtype=np.float32))
            predicted, error = network(tensor.permute(2, 0, 1)[None])
        as_hwc = lambda t: runtime.output(t[0].permute(1, 2, 0))  # noqa: E731
        # the authors clamp both outputs to [0, 1] at inference
        return as_hwc(predicted), None if error is None else np.clip(as_hwc(error), 0.0, 1.0)

    def _raw(
        self, packed: np.ndarray, target: TargetCamera, capture: Any, drawn: dict
    ) -> Unprocessed:
        planes = [np.clip(packed[..., k], 0.0, 1.0) for k in range(4)]
        mosaic = merge_cfa(planes, target.cfa_pattern, np)
        metadata = {"method": self.name, "config": self.config["config"], **drawn}
        return Unprocessed(target.make_raw(mosaic, capture=capture), metadata)

    def convert(
        self,
        srgb: Any,
        *,
        capture: CaptureParams | None = None,
        metadata: Mapping[str, Any] | None = None,
        seed: int | None = None,
    ) -> Unprocessed:
        """The packed prediction, averaged over ``samples`` draws of x + e·z (seeded by
        ``seed``) with soft supervision, unpacked to the target's pattern, clipped."""
        target = TargetCamera.from_metadata(metadata)
        predicted, error = self._predict(srgb)
        if error is None or self.config["samples"] == 0:
            return self._raw(predicted, target, capture, {})
        seed = check_seed(0 if seed is None else seed)
        draws = _draws(predicted, error, self.config["samples"], seed)
        return self._raw(draws.mean(axis=0), target, capture, {"seed": seed})

    def iter_samples(
        self,
        srgb: Any,
        n: int,
        *,
        capture: CaptureParams | None = None,
        metadata: Mapping[str, Any] | None = None,
        seed: int = 0,
    ) -> Iterator[Unprocessed]:
        """``n`` draws x + e·z from one network run, made one at a time as they are
        consumed; the plain prediction ``n`` times without the error branch."""
        check_sample_count(n)
        target = TargetCamera.from_metadata(metadata)
        predicted, error = self._predict(srgb)
        if error is None:
            for _ in range(n):
                yield self._raw(predicted, target, capture, {})
            return
        seed = check_seed(seed)
        for k, draw in enumerate(_iter_draws(predicted, error, n, seed)):
            yield self._raw(draw, target, capture, {"seed": seed, "draw": k})

    # -- persistence ----------------------------------------------------------
    def num_parameters(self) -> int:
        """Parameters of the network (with the error branch when it has one)."""
        from plugins_builtin.ssdnet.networks import count_parameters

        return count_parameters(self.network())

    def state(self) -> dict[str, Any]:
        """The network's state dict, named as in the authors' code."""
        return {k: v.detach().cpu() for k, v in self.network().state_dict().items()}

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Load weights named as :meth:`state` names them: a flat state dict, or the
        authors' BasicSR file content (``{"params": ...}``); without soft supervision
        the error branch (``sigma.*``) of a file is ignored.

        Raises :class:`InputError` for missing, unexpected, mis-shaped or NaN weights.
        """
        import torch

        from ispengine.learning.weights import checked_state, unwrap_state

        state = unwrap_state(state)
        network = self.network()
        expected = network.state_dict()
        if not self.config["soft_supervision"]:
            state = {k: v for k, v in state.items() if not k.startswith("sigma.")}
        arrays = checked_state(
            state,
            expected,
            "ssdnet weights",
            hint="another config, or soft_supervision set otherwise?",
        )
        bad = next((k for k, v in arrays.items() if not np.all(np.isfinite(v))), None)
        if bad is not None:
            raise InputError(f"ssdnet weights: tensor '{bad}' holds NaN or infinite values")
        network.load_state_dict(
            {k: torch.from_numpy(arrays[k]).to(t.dtype) for k, t in expected.items()}
        )


def augment(srgb: np.ndarray, packed: np.ndarray, rng: np.random.Generator):
    """The same random flip / 90° rotation of every sRGB crop ``(B, H, W, 3)`` and its packed
    RAW ``(B, H/2, W/2, 4)`` (spatially; the packed channel order stays R, Gr, Gb, B, so
    the Bayer cell moves by at most one sRGB pixel, as in the authors' training)."""
    flip_h, flip_v, rotate = (bool(v) for v in rng.integers(0, 2, size=3))
    for axis, flip in ((2, flip_h), (1, flip_v)):
        if flip:
            srgb, packed = np.flip(srgb, axis=axis), np.flip(packed, axis=axis)
    if rotate:
        srgb, packed = np.rot90(srgb, axes=(1, 2)), np.rot90(packed, axes=(1, 2))
    return srgb, packed


def _iter_draws(
    predicted: np.ndarray, error: np.ndarray, n: int, seed: int
) -> Iterator[np.ndarray]:
    """``n`` resampled predictions x + e·z, z ~ N(0, 1) drawn from ``seed``, one at a time
    (the generator's normals come in order, so draw ``k`` is the same however many are made)."""
    rng = np.random.default_rng(seed)
    for _ in range(n):
        yield predicted + rng.standard_normal(predicted.shape).astype(np.float32) * error


def _draws(predicted: np.ndarray, error: np.ndarray, n: int, seed: int) -> np.ndarray:
    """The ``n`` draws of :func:`_iter_draws`, stacked."""
    return np.stack(list(_iter_draws(predicted, error, n, seed)))
