"""One trainer for any forward ISP model: paired, or unpaired with adversarial losses.

The model is any ``torch.nn.Module`` from an input array ``(N, C, h, w)`` (a
RAW front end: packed planes, demosaiced camera RGB, ...) to sRGB
``(N, 3, s·h, s·w)``; :class:`ForwardTrainingData` holds the inputs, the
scale ``s``, the references (each RAW developed by a fixed pipeline) and the
sRGB targets. Two modes (the ``training`` setting):

* **paired**: targets are the sRGB images of the same scenes, pixel-aligned.
  Terms: content (VGG-19 relu5_4 of output vs target), colour (MSE after a
  Gaussian blur), perceptual (LPIPS with equal weights on AlexNet), total
  variation, and, with ``adversarial``, the three adversarial terms below.
* **unpaired**: targets are sRGB images of other scenes. Terms: content on
  the L* channel against the reference (structure from the RAW), total
  variation, and the relativistic adversarial terms of three discriminators
  (colour on blurred images through ViT tokens, texture on AlexNet relu1 and
  relu4 of grayscale images), which bring the targets' look. Colour and
  perceptual terms need aligned targets and are not used (as in the authors'
  released loop).

Loss terms, discriminators and the weighting are those of
:mod:`~ispengine.learning.isp_losses`, :mod:`~ispengine.learning.adversarial`
and :mod:`~ispengine.learning.loss_adaptation` (``loss_adaptation``: each term's
gradient normalised every step). ``pretrain_steps`` first trains on the MSE to
the reference alone (the paper's demosaicing pre-training). The generator uses
Adam (0.5, 0.9); the discriminators' heads Adam (0.5, 0.9) at ``lr_d``, updated
every ``d_every`` generator steps with the R1/R2 penalties and gradient norm
clipping at ``d_clip``. Crops are random and aligned between input, reference
and (paired) target; unpaired targets are cropped independently, with random
flips. Progress shows every term's weighted value; checkpoints and resume as
every trainer's (:func:`~ispengine.learning.training.run_training`).

``device``, ``precision`` and ``prefetch`` are the shared settings of
:mod:`~ispengine.learning.torch_runtime`; ``precision = "float16"`` is refused here
(loss scaling would distort the per-term gradients that loss adaptation
normalises and the R1/R2 penalties' input gradients): use ``bfloat16``.

Feature extractors: the published VGG-19, AlexNet and ViT-B/16 from local files
(``vgg_weights``, ``alexnet_weights``, ``vit_weights``; ``extractors =
"pretrained"``), or seeded random ones of the published or a small size
(``extractors = "random"``, ``extractor_size``).

Source: A. Arhire, R. Timofte, "Learned Lightweight Smartphone ISP with Unpaired
Data", CVPR 2025 workshops, §3.3–3.4; the authors' released training loop
(Adam settings, discriminator schedule and clipping, R1/R2 scaled by 100, which
``penalty_scale = 100`` reproduces).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from attrs import field, frozen

from ispengine.core.errors import InputError, ParamError
from ispengine.core.settings import (
    BooleanSetting,
    FloatSetting,
    IntegerSetting,
    OptionSpec,
    PathSetting,
)
from ispengine.learning.srgb_to_raw import Budget, FitReport
from ispengine.learning.torch_runtime import (
    CHECKPOINT_EVERY_SETTING,
    LEARNING_SETTINGS,
    THREADS_SETTING,
)

MODES = ("paired", "unpaired")
#: The smallest crop AlexNet's two max poolings accept (after its stride-4 stem).
MIN_ALEXNET_CROP = 32
#: Extractor sizes of ``extractor_size``: keyword arguments of each builder.
EXTRACTOR_SIZES: dict[str, dict[str, dict[str, Any]]] = {
    "published": {"vgg19": {}, "alexnet": {}, "vit_b_16": {}},
    "small": {
        "vgg19": {"width": 8},
        "alexnet": {"width": 16},
        "vit_b_16": {"width": 64, "depth": 2, "heads": 2, "image_size": 64, "patch": 8},
    },
}

FORWARD_TRAINING_SETTINGS = (
    OptionSpec("training", MODES, "unpaired", "paired (aligned sRGB targets) or unpaired"),
    BooleanSetting("adversarial", True, "the three discriminators' adversarial terms"),
    BooleanSetting("loss_adaptation", True, "dynamic loss adaptation (gradient-normalised terms)"),
    FloatSetting("content_weight", 1.0, "weight of the content term", low=0.0, high=1e4),
    FloatSetting("colour_weight", 1.0, "weight of the colour term (paired)", low=0.0, high=1e4),
    FloatSetting(
        "perceptual_weight", 1.0, "weight of the perceptual term (paired)", low=0.0, high=1e4
    ),
    FloatSetting("tv_weight", 0.1, "weight of the total variation term", low=0.0, high=1e4),
    FloatSetting("adversarial_weight", 0.1, "weight of each adversarial term", low=0.0, high=1e4),
    FloatSetting("penalty_gamma", 10.0, "γ of the R1/R2 penalties", low=0.0, high=1e4),
    FloatSetting(
        "penalty_scale", 1.0, "multiplier of R1 and R2 (the released code: 100)", low=0.0, high=1e4
    ),
    FloatSetting("lr", 5e-4, "generator Adam learning rate", low=1e-8, high=1.0),
    FloatSetting("lr_d", 1e-5, "discriminators' Adam learning rate", low=1e-8, high=1.0),
    IntegerSetting("d_every", 10, "generator steps per discriminator step", low=1, high=10_000),
    FloatSetting("d_clip", 1.0, "discriminator gradient norm clipping", low=1e-6, high=1e6),
    IntegerSetting("batch_size", 8, "training crops per step", low=1, high=256),
    IntegerSetting("crop", 64, "output crop side (even)", low=8, high=4096),
    IntegerSetting(
        "pretrain_steps", 0, "steps of MSE to the reference first", low=0, high=1_000_000
    ),
    OptionSpec(
        "extractors",
        ("pretrained", "random"),
        "pretrained",
        "feature extractors: published weights from files, or seeded random ones",
    ),
    OptionSpec("extractor_size", tuple(EXTRACTOR_SIZES), "published", "size of random extractors"),
    PathSetting("vgg_weights", None, "VGG-19 weights (torchvision's vgg19-dcbe5e5e.pth)"),
    PathSetting(
        "alexnet_weights", None, "AlexNet weights (torchvision's alexnet-owt-7be5be79.pth)"
    ),
    PathSetting("vit_weights", None, "ViT-B/16 weights (torchvision's vit_b_16-c867db91.pth)"),
    *LEARNING_SETTINGS,
    THREADS_SETTING,
    CHECKPOINT_EVERY_SETTING,
)


@frozen
class ForwardTrainingData:
    """What a forward model trains on (module docstring).

    inputs: model inputs, float32 ``(C, h, w)`` each.
    scale: output size over input size (2 for packed RAW, 1 for full-size RGB).
    references: the RAW of each input developed by a fixed pipeline, ``(3, s·h, s·w)``
        (unpaired content target and pre-training target; paired training may pass
        the targets themselves).
    targets: sRGB ``(3, H, W)``; aligned with ``inputs`` one to one when paired.
    """

    inputs: Sequence[np.ndarray]
    scale: int
    references: Sequence[np.ndarray]
    targets: Sequence[np.ndarray]
    paired: bool = field(default=False)

    def __attrs_post_init__(self) -> None:
        if not self.inputs or not self.targets:
            raise InputError("forward training needs at least one input and one target image")
        if len(self.references) != len(self.inputs):
            raise InputError("forward training: one reference per input is needed")
        if self.paired and len(self.targets) != len(self.inputs):
            raise InputError("paired forward training: one target per input is needed")
        for x, ref in zip(self.inputs, self.references, strict=True):
            if ref.shape[1:] != (x.shape[1] * self.scale, x.shape[2] * self.scale):
                raise InputError(
                    f"forward training: reference {ref.shape} does not match input {x.shape} "
                    f"at scale {self.scale}"
                )

    def check_crop(self, crop: int) -> None:
        """A one-line error when ``crop`` does not fit every image (or the scale)."""
        if crop % (2 * self.scale):
            raise InputError(f"crop {crop} must be a multiple of {2 * self.scale}")
        smallest = min(min(r.shape[1:]) for r in self.references)
        smallest = min(smallest, *(min(t.shape[1:]) for t in self.targets))
        if crop > smallest:
            raise InputError(f"crop {crop} is larger than the smallest image side ({smallest})")

    def draw(self, rng: np.random.Generator, batch: int, crop: int) -> tuple[np.ndarray, ...]:
        """Input, reference and target crops ``(B, C, ·, ·)``, float32."""
        side = crop // self.scale
        inputs, references, targets = [], [], []
        for _ in range(batch):
            i = int(rng.integers(len(self.inputs)))
            x = self.inputs[i]
            top = int(rng.integers(x.shape[1] - side + 1))
            left = int(rng.integers(x.shape[2] - side + 1))
            inputs.append(x[:, top : top + side, left : left + side])
            rows = slice(top * self.scale, top * self.scale + crop)
            cols = slice(left * self.scale, left * self.scale + crop)
            references.append(self.references[i][:, rows, cols])
            if self.paired:
                targets.append(self.targets[i][:, rows, cols])
            else:
                t = self.targets[int(rng.integers(len(self.targets)))]
                y0 = int(rng.integers(t.shape[1] - crop + 1))
                x0 = int(rng.integers(t.shape[2] - crop + 1))
                patch = t[:, y0 : y0 + crop, x0 : x0 + crop]
                if rng.random() < 0.5:
                    patch = patch[:, :, ::-1]
                targets.append(patch)
        return tuple(
            np.ascontiguousarray(np.stack(group), dtype=np.float32)
            for group in (inputs, references, targets)
        )


#: The setting naming each extractor's weights file.
WEIGHT_SETTINGS = {"vgg19": "vgg_weights", "alexnet": "alexnet_weights", "vit_b_16": "vit_weights"}


def needed_extractors(config: dict[str, Any]) -> list[str]:
    """The extractors the loss terms of ``config`` use (content: VGG-19; perceptual:
    AlexNet; adversarial: ViT-B/16 and AlexNet)."""
    terms = active_terms(config)
    needed = []
    if "content" in terms:
        needed.append("vgg19")
    if "perceptual" in terms or any(name.startswith("adv_") for name in terms):
        needed.append("alexnet")
    if "adv_colour" in terms:
        needed.append("vit_b_16")
    return needed


def check_extractor_files(config: dict[str, Any]) -> None:
    """One-line :class:`InputError` naming the first needed extractor weights file that
    is not set or does not exist (with ``extractors = "pretrained"``)."""
    from ispengine.learning.feature_extractors import PUBLISHED_FILES

    if config["extractors"] != "pretrained":
        return
    for kind in needed_extractors(config):
        setting = WEIGHT_SETTINGS[kind]
        path = config[setting]
        if path is None:
            raise InputError(
                f"setting '{setting}': extractors = 'pretrained' needs the {kind} weights "
                f"({PUBLISHED_FILES[kind]}), or use extractors = 'random'"
            )
        if not Path(path).is_file():
            raise InputError(
                f"{path}: no such {kind} weights file (setting '{setting}'; expected "
                f"torchvision's {PUBLISHED_FILES[kind]} or a .safetensors of it)"
            )


class Extractors:
    """The frozen VGG-19, AlexNet and ViT of a training configuration (built lazily)."""

    def __init__(self, config: dict[str, Any], device: Any, seed: int = 0) -> None:
        self.config, self.device, self.seed = config, device, seed
        self._built: dict[str, Any] = {}

    def __getitem__(self, kind: str) -> Any:
        if kind not in self._built:
            from ispengine.learning.feature_extractors import load_extractor

            if self.config["extractors"] == "pretrained":
                module = load_extractor(kind, self.config[WEIGHT_SETTINGS[kind]])
            else:
                size = EXTRACTOR_SIZES[self.config["extractor_size"]][kind]
                module = load_extractor(kind, None, seed=self.seed, **size)
            self._built[kind] = module.to(self.device)
        return self._built[kind]


def active_terms(config: dict[str, Any]) -> dict[str, float]:
    """The generator's loss terms of ``config`` and their weights (zero weights left out)."""
    paired = config["training"] == "paired"
    weights = {"content": config["content_weight"], "tv": config["tv_weight"]}
    if paired:
        weights["colour"] = config["colour_weight"]
        weights["perceptual"] = config["perceptual_weight"]
    if config["adversarial"]:
        for name in ("adv_colour", "adv_texture1", "adv_texture4"):
            weights[name] = config["adversarial_weight"]
    return {name: float(w) for name, w in weights.items() if w > 0}


def train_forward(
    model: Any,
    data: ForwardTrainingData,
    config: dict[str, Any],
    budget: Budget,
    *,
    seed: int = 0,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    label: str = "forward",
) -> FitReport:
    """Train ``model`` on ``data`` with ``config`` (the checked values of
    :data:`FORWARD_TRAINING_SETTINGS`) within ``budget``; the model is left in
    evaluation mode on its device (module docstring)."""
    import torch

    from ispengine.learning.torch_runtime import TorchRuntime, torch_threads
    from ispengine.learning.training import OptimizerGroup, run_training

    if data.paired != (config["training"] == "paired"):
        raise InputError(f"{label}: the data is not laid out for {config['training']} training")
    data.check_crop(config["crop"])
    if "alexnet" in needed_extractors(config) and config["crop"] < MIN_ALEXNET_CROP:
        raise InputError(
            f"crop {config['crop']}: the AlexNet-based terms (perceptual, adversarial) need "
            f"crops of at least {MIN_ALEXNET_CROP} pixels"
        )
    check_extractor_files(config)
    runtime = TorchRuntime.from_config(config)
    if runtime.precision == "float16":
        raise ParamError(
            key="precision",
            message="'float16' is not supported by the forward trainer (its per-term gradient "
            "balancing and R1/R2 penalties need unscaled gradients); use 'bfloat16'",
        )
    device = runtime.device
    with torch_threads(config["threads"]):
        extractors = Extractors(config, device, seed)
        discriminators = _discriminators(config, extractors, device, seed)
        heads = torch.nn.ModuleList([d.head for d in discriminators])
        model = model.to(device).train()
        optimizers = OptimizerGroup(
            generator=torch.optim.Adam(model.parameters(), lr=config["lr"], betas=(0.5, 0.9)),
            discriminator=torch.optim.Adam(
                heads.parameters() if discriminators else [torch.zeros(1, requires_grad=True)],
                lr=config["lr_d"],
                betas=(0.5, 0.9),
            ),
        )
        rng = np.random.default_rng(seed)
        batches = runtime.batches(
            lambda _index: tuple(
                runtime.tensor(a) for a in data.draw(rng, config["batch_size"], config["crop"])
            ),
            rng,
        )
        step = _step_function(
            model, config, extractors, discriminators, optimizers, batches, runtime
        )
        with batches:
            report = run_training(
                step,
                budget,
                modules={"model": model, "discriminators": heads},
                optimizer=optimizers,
                rng=batches.rng,
                checkpoint=checkpoint,
                resume=resume,
                checkpoint_every=config["checkpoint_every"],
                progress=progress,
                label=label,
            )
    model.eval()
    return report


def _discriminators(
    config: dict[str, Any], extractors: Extractors, device: Any, seed: int
) -> list[Any]:
    """The three discriminators when adversarial terms are active (heads from ``seed``)."""
    import torch

    if not any(name.startswith("adv_") for name in active_terms(config)):
        return []
    from ispengine.learning.adversarial import (
        TEXTURE_LAYERS,
        colour_discriminator,
        texture_discriminator,
    )

    vit, alexnet = extractors["vit_b_16"], extractors["alexnet"]
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        made = [colour_discriminator(vit)]
        made += [texture_discriminator(alexnet, layer) for layer in TEXTURE_LAYERS]
    for discriminator in made:
        discriminator.to(device).train()
        discriminator.extractor.eval()  # frozen: only the head trains
    return made


def _step_function(model, config, extractors, discriminators, optimizers, batches, runtime):
    import torch

    from ispengine.learning import adversarial, isp_losses
    from ispengine.learning.loss_adaptation import combine_gradients

    weights = active_terms(config)
    paired = config["training"] == "paired"
    penalty = config["penalty_gamma"] * config["penalty_scale"]
    adversarial_names = ("adv_colour", "adv_texture1", "adv_texture4")
    parameters = [p for p in model.parameters() if p.requires_grad]

    def generator_terms(output: Any, reference: Any, target: Any, real_logits: list) -> dict:
        terms: dict[str, Any] = {}
        if "content" in weights:
            goal = target if paired else reference
            terms["content"] = isp_losses.content_loss(
                extractors["vgg19"], output, goal, luminance=not paired
            )
        if "tv" in weights:
            terms["tv"] = isp_losses.total_variation(output)
        if "colour" in weights:
            terms["colour"] = isp_losses.colour_loss(output, target)
        if "perceptual" in weights:
            terms["perceptual"] = isp_losses.perceptual_distance(
                extractors["alexnet"], output, target
            )
        for name, discriminator, real in zip(
            adversarial_names, discriminators, real_logits, strict=False
        ):
            terms[name] = adversarial.generator_loss(real, discriminator(output))
        return terms

    def discriminator_step(output: Any, target: Any) -> float:
        optimizers.discriminator.zero_grad(set_to_none=True)
        fake = output.detach().requires_grad_(True)
        real = target.detach().requires_grad_(True)
        total = 0.0
        for discriminator in discriminators:
            with runtime.autocast():
                real_logits, fake_logits = discriminator(real), discriminator(fake)
                loss = adversarial.discriminator_loss(real_logits, fake_logits)
            if penalty > 0:
                loss = loss + adversarial.gradient_penalty(real_logits, real, penalty)
                loss = loss + adversarial.gradient_penalty(fake_logits, fake, penalty)
            loss.backward()
            total += float(loss.detach())
        heads = [p for d in discriminators for p in d.trainable()]
        torch.nn.utils.clip_grad_norm_(heads, config["d_clip"])
        optimizers.discriminator.step()
        return total

    def step(index: int) -> dict[str, float]:
        x, reference, target = batches.get(index)
        with runtime.autocast():
            output = model(x)
        optimizers.generator.zero_grad(set_to_none=True)
        if index < config["pretrain_steps"]:
            with runtime.autocast():
                loss = (output - reference).pow(2).mean()
            loss.backward()
            optimizers.generator.step()
            return {"loss": float(loss.detach()), "pretrain": float(loss.detach())}
        with torch.no_grad(), runtime.autocast():
            real_logits = [d(target) for d in discriminators]
        with runtime.autocast():
            terms = generator_terms(output, reference, target, real_logits)
        shown = combine_gradients(terms, weights, parameters, dynamic=config["loss_adaptation"])
        optimizers.generator.step()
        result = {"loss": sum(shown.values()), **shown}
        if discriminators and index % config["d_every"] == 0:
            result["d"] = discriminator_step(output, target)
        return result

    return step
