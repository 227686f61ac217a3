"""The CycleISP sRGB-to-RAW method (a learned, deterministic baseline).

Zamir et al., "CycleISP: Real Image Restoration via Improved Data Synthesis",
CVPR 2020. sRGB → RAW is the RGB2RAW branch: the network maps the sRGB image
to a camera-RGB image, which is mosaicked to the target camera's Bayer
pattern (:mod:`plugins_builtin.cycleisp.networks`). It is trained with the L1
distance between its packed output and the packed, normalised true mosaic
(Adam, random CFA-aligned crops, :mod:`ispengine.learning.paired_crops`, through the
loop of :mod:`ispengine.learning.training`). With ``train_raw2rgb`` the RAW2RGB branch
and its colour-correction (CCM) branch are trained too, with L1 on the sRGB,
fed the true RAW and the blurred true sRGB.

CycleISP has no standalone forward ISP: RAW2RGB needs the sRGB image itself
(the CCM branch reads it), so :meth:`CycleISP.render` takes it as an input.

Settings (ranges inclusive):

* ``config``: ``small`` (16 features, 1 group of 2 blocks; trains on a CPU) or
  ``published`` (96 features, 3 groups of 5 blocks: RGB2RAW ≈3.1M parameters).
* ``lr``: Adam learning rate, [1e-6, 0.1], default 2e-4 (the paper's).
* ``batch_size``: crops per step, [1, 256], default 4.
* ``crop``: crop side in pixels, even, [8, 1024], default 64.
* ``train_raw2rgb``: also train RAW2RGB + CCM, default false.
* ``device``: ``auto`` (CUDA when torch sees it), ``cpu`` or ``cuda``.
* ``checkpoint_every``: steps between checkpoint saves, [1, 1e9], default 200.
* ``threads``: torch CPU threads during fit/convert, [0, 1024], 0 = torch's default.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ispengine.core.errors import InputError, ParamError
from ispengine.core.settings import BooleanSetting, FloatSetting, IntegerSetting, OptionSpec
from ispengine.io.raw.image import PATTERNS, CaptureParams
from ispengine.learning.srgb_to_raw import (
    Budget,
    FitReport,
    SrgbToRawMethod,
    TargetCamera,
    Unprocessed,
    as_srgb,
    train_split,
)
from ispengine.learning.torch_runtime import (
    CHECKPOINT_EVERY_SETTING,
    LEARNING_SETTINGS,
    THREADS_SETTING,
    TorchRuntime,
    torch_threads,
)
from ispengine.learning.weights import checked_state

BRANCHES = ("rgb2raw", "raw2rgb", "ccm")


class CycleISP(SrgbToRawMethod):
    """CycleISP's RGB2RAW network as an sRGB-to-RAW method (see the module docstring)."""

    name = "cycleisp"
    summary = "CycleISP (Zamir et al. 2020): learned RGB2RAW network, L1 on the packed RAW"
    learned = True
    one_to_many = False
    needs_srgb_for_forward = True
    settings = (
        OptionSpec(
            "config",
            ("published", "small"),
            "small",
            "network size: 'small' (CPU-trainable) or 'published' (the paper's, ~3.1M)",
        ),
        FloatSetting("lr", 2e-4, "Adam learning rate", low=1e-6, high=1e-1),
        IntegerSetting("batch_size", 4, "training crops per step", low=1, high=256),
        IntegerSetting("crop", 64, "training crop side in pixels (even)", low=8, high=1024),
        BooleanSetting(
            "train_raw2rgb",
            False,
            "also train RAW2RGB and its colour-correction branch (L1 on the sRGB)",
        ),
        *LEARNING_SETTINGS,
        CHECKPOINT_EVERY_SETTING,
        THREADS_SETTING,
    )

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        if self.config["crop"] % 2:
            raise ParamError(f"setting 'crop': must be even, got {self.config['crop']}")
        self._networks = None  # torch.nn.ModuleDict, built on first use

    # -- networks -------------------------------------------------------------
    @property
    def network_config(self):
        """The :class:`~plugins_builtin.cycleisp.networks.CycleISPConfig` in use."""
        from plugins_builtin.cycleisp.networks import CONFIGS

        return CONFIGS[self.config["config"]]

    def _branches(self) -> tuple[str, ...]:
        return BRANCHES if self.config["train_raw2rgb"] else BRANCHES[:1]

    def networks(self, seed: int = 0):
        """The ``torch.nn.ModuleDict`` of branches, built (from ``seed``) on first use."""
        if self._networks is None:
            from plugins_builtin.cycleisp.networks import build

            self._networks = build(
                self.network_config, with_raw2rgb=self.config["train_raw2rgb"], seed=seed
            )
        return self._networks

    def _runtime(self) -> TorchRuntime:
        return TorchRuntime.from_config(self.config)

    def _threads(self):
        return torch_threads(self.config["threads"])

    # -- training -------------------------------------------------------------
    def fit(
        self,
        dataset,
        budget: Budget,
        *,
        seed: int = 0,
        checkpoint: str | Path | None = None,
        resume: bool = False,
        progress: bool = True,
    ) -> FitReport:
        """Train on ``dataset``'s train split within ``budget`` (see the module docstring).

        Weights not yet built are initialised from ``seed``; crops and batches
        are drawn from ``numpy.random.default_rng(seed)``. Fitting again
        continues from the current weights (with a fresh optimiser).
        """
        import torch

        from ispengine.learning.paired_crops import PairedCrops
        from ispengine.learning.training import run_training

        train = train_split(dataset)
        if len(train) == 0:
            raise InputError("cycleisp: the dataset has no 'train' samples to fit on")
        data = PairedCrops.from_dataset(train)
        data.check_crop(self.config["crop"])
        runtime = self._runtime()
        with self._threads():
            networks = self.networks(seed).to(runtime.device).train()
            optimizer = torch.optim.Adam(networks.parameters(), lr=self.config["lr"])
            rng = np.random.default_rng(seed)
            batches = runtime.batches(self._batch_function(data, rng, runtime), rng)
            step_fn = self._step_function(networks, optimizer, batches, runtime)
            with batches:
                report = run_training(
                    step_fn,
                    budget,
                    modules=dict(networks.items()),
                    optimizer=optimizer,
                    rng=batches.rng,
                    checkpoint=checkpoint,
                    resume=resume,
                    checkpoint_every=self.config["checkpoint_every"],
                    progress=progress,
                    label="cycleisp",
                )
        networks.eval()
        return report

    def _batch_function(self, data, rng, runtime):
        """The batch of a step on the device: sRGB, packed RAW, the crops' patterns."""
        batch_size, crop = self.config["batch_size"], self.config["crop"]

        def make(_index: int) -> tuple[Any, Any, Any]:
            batch = data.draw(rng, batch_size, crop)
            srgb = runtime.tensor(batch.srgb).permute(0, 3, 1, 2)
            packed = runtime.tensor(batch.packed).permute(0, 3, 1, 2)
            return srgb, packed, batch.patterns

        return make

    def _step_function(self, networks, optimizer, batches, runtime):
        """One Adam step on a fresh batch: L1 on the packed RAW (+ L1 on the sRGB)."""
        from torch.nn import functional as F

        from plugins_builtin.cycleisp.networks import gaussian_blur, pack_bayer

        def step(index: int) -> float:
            srgb, packed, patterns = batches.get(index)
            with runtime.autocast():
                predicted = pack_bayer(networks["rgb2raw"](srgb), patterns)
                loss = F.l1_loss(predicted, packed)
                if "raw2rgb" in networks:
                    gates = networks["ccm"](gaussian_blur(srgb))
                    loss = loss + F.l1_loss(networks["raw2rgb"](packed, gates), srgb)
            optimizer.zero_grad(set_to_none=True)
            runtime.step(loss, optimizer)
            return loss.item()

        return step

    # -- conversion -----------------------------------------------------------
    def convert(
        self,
        srgb: Any,
        *,
        capture: CaptureParams | None = None,
        metadata: Mapping[str, Any] | None = None,
        seed: int | None = None,
    ) -> Unprocessed:
        """RGB2RAW on the whole image, mosaicked to the target pattern, clipped to [0, 1].

        Deterministic: ``seed`` is ignored. The whole image goes through the
        network at once (its channel attention pools over the whole image, so
        tiles would change the result); memory grows with the image area.
        """
        import torch

        from plugins_builtin.cycleisp.networks import pack_bayer, unpack_mosaic

        image = as_srgb(srgb)
        target = TargetCamera.from_metadata(metadata)
        runtime = self._runtime()
        networks = self.networks().to(runtime.device).eval()
        with self._threads(), torch.no_grad(), runtime.autocast():
            tensor = _to_tensor(image, runtime.device)
            packed = pack_bayer(networks["rgb2raw"](tensor), target.cfa_pattern)
            mosaic = runtime.output(unpack_mosaic(packed, target.cfa_pattern)[0].clamp(0.0, 1.0))
        drawn = {
            "method": self.name,
            "config": self.config["config"],
            "cfa_pattern": target.cfa_pattern,
        }
        return Unprocessed(target.make_raw(mosaic, capture=capture), drawn)

    def render(self, raw_mosaic: Any, srgb: Any, pattern: str = "rggb") -> np.ndarray:
        """RAW2RGB: a normalised mosaic ``(H, W)`` → sRGB ``(H, W, 3)`` in [0, 1].

        CycleISP has no standalone forward ISP: the colour-correction branch
        reads the (blurred) sRGB image itself, so ``srgb`` is required. Needs
        ``train_raw2rgb=true``.
        """
        import torch

        from plugins_builtin.cycleisp.networks import gaussian_blur, pack_mosaic

        if not self.config["train_raw2rgb"]:
            raise ParamError(
                key="cycleisp", message="render needs the RAW2RGB branch (train_raw2rgb=true)"
            )
        pattern = str(pattern).lower()
        if pattern not in PATTERNS:
            raise InputError(f"cfa_pattern: expected one of {', '.join(PATTERNS)}, got {pattern!r}")
        image = as_srgb(srgb)
        mosaic = np.asarray(raw_mosaic, dtype=np.float32)
        if mosaic.shape != image.shape[:2]:
            raise InputError(
                f"cycleisp: RAW mosaic {mosaic.shape} and sRGB {image.shape} differ in size"
            )
        runtime = self._runtime()
        networks = self.networks().to(runtime.device).eval()
        with self._threads(), torch.no_grad(), runtime.autocast():
            tensor = _to_tensor(image, runtime.device)
            packed = pack_mosaic(runtime.tensor(mosaic)[None], pattern)
            gates = networks["ccm"](gaussian_blur(tensor))
            rendered = networks["raw2rgb"](packed, gates).clamp(0.0, 1.0)
        return runtime.output(rendered[0].permute(1, 2, 0))

    # -- persistence ----------------------------------------------------------
    def parameter_counts(self) -> dict[str, int]:
        """Parameters of each branch (``rgb2raw``, ``raw2rgb``, ``ccm``) of this config."""
        from plugins_builtin.cycleisp.networks import branch_parameter_counts

        return branch_parameter_counts(self.network_config)

    def num_parameters(self) -> int:
        """RGB2RAW's parameters, plus RAW2RGB's and CCM's with ``train_raw2rgb``."""
        from plugins_builtin.cycleisp.networks import count_parameters

        return count_parameters(self.networks())

    def state(self) -> dict[str, Any]:
        """Every weight as a tensor, named ``BRANCH.PATH`` (e.g. ``rgb2raw.head.weight``)."""
        return {
            name: tensor.detach().cpu() for name, tensor in self.networks().state_dict().items()
        }

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Load weights (numpy arrays or tensors) named as :meth:`state` names them.

        Raises :class:`InputError` naming the first missing, unexpected or
        mis-shaped array.
        """
        import torch

        networks = self.networks()
        expected = networks.state_dict()
        arrays = checked_state(
            state, expected, "cycleisp weights", hint="another config or branches?"
        )
        loaded = {
            name: torch.from_numpy(arrays[name]).to(reference.dtype)
            for name, reference in expected.items()
        }
        networks.load_state_dict(loaded)


def _to_tensor(image: np.ndarray, device):
    """An ``(H, W, 3)`` array as a float32 ``(1, 3, H, W)`` tensor on ``device``."""
    import torch

    return (
        torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))
        .permute(2, 0, 1)[None]
        .to(device)
    )
