"""Supervised or semi-supervised training of a target ISP model F.

SemiISP §3.3 and appendix A.3 (Table 6). :func:`train_model` trains any
torch module mapping NHWC input to NHWC sRGB in up to two phases, both run by
:func:`ispengine.learning.training.run_training`:

1. **Main phase** (``config.steps`` steps). Each step draws ``batch_real``
   (N_r) real crops and ``batch_pseudo`` (N_p) pseudo crops from one numpy
   Generator seeded by ``seed`` (real first, then pseudo), runs F on the
   ``N_r + N_p`` crops as one batch and minimises ``L_semi``
   (:func:`~plugins_builtin.semiisp.opf.balanced_loss`, with online pseudo-data
   filtering when ``beta`` is set). Without pseudo data (N_p = 0) the loss is
   the mean per-sample loss of the real batch: plain supervised training.
2. **Fine-tuning** on the real pairs only (only after a main phase with pseudo
   data), ``finetune_steps`` steps (default half the main phase, as SemiISP
   halves the model's usual iterations), batches of ``N_r + N_p`` real crops.
   SemiISP fine-tunes with "the hyperparameters of the target model's original
   paper"; here, with no such paper for an arbitrary F, it uses a *fresh*
   AdamW (the moments of the mixed-data phase are stale) and its own cosine
   schedule restarted at **0.5×** the main learning rate, a gentler restart that
   keeps what was learnt from the pseudo data (our choice).

Both phases use AdamW (``weight_decay``) with a cosine schedule from the max lr
down to 0.001× of it over the phase's steps (SemiISP appendix A.3, Tables 5–6):
step ``t`` of ``T`` uses ``lr·(ε + (1 − ε)·(1 + cos(π·t/(T−1)))/2)``, ε = 0.001,
so the first step uses the max lr and the last the minimum.

torch's global RNG is neither seeded nor used here: the caller builds (and
seeds) the model; all data randomness comes from the numpy Generator.

Source: Yoshimura, Otsuka, Berdan, Ohashi, "SemiISP/SemiIE: Semi-Supervised Image Signal
Processor and Image Enhancement Leveraging One-to-Many Mapping sRGB-to-RAW",
arXiv:2504.02345, 2025 (SemiISP), §3.3 Eqs. 10–13
and appendix A.3.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
from attrs import field, frozen

from ispengine.core.errors import InputError, ParamError
from ispengine.learning.metrics import psnr, ssim
from ispengine.learning.srgb_to_raw import Budget
from plugins_builtin.semiisp.opf import LOSS_KINDS, balanced_loss, check_beta, per_sample_loss
from plugins_builtin.semiisp.pairs import ImagePairs

MIN_LR_FACTOR = 0.001
FINETUNE_LR_FACTOR = 0.5


def _whole(low: int) -> Any:
    def check(instance: Any, attribute: Any, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ParamError(
                key=attribute.name, message=f"expected a whole number >= {low}, got {value!r}"
            )

    return check


def _positive(allow_zero: bool) -> Any:
    def check(instance: Any, attribute: Any, value: Any) -> None:
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number or not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
            bound = ">= 0" if allow_zero else "> 0"
            raise ParamError(
                key=attribute.name, message=f"expected a number {bound}, got {value!r}"
            )

    return check


def _even_crop(instance: Any, attribute: Any, value: Any) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or value < 2
        or value % 2
    ):
        raise ParamError(key="crop", message=f"expected an even whole number >= 2, got {value!r}")


def _loss_kind(instance: Any, attribute: Any, value: Any) -> None:
    if value not in LOSS_KINDS:
        raise ParamError(
            key="loss", message=f"expected one of {', '.join(LOSS_KINDS)}, got {value!r}"
        )


def _beta(instance: Any, attribute: Any, value: Any) -> None:
    check_beta(value)


def _finetune(instance: Any, attribute: Any, value: Any) -> None:
    if value is not None:
        _whole(0)(instance, attribute, value)


@frozen
class TrainConfig:
    """Settings of :func:`train_model` (see the module docstring).

    Attributes:
        steps: optimiser steps of the main phase, >= 1 (SemiISP: 40,000).
        batch_real: real crops per step, N_r >= 1.
        batch_pseudo: pseudo crops per step, N_p >= 0; 0 trains supervised (and
            any pseudo pairs given are ignored). :func:`paper_batch_sizes` gives
            the paper's split.
        crop: side of the square training crops, even.
        lr: max learning rate (1e-3 suits small models; SemiISP uses 1e-4).
        weight_decay: AdamW's decoupled weight decay, >= 0.
        loss: per-sample loss, ``mse`` (SemiISP, no denoising) or ``l1_pooled``
            (noisy inputs, SemiISP §3.4 Eq. 14).
        beta: OPF threshold β > 0; None turns filtering off (every pseudo sample
            counts). SemiISP uses 1.0 (≤100 or >1000 pairs) and 1.2 (≤1000).
        finetune_steps: steps of the real-only fine-tuning; None means
            ``steps // 2`` when pseudo data is used and 0 otherwise.
        flip: random horizontal flips of the crops.
    """

    steps: int = field(validator=_whole(1))
    batch_real: int = field(validator=_whole(1))
    batch_pseudo: int = field(validator=_whole(0))
    crop: int = field(validator=_even_crop)
    lr: float = field(default=1e-3, validator=_positive(False))
    weight_decay: float = field(default=0.01, validator=_positive(True))
    loss: str = field(default="mse", validator=_loss_kind)
    beta: float | None = field(default=None, validator=_beta)
    finetune_steps: int | None = field(default=None, validator=_finetune)
    flip: bool = True

    def resolved_finetune_steps(self, semi: bool) -> int:
        """Fine-tuning steps for a run that does (``semi``) or does not use pseudo data."""
        if not semi:
            return 0
        return self.steps // 2 if self.finetune_steps is None else int(self.finetune_steps)


@frozen
class TrainReport:
    """What :func:`train_model` did.

    ``losses`` holds one value per step: the main phase's ``steps`` values, then
    the fine-tuning's ``finetune_steps``. ``kept_fraction`` holds, per
    semi-supervised step, the fraction of pseudo samples OPF kept (mean δ); it
    is empty for supervised training. ``seconds`` is the wall time of both phases.
    """

    steps: int
    finetune_steps: int
    losses: tuple[float, ...]
    kept_fraction: tuple[float, ...]
    seconds: float

    @property
    def main_losses(self) -> tuple[float, ...]:
        return self.losses[: self.steps]

    @property
    def finetune_losses(self) -> tuple[float, ...]:
        return self.losses[self.steps :]


def paper_batch_sizes(n_pairs: int) -> tuple[int, int]:
    """SemiISP's (N_r, N_p) for ``n_pairs`` real pairs: (2, 18) for ≤100, (4, 16) for
    ≤1000, (6, 14) for more (its Table 6)."""
    if isinstance(n_pairs, bool) or not isinstance(n_pairs, (int, np.integer)) or n_pairs < 1:
        raise ParamError(key="n_pairs", message=f"expected a whole number >= 1, got {n_pairs!r}")
    if n_pairs <= 100:
        return 2, 18
    if n_pairs <= 1000:
        return 4, 16
    return 6, 14


def cosine_lr(step: int, total: int, max_lr: float, floor: float = MIN_LR_FACTOR) -> float:
    """The learning rate of ``step`` (0-based) of ``total``: cosine from ``max_lr`` to
    ``floor·max_lr``, reached at the last step."""
    progress = step / (total - 1) if total > 1 else 0.0
    return max_lr * (floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress)))


def _device(model: Any) -> Any:
    import torch

    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def _runtime(model: Any, runtime: Any) -> Any:
    """``runtime``, or (``None``) float32 on the model's device without prefetching."""
    from ispengine.learning.torch_runtime import TorchRuntime

    if runtime is not None:
        return runtime
    return TorchRuntime("cuda" if _device(model).type == "cuda" else "cpu")


def _phase(
    model: Any,
    budget: Any,
    lr: float,
    weight_decay: float,
    draw: Any,
    loss_fn: Any,
    rng: np.random.Generator,
    progress: bool,
    label: str,
    runtime: Any = None,
    **checkpointing: Any,
) -> Any:
    """Run AdamW steps with a fresh optimiser until ``budget`` is spent (a cosine schedule
    over its steps, the max lr throughout when it only limits seconds); the
    :class:`~ispengine.learning.srgb_to_raw.FitReport`. ``draw()`` makes a numpy batch
    from ``rng`` (prefetched at the depth of ``runtime``, a
    :class:`~ispengine.learning.torch_runtime.TorchRuntime`, which also gives the model's
    device and precision). ``checkpointing``: the checkpoint keywords of
    :func:`~ispengine.learning.training.run_training`."""
    import torch

    from ispengine.learning.srgb_to_raw import FitReport
    from ispengine.learning.training import run_training

    if budget.steps == 0:
        return FitReport()
    runtime = _runtime(model, runtime)
    model.to(runtime.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    batches = runtime.batches(lambda _index: tuple(runtime.tensor(a) for a in draw()), rng)

    def step_fn(index: int) -> float:
        if budget.steps is not None:
            for group in optimizer.param_groups:
                group["lr"] = cosine_lr(index, budget.steps, lr)
        inputs, targets = batches.get(index)
        with runtime.autocast():
            loss = loss_fn(model(inputs), targets)
        optimizer.zero_grad(set_to_none=True)
        runtime.step(loss, optimizer)
        return loss.item()

    with batches:
        return run_training(
            step_fn,
            budget,
            modules={"model": model},
            optimizer=optimizer,
            rng=batches.rng,
            progress=progress,
            label=label,
            **checkpointing,
        )


def train_supervised(
    model: Any,
    pairs: ImagePairs,
    budget: Any,
    *,
    batch: int,
    crop: int,
    lr: float,
    weight_decay: float = 0.0,
    loss: str = "mse",
    seed: int,
    progress: bool = True,
    label: str = "train",
    runtime: Any = None,
    **checkpointing: Any,
) -> Any:
    """Train ``model`` in place on ``pairs`` within a
    :class:`~ispengine.learning.srgb_to_raw.Budget`: batches of ``batch`` random
    ``crop``-sided crops (flipped at random) drawn from a numpy Generator seeded by
    ``seed``, the mean per-sample ``loss``, AdamW with the cosine schedule of
    :func:`cosine_lr`; the model is left in eval mode. ``checkpointing``: the
    checkpoint keywords of :func:`~ispengine.learning.training.run_training`
    (``checkpoint``, ``resume``, ``checkpoint_every``); ``runtime``: the
    :class:`~ispengine.learning.torch_runtime.TorchRuntime` to train with (``None``:
    float32 where the model is, no prefetching). Returns its
    :class:`~ispengine.learning.srgb_to_raw.FitReport`."""
    pairs.check_crop(crop)
    rng = np.random.default_rng(seed)
    model.train()
    try:
        return _phase(
            model,
            budget,
            lr,
            weight_decay,
            lambda: pairs.draw(rng, batch, crop),
            lambda pred, target: per_sample_loss(pred, target, loss).mean(),
            rng,
            progress,
            label,
            runtime,
            **checkpointing,
        )
    finally:
        model.eval()


def train_model(
    model: Any,
    real: ImagePairs,
    pseudo: ImagePairs | None,
    config: TrainConfig,
    *,
    seed: int,
    progress: bool = True,
    label: str = "train",
    runtime: Any = None,
) -> TrainReport:
    """Train ``model`` in place on ``real`` (and ``pseudo``) pairs; see the module docstring.

    Args:
        model: a ``torch.nn.Module`` mapping ``(B, crop, crop, 3)`` float32 input
            to ``(B, crop, crop, 3)`` sRGB, on any device (batches follow it).
        real: the real (paired) data.
        pseudo: the pseudo data, or None (supervised); used when
            ``config.batch_pseudo > 0``.
        config: the :class:`TrainConfig`.
        seed: seeds the numpy Generator every crop is drawn from.
        progress: show tqdm bars. label: their description (fine-tuning adds
            ``-finetune``).
        runtime: the :class:`~ispengine.learning.torch_runtime.TorchRuntime` (device,
            precision, prefetch depth) to train with; ``None``: float32 on the model's
            device, no prefetching. The model is moved to its device.

    The model is left in the train/eval mode it came in.
    """
    if not isinstance(config, TrainConfig):
        raise ParamError(
            key="config", message=f"expected a TrainConfig, got {type(config).__name__}"
        )
    if not isinstance(real, ImagePairs):
        raise InputError(f"real: expected ImagePairs, got {type(real).__name__}")
    if pseudo is not None and not isinstance(pseudo, ImagePairs):
        raise InputError(f"pseudo: expected ImagePairs or None, got {type(pseudo).__name__}")
    semi = config.batch_pseudo > 0
    if semi and pseudo is None:
        raise ParamError(
            key="batch_pseudo",
            message=f"{config.batch_pseudo} pseudo crops per step but no pseudo pairs given",
        )
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ParamError(key="seed", message=f"expected a whole number, got {seed!r}")
    real.check_crop(config.crop)
    if semi:
        pseudo.check_crop(config.crop)
    n_real, n_pseudo, crop, flip = config.batch_real, config.batch_pseudo, config.crop, config.flip
    rng = np.random.default_rng(seed)
    kept: list[float] = []

    def draw_mixed() -> tuple[np.ndarray, np.ndarray]:
        real_in, real_out = real.draw(rng, n_real, crop, flip)
        if not semi:
            return real_in, real_out
        fake_in, fake_out = pseudo.draw(rng, n_pseudo, crop, flip)
        return np.concatenate([real_in, fake_in]), np.concatenate([real_out, fake_out])

    def main_loss(pred: Any, target: Any) -> Any:
        losses = per_sample_loss(pred, target, config.loss)
        if not semi:
            return losses.mean()
        result = balanced_loss(losses[:n_real], losses[n_real:], config.beta)
        kept.append(float(result.kept_mask.float().mean().item()))
        return result.total

    def draw_real() -> tuple[np.ndarray, np.ndarray]:
        return real.draw(rng, n_real + n_pseudo, crop, flip)

    def real_loss(pred: Any, target: Any) -> Any:
        return per_sample_loss(pred, target, config.loss).mean()

    finetune_steps = config.resolved_finetune_steps(semi)
    was_training = model.training
    begin = time.perf_counter()
    model.train()
    try:
        losses = _phase(
            model,
            Budget(steps=config.steps),
            config.lr,
            config.weight_decay,
            draw_mixed,
            main_loss,
            rng,
            progress,
            label,
            runtime,
        ).losses
        losses += _phase(
            model,
            Budget(steps=finetune_steps),
            FINETUNE_LR_FACTOR * config.lr,
            config.weight_decay,
            draw_real,
            real_loss,
            rng,
            progress,
            f"{label}-finetune",
            runtime,
        ).losses
    finally:
        model.train(was_training)
    seconds = time.perf_counter() - begin
    return TrainReport(config.steps, finetune_steps, tuple(losses), tuple(kept), seconds)


def evaluate(model: Any, pairs: ImagePairs) -> dict[str, Any]:
    """Mean PSNR (dB) and SSIM of ``model``'s outputs, clipped to [0, 1], over ``pairs``'
    whole images.

    Runs one image at a time under ``torch.no_grad`` in eval mode (the model's
    mode is restored). Returns ``{"psnr": mean, "ssim": mean, "psnr_per_image": [...],
    "ssim_per_image": [...], "count": n}``;
    an exact match counts as ``inf`` (:func:`ispengine.learning.metrics.psnr`).
    """
    import torch

    if not isinstance(pairs, ImagePairs):
        raise InputError(f"pairs: expected ImagePairs, got {type(pairs).__name__}")
    device = _device(model)
    was_training = model.training
    model.eval()
    scores, ssims = [], []
    try:
        with torch.no_grad():
            for index in range(len(pairs)):
                source, target = pairs.full(index)
                batch = torch.from_numpy(np.array(source[None], dtype=np.float32)).to(device)
                output = model(batch)[0].float().cpu().numpy()
                output = np.clip(output, 0.0, 1.0)
                scores.append(psnr(output, target))
                ssims.append(ssim(output, target))
    finally:
        model.train(was_training)
    return {
        "psnr": float(np.mean(scores)),
        "ssim": float(np.mean(ssims)),
        "psnr_per_image": scores,
        "ssim_per_image": ssims,
        "count": len(scores),
    }
