"""Training ParamISP: pre-training on several cameras, fine-tuning, joint fine-tuning.

Losses (2-pixel border cropped, as the paper's):

* inverse: ``‖CanoNet⁻¹(f_inv(I_sRGB + n)) − I_RAW‖₁`` on the normalised mosaic;
* forward: ``‖f_for(CanoNet(I_RAW)) − I_sRGB‖₁``;
* joint: ``‖f_for(f_inv(I_sRGB)) − I_sRGB‖₁ + ‖f_inv(I_sRGB) − I_RAW‖₁`` (both
  directions at once, each ``f`` including its CanoNet),

with dequantisation noise ``n ~ N(0, (0.4/255)²)`` on the sRGB inputs. A model
holding both directions sums their losses (the networks share nothing, so this
trains each as alone).

Schedule over a budget of ``S`` steps: ``S − F − J`` pre-training steps on every
camera of the train split (each batch from one camera drawn uniformly, so every
camera gets the same share of samples, and of one Bayer pattern), then
``F = round(fine_tune_fraction · S)`` steps on ``fine_tune_camera`` alone at
0.1× the learning rate (the paper's 2e-4 → 2e-5; none without a fine-tune
camera), then the last ``J = joint_steps`` steps of joint fine-tuning at 0.1×
(on the fine-tune camera when there is one). Within each phase the rate decays
×0.8 every ``decay_every`` steps. AdamW (torch's defaults besides the rate).
A budget of seconds only splits pre-training and fine-tuning by wall time the
same way; joint steps need a step budget.

Source: W. Kim, G. Kim, J. Lee, S. Lee, S.-H. Baek, S. Cho, "ParamISP: Learned
Forward and Inverse ISPs using Camera Parameters", CVPR 2024, §3.4 (losses,
joint fine-tuning) and §4 (training details).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ispengine.core.errors import InputError, ParamError
from ispengine.io.raw.image import CaptureParams
from ispengine.learning.paired_crops import CropBatch, PairedCrops, load_pair
from ispengine.learning.srgb_to_raw import Budget, FitReport, check_seed, train_split
from plugins_builtin.paramisp.model import OPTICAL, camera_tensors

BORDER = 2  # pixels cropped from every side before the loss
DEQUANTISE_SIGMA = 0.4 / 255  # sRGB input noise
DECAY = 0.8  # learning-rate factor every ``decay_every`` steps
FINE_TUNE_LR = 0.1  # fine-tuning and joint learning rate, relative to ``lr``


def camera_key(sample: Any) -> str:
    """The camera a sample comes from: SynthCam's camera name, else ``make model``."""
    name = (getattr(sample, "info", None) or {}).get("camera")
    if name:
        return str(name)
    capture = sample.capture
    return " ".join(part for part in (capture.make, capture.model) if part) or "unknown camera"


def matches_camera(query: str, sample: Any) -> bool:
    """Whether ``query`` names the sample's camera: its SynthCam name, its model, or
    ``make model`` (case-insensitive)."""
    wanted = query.strip().lower()
    capture = sample.capture
    names = {camera_key(sample), capture.model or "", f"{capture.make or ''} {capture.model or ''}"}
    return wanted in {name.strip().lower() for name in names if name.strip()}


class CameraCrops:
    """Training pairs grouped by camera and Bayer pattern, drawn so each camera gets
    the same share of batches and every batch has one pattern."""

    def __init__(self, groups: dict[str, list[PairedCrops]]) -> None:
        if not groups:
            raise InputError("paramisp: no training samples")
        self.cameras = sorted(groups)
        self.groups = groups

    @classmethod
    def from_samples(cls, samples: Iterable[Any]) -> CameraCrops:
        by_camera: dict[str, dict[str, list]] = {}
        for sample in samples:
            pair = load_pair(sample)
            by_camera.setdefault(camera_key(sample), {}).setdefault(pair.pattern, []).append(pair)
        return cls(
            {
                camera: [PairedCrops(pairs) for _, pairs in sorted(patterns.items())]
                for camera, patterns in by_camera.items()
            }
        )

    def check_crop(self, crop: int) -> None:
        for group in self.groups.values():
            for crops in group:
                crops.check_crop(crop)

    def draw(self, rng: np.random.Generator, batch: int, crop: int) -> CropBatch:
        """One batch: a camera uniformly, then one of its patterns by image count."""
        group = self.groups[self.cameras[int(rng.integers(len(self.cameras)))]]
        sizes = np.array([len(crops) for crops in group], dtype=float)
        crops = group[int(rng.choice(len(group), p=sizes / sizes.sum()))]
        return crops.draw(rng, batch, crop)


class Phases(NamedTuple):
    """Step counts of the schedule (see the module docstring)."""

    pretrain: int
    fine_tune: int
    joint: int


def plan_phases(config: dict[str, Any], budget: Budget) -> Phases:
    """The schedule's phases for ``budget`` (steps; 0 fine-tuning without a camera)."""
    joint = config["joint_steps"]
    fine_fraction = config["fine_tune_fraction"] if config["fine_tune_camera"] else 0.0
    if budget.steps is None:
        if joint:
            raise ParamError(key="joint_steps", message="needs a step budget (--steps)")
        return Phases(0, 0, 0)
    fine = round(fine_fraction * budget.steps)
    pretrain = budget.steps - fine - joint
    if pretrain < 0:
        raise ParamError(
            key="joint_steps",
            message=f"{joint} joint + {fine} fine-tuning steps exceed the budget of "
            f"{budget.steps} steps",
        )
    return Phases(pretrain, fine, joint)


class Schedule:
    """Which phase a step belongs to, and its learning rate (see the module docstring)."""

    def __init__(self, config: dict[str, Any], budget: Budget) -> None:
        self.phases = plan_phases(config, budget)
        self.budget = budget
        self.lr = config["lr"]
        self.decay_every = config["decay_every"]
        fine_tuning = bool(config["fine_tune_camera"])
        share = config["fine_tune_fraction"] if fine_tuning else 0.0
        self.fine_after = None
        if budget.steps is None and fine_tuning:
            self.fine_after = budget.seconds * (1 - share)

    def phase(self, step: int, elapsed: float) -> tuple[str, int]:
        """(``pretrain`` | ``fine`` | ``joint``, step within the phase) of a global step
        taken ``elapsed`` seconds into training."""
        if self.budget.steps is None:
            fine = self.fine_after is not None and elapsed >= self.fine_after
            return ("fine", 0) if fine else ("pretrain", step)
        pretrain, fine_tune, _ = self.phases
        if step >= pretrain + fine_tune:
            return "joint", step - pretrain - fine_tune
        if step >= pretrain:
            return "fine", step - pretrain
        return "pretrain", step

    def rate(self, phase: str, within: int) -> float:
        """``lr · 0.8^⌊within / decay_every⌋``, × 0.1 after pre-training."""
        rate = self.lr * DECAY ** (within // self.decay_every)
        return rate if phase == "pretrain" else rate * FINE_TUNE_LR


def border(x: Any) -> Any:
    """``x`` (``(…, H, W)``) without its :data:`BORDER`-pixel border."""
    return x[..., BORDER:-BORDER, BORDER:-BORDER]


def train(
    model: Any,
    dataset: Any,
    budget: Budget,
    *,
    seed: int = 0,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
) -> FitReport:
    """Fit ``model`` (a :class:`~plugins_builtin.paramisp.model.ParamISPModel`) on the
    train split of ``dataset`` within ``budget`` (see the module docstring).

    Weights not yet built are initialised from ``seed``; batches and noise are
    drawn from ``seed`` too. Checkpoints and resume follow
    :func:`ispengine.learning.training.run_training`.
    """
    import torch

    from ispengine.learning.training import run_training

    seed = check_seed(seed)
    config = model.config
    samples = list(train_split(dataset))
    if not samples:
        raise InputError("paramisp: the dataset has no 'train' samples to fit on")
    samples = _on_cameras(samples, config["train_cameras"])
    target_name = config["fine_tune_camera"]
    targets = [s for s in samples if target_name and matches_camera(target_name, s)]
    if target_name and not targets:
        known = ", ".join(sorted({camera_key(s) for s in samples}))
        raise InputError(
            f"paramisp: fine_tune_camera {target_name!r} matches no training sample "
            f"(cameras: {known})"
        )
    everyone = CameraCrops.from_samples(samples)
    target = CameraCrops.from_samples(targets) if targets else everyone
    crop, batch_size = config["crop"], config["batch_size"]
    everyone.check_crop(crop)

    runtime = model.runtime()
    device = runtime.device
    model.networks(seed)
    networks = model.to(device, training=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config["lr"])
    rng = np.random.default_rng(seed)
    generator = torch.Generator(device=device).manual_seed(seed)
    schedule = Schedule(config, budget)
    began = time.perf_counter()
    ran = dict.fromkeys(("pretrain", "fine", "joint"), 0)

    def make(step: int) -> tuple[str, int, BatchTensors]:
        # the phase of a time budget is read when the batch is made (prefetch: a little early)
        phase, within = schedule.phase(step, time.perf_counter() - began)
        data = everyone if phase == "pretrain" else target
        return phase, within, batch_tensors(data.draw(rng, batch_size, crop), device, generator)

    batches = runtime.batches(make, rng)

    def step_fn(step: int) -> float:
        phase, within, tensors = batches.get(step)
        ran[phase] += 1
        for group in optimizer.param_groups:
            group["lr"] = schedule.rate(phase, within)
        with runtime.autocast():
            loss = (joint_loss if phase == "joint" else direction_loss)(networks, tensors)
        optimizer.zero_grad(set_to_none=True)
        runtime.step(loss, optimizer)
        return loss.item()

    with batches:
        report = run_training(
            step_fn,
            budget,
            modules=networks,
            optimizer=optimizer,
            rng=batches.rng,
            checkpoint=checkpoint,
            resume=resume,
            checkpoint_every=config["checkpoint_every"],
            progress=progress,
            label="paramisp",
        )
    model.to(device, training=False)
    plan = f"{len(everyone.cameras)} camera(s); steps run: {ran['pretrain']} pre-training"
    if target_name or schedule.phases.joint:
        plan += f", {ran['fine']} fine-tuning, {ran['joint']} joint"
    note = "; ".join(n for n in (report.note, plan) if n)
    return FitReport(report.steps, report.seconds, report.losses, report.resumed_from, note)


def _on_cameras(samples: list[Any], names: str) -> list[Any]:
    """The samples of the cameras named in ``names`` (comma-separated; empty: all)."""
    queries = [name.strip() for name in names.split(",") if name.strip()]
    if not queries:
        return samples
    for query in queries:
        if not any(matches_camera(query, s) for s in samples):
            known = ", ".join(sorted({camera_key(s) for s in samples}))
            raise InputError(
                f"paramisp: train_cameras {query!r} matches no training sample (cameras: {known})"
            )
    return [s for s in samples if any(matches_camera(q, s) for q in queries)]


class BatchTensors(NamedTuple):
    """A batch on the device: NCHW sRGB (with and without input noise), the mosaic,
    the Bayer pattern and the networks' camera tensors."""

    srgb: Any
    noisy_srgb: Any
    mosaic: Any
    pattern: str
    camera: Any


def batch_tensors(batch: CropBatch, device: Any, generator: Any) -> BatchTensors:
    """The tensors of a :class:`CropBatch` (one Bayer pattern), sRGB noise drawn from
    ``generator``."""
    import torch

    patterns = set(batch.patterns)
    if len(patterns) != 1:
        raise InputError(f"paramisp: a batch mixes Bayer patterns {sorted(patterns)}")
    srgb = torch.from_numpy(batch.srgb).permute(0, 3, 1, 2).to(device)
    noise = torch.randn(srgb.shape, generator=generator, device=device) * DEQUANTISE_SIGMA
    captures = [
        CaptureParams(**{name: _known(getattr(batch.capture, name)[i]) for name in OPTICAL})
        for i in range(len(batch.ids))
    ]
    camera = camera_tensors(captures, batch.colour.wb_gains, batch.colour.camera_to_srgb, device)
    return BatchTensors(
        srgb, srgb + noise, torch.from_numpy(batch.mosaic).to(device), patterns.pop(), camera
    )


def _known(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def _inverse_raw(networks: Any, t: BatchTensors) -> Any:
    from plugins_builtin.paramisp.canonet import canonical_inverse

    linear = networks["inverse"](t.noisy_srgb, t.camera)
    return canonical_inverse(linear, t.pattern, t.camera.wb, t.camera.ccm)


def _forward_srgb(networks: Any, mosaic: Any, t: BatchTensors) -> Any:
    from plugins_builtin.paramisp.canonet import canonical_forward

    linear = canonical_forward(mosaic, t.pattern, t.camera.wb, t.camera.ccm)
    return networks["forward"](linear, t.camera)


def direction_loss(networks: Any, t: BatchTensors) -> Any:
    """The L1 loss of each held direction (summed)."""
    from torch.nn import functional as F

    loss = 0.0
    if "inverse" in networks:
        loss = loss + F.l1_loss(border(_inverse_raw(networks, t)), border(t.mosaic))
    if "forward" in networks:
        loss = loss + F.l1_loss(border(_forward_srgb(networks, t.mosaic, t)), border(t.srgb))
    return loss


def joint_loss(networks: Any, t: BatchTensors) -> Any:
    """``‖f_for(f_inv(I_sRGB)) − I_sRGB‖₁ + ‖f_inv(I_sRGB) − I_RAW‖₁``."""
    from torch.nn import functional as F

    raw = _inverse_raw(networks, t)
    cycle = F.l1_loss(border(_forward_srgb(networks, raw, t)), border(t.srgb))
    return cycle + F.l1_loss(border(raw), border(t.mosaic))
