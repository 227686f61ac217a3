"""The CSTPP raw-to-raw method: per-patch polynomial transforms learned from unpaired RAW.

"Generalizing ISP Model by Unsupervised Raw-to-raw Mapping" (ACM MM 2024). One
generator (:mod:`.networks`) predicts, from camera A's packed RAW shrunk by M,
a 14×4 polynomial transform per 16×16 patch (:mod:`.polynomial`), upsampled to
every pixel and applied to the full-resolution image; the same generator with
its own normalisation layers and head maps B → A.

Training (§3.3) is CycleGAN's with least-squares GAN losses, on random crops of
the unpaired images of both cameras (:mod:`.unpaired`)::

    L_G = λ_cycle (‖G_BA(G_AB(a)) − a‖₁ + ‖G_AB(G_BA(b)) − b‖₁)
        + λ_identity (‖G_AB(b) − b‖₁ + ‖G_BA(a) − a‖₁)
        + (D_B(G_AB(a)) − 1)² + (D_A(G_BA(b)) − 1)²
    L_D = ½ ((D_B(b) − 1)² + D_B(b̃)²) + ½ ((D_A(a) − 1)² + D_A(ã)²)

(means over the discriminator outputs), with b̃, ã drawn from replay buffers of
the last ``buffer`` generated batches (Shrivastava et al. 2017: a stored one
replaces the new one with probability ½ once the buffer is full). Adam
(β = 0.5, 0.999), learning rates ``lr_g`` and ``lr_d``, gradient norms clipped at
``clip``; λ_cycle = 10, λ_identity = 5 as published.

``map_packed`` clips the input to [0, 1], maps it at test-time downsampling
``downsample`` (M ∈ {1, 2, 4, 8, 16}: the transforms are predicted on the image
shrunk by M and applied at full resolution, the paper's Table 4) and clips the
result to [0, 1] (a RAW cannot leave its range).

Saved: the generator only (``generator.*``, loadable by the ``cstpp`` predictor);
the discriminators and optimiser states live in the training checkpoint, the
replay buffers do not (a resumed run starts them empty, so it is not bit-identical
to an uninterrupted one).

As in CycleGAN, the identity and cycle terms run each direction's generator on
the other camera's images too, so the batch-norm statistics of a direction mix
both cameras (and generated images); evaluation uses those running statistics.

Settings (ranges inclusive):

* ``config``: ``published`` (the default: 5,588,928 parameters for both directions;
  the paper's 5.67M) or ``small`` (144,968; for tests).
* ``residual``: the released code's residual form ``I + PT(I)·T`` instead of the
  paper's ``PT(I)·T`` (default false).
* ``discriminator``: ``patchgan`` (the paper's; a logit per patch) or ``pooled``
  (the released code's: one logit per image); ``disc_width`` its first layer's
  channels, [4, 512], default 64.
* ``crop``: training crop side in packed pixels, [24, 1024], default 128 (the
  paper's 256 needs larger images); ``batch_size`` [1, 256], default 4.
* ``lr_g``, ``lr_d``: [1e-7, 0.1], defaults 1e-5 and 2e-5; ``clip`` [0.01, 1000],
  default 2; ``lambda_cycle`` [0, 1000] default 10; ``lambda_identity`` [0, 1000]
  default 5; ``buffer`` [0, 10000] default 50.
* ``train_downsample``: M during training, default 1; ``downsample``: M at test
  time, default 1.
* ``device``, ``threads``, ``checkpoint_every`` (:mod:`ispengine.learning.torch_runtime`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ispengine.core.errors import InputError
from ispengine.core.settings import (
    BooleanSetting,
    FloatSetting,
    IntegerSetting,
    OptionSpec,
)
from ispengine.learning.raw_to_raw import RawToRawMethod, check_direction
from ispengine.learning.srgb_to_raw import Budget, FitReport
from ispengine.learning.torch_runtime import (
    CHECKPOINT_EVERY_SETTING,
    LEARNING_SETTINGS,
    THREADS_SETTING,
    TorchRuntime,
    torch_threads,
)
from ispengine.learning.training import OptimizerGroup
from plugins_builtin.cstpp.shared import (
    CONFIG_SETTING,
    DIRECTION_INDEX,
    DOWNSAMPLE_FACTORS,
    downsample_setting,
    integer_choices,
)


class ReplayBuffer:
    """The last ``size`` generated images (module docstring); draws from ``rng``.

    :meth:`plan` makes a query's random draws ahead of it (the training step's batch
    maker does, so that the prefetcher is the Generator's only user), :meth:`apply`
    carries them out; :meth:`query` is both. Whether a query draws depends only on how
    many images came before, so planning ahead draws exactly what querying would.
    """

    def __init__(self, size: int, rng: np.random.Generator) -> None:
        self.size, self.rng, self.images = size, rng, []
        self.planned = 0  # images the plans made so far account for

    def plan(self, count: int) -> list[int | None]:
        """What happens to each of the next ``count`` images: ``None``: stored and passed
        on (the buffer is filling); ``k >= 0``: stored image ``k`` is passed on and the
        image takes its place; ``-1``: passed on as it is."""
        if self.size == 0:
            return []
        plan: list[int | None] = []
        for _ in range(count):
            if self.planned < self.size:
                plan.append(None)
                self.planned += 1
            elif self.rng.uniform() < 0.5:
                plan.append(int(self.rng.integers(self.size)))
            else:
                plan.append(-1)
        return plan

    def apply(self, batch: Any, plan: list[int | None]) -> Any:
        """The images the discriminator sees for ``batch`` under ``plan``."""
        import torch

        if self.size == 0:
            return batch
        out = []
        for image, action in zip(batch, plan, strict=True):
            image = image[None].detach().clone()
            if action is None:
                self.images.append(image)
                out.append(image)
            elif action >= 0:
                out.append(self.images[action].clone())
                self.images[action] = image
            else:
                out.append(image)
        return torch.cat(out)

    def query(self, batch: Any) -> Any:
        return self.apply(batch, self.plan(len(batch)))


class CSTPP(RawToRawMethod):
    """CSTPP as a raw-to-raw method (module docstring)."""

    name = "cstpp"
    summary = "CSTPP (ACM MM 2024): per-patch polynomial transforms, CycleGAN on unpaired RAW"
    learned = True
    downsample_factors = DOWNSAMPLE_FACTORS
    settings = (
        CONFIG_SETTING,
        BooleanSetting("residual", False, "residual form I + PT(I)·T (the released code's)"),
        OptionSpec("discriminator", ("patchgan", "pooled"), "patchgan", "discriminator kind"),
        IntegerSetting("disc_width", 64, "discriminator base channels", low=4, high=512),
        IntegerSetting("crop", 128, "training crop side (packed pixels)", low=24, high=1024),
        IntegerSetting("batch_size", 4, "crops per camera per step", low=1, high=256),
        FloatSetting("lr_g", 1e-5, "generator Adam learning rate", low=1e-7, high=0.1),
        FloatSetting("lr_d", 2e-5, "discriminator Adam learning rate", low=1e-7, high=0.1),
        FloatSetting("clip", 2.0, "gradient norm clipping", low=0.01, high=1000.0),
        FloatSetting("lambda_cycle", 10.0, "cycle-consistency weight", low=0.0, high=1000.0),
        FloatSetting("lambda_identity", 5.0, "identity weight", low=0.0, high=1000.0),
        IntegerSetting("buffer", 50, "replay buffer size (images)", low=0, high=10000),
        downsample_setting("train_downsample", "downsampling M in training"),
        downsample_setting("downsample", "downsampling M at test time"),
        *LEARNING_SETTINGS,
        CHECKPOINT_EVERY_SETTING,
        THREADS_SETTING,
    )

    def __init__(self, **settings: Any) -> None:
        super().__init__(**integer_choices(settings, "downsample", "train_downsample"))
        self._generator = None

    # -- the network -------------------------------------------------------------
    def generator(self, seed: int = 0) -> Any:
        """The generator, built from ``seed`` on first use."""
        if self._generator is None:
            from plugins_builtin.cstpp.networks import build_generator

            self._generator = build_generator(
                self.config["config"], seed=seed, residual=self.config["residual"]
            )
        return self._generator

    def num_parameters(self) -> int:
        return int(sum(p.numel() for p in self.generator().parameters()))

    # -- training ----------------------------------------------------------------
    def fit(
        self,
        pairs: Any,
        budget: Budget,
        *,
        seed: int = 0,
        checkpoint: str | Path | None = None,
        resume: bool = False,
        progress: bool = True,
    ) -> FitReport:
        """CycleGAN training on the unpaired images of ``pairs``' two cameras (module
        docstring). Weights not yet built are initialised from ``seed``; crops, flips
        and the replay buffers draw from ``numpy.random.default_rng(seed)``."""
        import torch

        from ispengine.learning.training import run_training
        from plugins_builtin.cstpp.networks import build_discriminator
        from plugins_builtin.cstpp.unpaired import UnpairedCrops

        data = UnpairedCrops.from_pairs(pairs, pairs.cameras)
        data.check_crop(self.config["crop"])
        runtime = TorchRuntime.from_config(self.config)
        device = runtime.device
        with torch_threads(self.config["threads"]):
            generator = self.generator(seed).to(device).train()
            kind, width = self.config["discriminator"], self.config["disc_width"]
            discriminators = torch.nn.ModuleList(
                [
                    build_discriminator(kind, width, seed=seed + 1),
                    build_discriminator(kind, width, seed=seed + 2),
                ]
            ).to(device)
            betas = (0.5, 0.999)
            optimizers = OptimizerGroup(
                generator=torch.optim.Adam(
                    generator.parameters(), lr=self.config["lr_g"], betas=betas
                ),
                discriminator=torch.optim.Adam(
                    discriminators.parameters(), lr=self.config["lr_d"], betas=betas
                ),
            )
            rng = np.random.default_rng(seed)
            buffers = [ReplayBuffer(self.config["buffer"], rng) for _ in range(2)]
            batches = runtime.batches(self._batch_function(data, buffers, rng, runtime), rng)
            step = self._step_function(
                generator, discriminators, optimizers, buffers, batches, runtime
            )
            with batches:
                report = run_training(
                    step,
                    budget,
                    modules={"generator": generator, "discriminators": discriminators},
                    optimizer=optimizers,
                    rng=batches.rng,
                    checkpoint=checkpoint,
                    resume=resume,
                    checkpoint_every=self.config["checkpoint_every"],
                    progress=progress,
                    label="cstpp",
                )
        generator.eval()
        return report

    def _batch_function(self, data, buffers, rng, runtime):
        """The batch of a step on the device: crops of both cameras and the plans of
        the replay buffers' draws (B's buffer first, as the step queries them)."""
        batch, crop = self.config["batch_size"], self.config["crop"]

        def make(_index: int) -> tuple[Any, Any, Any, Any]:
            a, b = (
                runtime.tensor(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
                for x in data.draw(rng, batch, crop)
            )
            plan_b = buffers[1].plan(batch)
            plan_a = buffers[0].plan(batch)
            return a, b, plan_a, plan_b

        return make

    def _step_function(self, generator, discriminators, optimizers, buffers, batches, runtime):
        """One generator and one discriminator update on a fresh batch (module docstring)."""
        import torch
        from torch.nn import functional as F

        factor = int(self.config["train_downsample"])
        weight_cycle, weight_identity = self.config["lambda_cycle"], self.config["lambda_identity"]
        disc_a, disc_b = discriminators

        def gan(logits: Any, real: bool) -> Any:
            return F.mse_loss(logits, torch.full_like(logits, 1.0 if real else 0.0))

        def step(index: int) -> float:
            a, b, plan_a, plan_b = batches.get(index)
            clip = self.config["clip"]
            with runtime.autocast():
                fake_b = generator(a, 0, factor)[0]
                fake_a = generator(b, 1, factor)[0]
                cycle = F.l1_loss(generator(fake_b, 1, factor)[0], a) + F.l1_loss(
                    generator(fake_a, 0, factor)[0], b
                )
                identity = F.l1_loss(generator(b, 0, factor)[0], b) + F.l1_loss(
                    generator(a, 1, factor)[0], a
                )
                discriminators.requires_grad_(False)
                adversarial = gan(disc_b(fake_b), True) + gan(disc_a(fake_a), True)
                loss_g = weight_cycle * cycle + weight_identity * identity + adversarial
            optimizers.generator.zero_grad(set_to_none=True)
            runtime.step(loss_g, optimizers.generator, clip=clip, parameters=generator.parameters())

            discriminators.requires_grad_(True)
            with runtime.autocast():
                pooled_b = buffers[1].apply(fake_b.detach(), plan_b)
                pooled_a = buffers[0].apply(fake_a.detach(), plan_a)
                loss_d = 0.5 * (gan(disc_b(b), True) + gan(disc_b(pooled_b), False)) + 0.5 * (
                    gan(disc_a(a), True) + gan(disc_a(pooled_a), False)
                )
            optimizers.discriminator.zero_grad(set_to_none=True)
            runtime.step(
                loss_d,
                optimizers.discriminator,
                clip=clip,
                parameters=discriminators.parameters(),
            )
            return float(loss_g.item())

        return step

    # -- mapping -------------------------------------------------------------------
    def map_packed(
        self,
        packed: np.ndarray,
        direction: str,
        *,
        scene: Mapping[str, Any] | None = None,
        downsample: int | None = None,
    ) -> np.ndarray:
        """The generator on ``packed`` (module docstring), float32 in [0, 1]."""
        import torch

        check_direction(direction)
        self.check_downsample(downsample)
        factor = int(self.config["downsample"]) if downsample is None else int(downsample)
        array = np.asarray(packed, dtype=np.float32)
        if array.ndim != 3 or array.shape[-1] != 4:
            raise InputError(f"cstpp: expected packed planes (H/2, W/2, 4), got {array.shape}")
        runtime = TorchRuntime.from_config(self.config)
        generator = self.generator().to(runtime.device).eval()
        with torch_threads(self.config["threads"]), torch.no_grad(), runtime.autocast():
            tensor = runtime.tensor(np.clip(array, 0.0, 1.0))
            nchw = tensor.permute(2, 0, 1)[None]
            mapped = generator(nchw, DIRECTION_INDEX[direction], factor)[0]
            out = runtime.output(mapped[0].permute(1, 2, 0))
        return np.clip(out, 0.0, 1.0).astype(np.float32)

    # -- persistence -----------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        from plugins_builtin.cstpp.networks import generator_state

        return generator_state(self.generator())

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Load ``generator.*`` weights of this ``config`` (one-line errors otherwise)."""
        from plugins_builtin.cstpp.networks import load_generator_state

        load_generator_state(self.generator(), state, "cstpp weights")
