"""``semiisp``: SemiISP's one-to-many sRGB-to-RAW method.

``fit`` trains the function ISP ``f_ISP(I_R; DNN(I_R))`` on the train split
(RAW demosaiced bilinearly to camera RGB → camera sRGB) and keeps the
global-mode parameter sets of the last ``bank_size`` training samples (the
parameter bank). ``convert`` draws one set ``P_i`` from the bank with the seed
and returns ``f_ISP⁻¹(Ī_S; P_i)`` (the LUT inverse of f_GM by default),
clipped to [0, 1], mosaicked to the target camera's CFA, with optional noise
(§3.4). Different seeds give different RAWs of one image.

Training (SemiISP §3.1 Eq. 5, §3.4 Eq. 14, Table 5): AdamW, cosine schedule from
``lr`` to 0.001·lr over the budget's steps, random crops and horizontal flips; loss
``MSE + vgg_weight·L_vgg`` (the VGG term only with local ``vgg_weights``) or,
for noisy RAW inputs, ``L1 + Σ_k L1(A_k ·)`` (``loss = "l1_pooled"``). The paper
uses lr 2e-5 (≤ 1000 pairs) or 1e-4 over many epochs on a GPU; the default
1e-3 suits the short CPU budgets of the benchmarks.

The returned metadata holds the parameter set (``params``: ``label.name`` →
values), the noise levels and the seed; passing that metadata back to
``convert`` reproduces the RAW. The returned RAW's white balance and colour
matrix are those of the drawn f_CC matrix (:meth:`SemiISP._drawn_colour`), so a
DNG of it develops with the colours it was made with.

Source: Yoshimura, Otsuka, Berdan, Ohashi, "SemiISP/SemiIE: Semi-Supervised Image Signal
Processor and Image Enhancement Leveraging One-to-Many Mapping sRGB-to-RAW",
arXiv:2504.02345, 2025 (SemiISP), §3.1–3.4 and
appendix A.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ispengine.core.errors import InputError
from ispengine.core.settings import (
    BooleanSetting,
    FloatSetting,
    IntegerSetting,
    OptionSpec,
    PathSetting,
)
from ispengine.io.raw.image import CaptureParams
from ispengine.learning.srgb_to_raw import (
    Budget,
    FitReport,
    SrgbToRawMethod,
    TargetCamera,
    Unprocessed,
    as_srgb,
    check_seed,
    train_split,
)
from ispengine.learning.torch_runtime import LEARNING_SETTINGS, TorchRuntime
from ispengine.specs import shipped_specs
from plugins_builtin.semiisp.predictor import PQDynamicPredictor

BANK_RECORD_FLOOR = 1  # steps that always record into the bank at the end of training
#: The function ISP's pipeline spec, and the predictor's size settings, of the methods
#: built on the function ISP.
SPEC_SETTING = PathSetting(
    "spec",
    "semiisp_function_isp",
    "the function ISP pipeline (shipped name or TOML path)",
    names=tuple(sorted(shipped_specs())),
)
PREDICTOR_SETTINGS = tuple(
    s for s in PQDynamicPredictor.settings if s.name in ("resize", "width", "grid")
)


class SemiISP(SrgbToRawMethod):
    """One-to-many inverse of a trained function ISP with a parameter bank."""

    name = "semiisp"
    summary = "SemiISP: inverse function ISP with parameters drawn from a bank (one-to-many)"
    one_to_many = True
    learned = True
    settings = (
        SPEC_SETTING,
        OptionSpec(
            "mode",
            ("global", "local"),
            "local",
            "predictor mode while training (the bank is global)",
        ),
        *PREDICTOR_SETTINGS,
        IntegerSetting("batch_size", 8, "training batch", low=1, high=256),
        IntegerSetting("crop", 64, "training crop side (even)", low=8, high=4096),
        FloatSetting("lr", 1e-3, "maximum learning rate (cosine to 0.001x)", low=1e-7, high=1.0),
        FloatSetting("weight_decay", 0.0, "AdamW weight decay", low=0.0, high=1.0),
        OptionSpec("loss", ("mse", "l1_pooled"), "mse", "mse (+ VGG) or l1_pooled (noisy inputs)"),
        PathSetting(
            "vgg_weights",
            None,
            "local VGG16 weights for the perceptual term (none: MSE only)",
        ),
        FloatSetting("vgg_weight", 0.1, "weight of the perceptual term", low=0.0, high=10.0),
        IntegerSetting(
            "bank_size", 5000, "parameter sets kept (last training samples)", low=1, high=1_000_000
        ),
        OptionSpec(
            "sampling",
            ("auto", "whole", "per_function"),
            "auto",
            "whole sets, per function unit, or auto (per function above 1000 training pairs)",
        ),
        OptionSpec("inverse", ("lut", "exact"), "lut", "how f_GM is inverted"),
        BooleanSetting("noise", False, "add SemiISP noise (shot U(0,0.01), read U(0,2e-4))"),
        IntegerSetting("checkpoint_every", 200, "steps between checkpoints", low=1, high=1_000_000),
        *LEARNING_SETTINGS,
    )

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        if self.config["crop"] % 2:
            raise InputError(f"setting 'crop': expected an even number, got {self.config['crop']}")
        self._isp = None
        self._bank = None
        self.training_pairs = 0

    # -- parts ------------------------------------------------------------
    @property
    def isp(self):
        """The :class:`~.function_isp.FunctionISP` (built on first use)."""
        if self._isp is None:
            from plugins_builtin.semiisp.function_isp import FunctionISP

            config = self.config
            self._isp = FunctionISP(
                config["spec"],
                inverse=config["inverse"],
                mode=config["mode"],
                resize=config["resize"],
                width=config["width"],
                grid=config["grid"],
                device=config["device"],
                precision=config["precision"],
            )
        return self._isp

    @property
    def bank(self):
        """The :class:`~.bank.ParameterBank`."""
        if self._bank is None:
            from plugins_builtin.semiisp.bank import ParameterBank

            self._bank = ParameterBank(self.isp.params, self.config["bank_size"], self.isp.stages)
        return self._bank

    @property
    def sampling(self) -> str:
        return self.bank.resolve_sampling(self.config["sampling"], self.training_pairs)

    # -- training -----------------------------------------------------------
    def fit(
        self,
        dataset,
        budget: Budget,
        *,
        seed: int = 0,
        checkpoint=None,
        resume: bool = False,
        progress: bool = True,
    ) -> FitReport:
        """Train the function ISP on ``dataset``'s train split and fill the bank."""
        import torch

        from ispengine.learning.training import run_training
        from plugins_builtin.semiisp.semi_trainer import cosine_lr

        seed = check_seed(seed)
        pairs = load_train_pairs(dataset, self.name, self.config["crop"])
        self.training_pairs = len(pairs)
        runtime = TorchRuntime.from_config(self.config)
        module = self.isp.module().to(runtime.device).train()
        optimizer = torch.optim.AdamW(
            module.parameters(), lr=self.config["lr"], weight_decay=self.config["weight_decay"]
        )
        rng = np.random.default_rng(seed)
        loss_fn = self._loss()
        bank = self.bank
        batch, crop = self.config["batch_size"], self.config["crop"]
        record_from = (
            0
            if budget.steps is None
            else budget.steps - max(BANK_RECORD_FLOOR, math.ceil(bank.capacity / batch))
        )

        batches = runtime.batches(
            lambda _index: tuple(runtime.tensor(a) for a in pairs.draw(rng, batch, crop)), rng
        )

        def step(index: int) -> float:
            if budget.steps is not None:
                for group in optimizer.param_groups:
                    group["lr"] = cosine_lr(index, budget.steps, self.config["lr"])
            inputs, targets = batches.get(index)
            with runtime.autocast():
                loss = loss_fn(self.isp.forward(inputs), targets)
            optimizer.zero_grad(set_to_none=True)
            runtime.step(loss, optimizer)
            if index >= record_from:
                with torch.no_grad():
                    bank.add(self.isp.predictor.predict(inputs, "global"))
            return loss.item()

        with batches:
            report = run_training(
                step,
                budget,
                modules={"predictor": module.predictor},
                optimizer=optimizer,
                rng=batches.rng,
                checkpoint=checkpoint,
                resume=resume,
                checkpoint_every=self.config["checkpoint_every"],
                progress=progress,
                label="semiisp",
            )
        module.eval()
        wanted = (
            bank.capacity
            if budget.steps is None
            else min(bank.capacity, batch * (report.steps - max(record_from, 0)))
        )
        if len(bank) == 0 or (report.resumed_from and len(bank) < wanted):
            # Resumed after recording began: the sets recorded before are lost; top up
            # from the trained model on random training crops.
            with torch.no_grad():
                for _ in range(math.ceil((wanted - len(bank)) / batch)):
                    inputs, _ = pairs.draw(rng, batch, crop)
                    bank.add(self.isp.predictor.predict(runtime.tensor(inputs), "global"))
        note = f"bank: {len(bank)} sets ({bank.rejected} rejected), sampling {self.sampling}"
        return FitReport(
            report.steps,
            report.seconds,
            report.losses,
            report.resumed_from,
            "; ".join(n for n in (report.note, note) if n),
        )

    def _loss(self):
        from plugins_builtin.semiisp.opf import per_sample_loss
        from plugins_builtin.semiisp.perceptual import perceptual_loss_or_none

        kind = self.config["loss"]
        perceptual = None
        if kind == "mse" and self.config["vgg_weight"] > 0:
            perceptual = perceptual_loss_or_none(self.config["vgg_weights"])
        weight = self.config["vgg_weight"]

        def loss(pred, target):
            value = per_sample_loss(pred, target, kind).mean()
            if perceptual is not None:
                value = value + weight * perceptual(pred, target)
            return value

        return loss

    # -- conversion ---------------------------------------------------------
    def convert(
        self,
        srgb: Any,
        *,
        capture: CaptureParams | None = None,
        metadata: Mapping[str, Any] | None = None,
        seed: int | None = None,
    ) -> Unprocessed:
        from plugins_builtin.noise.models import NoiseLevels, add_noise, draw_semiisp_levels
        from plugins_builtin.semiisp.front_end import mosaic_of

        image = as_srgb(srgb)
        metadata = dict(metadata or {})
        target = TargetCamera.from_metadata(metadata)
        seed = check_seed(metadata.get("seed", 0) if seed is None else seed)
        if len(self.bank) == 0:
            raise InputError(
                "semiisp: the parameter bank is empty; fit the method or load a "
                "saved one (--weights)"
            )
        # Separate streams: given parameters leave the noise draw unchanged.
        drawn_params = self.bank.draw(np.random.default_rng([seed, 0]), self.sampling)
        params = self._given_params(metadata.get("params")) or drawn_params
        rng = np.random.default_rng([seed, 1])
        camera = np.clip(self.isp.invert(image, params), 0.0, 1.0).astype(np.float32)
        mosaic = mosaic_of(camera, target.cfa_pattern)
        levels = None
        if self.config["noise"]:
            given = metadata.get("noise")
            levels = draw_semiisp_levels(rng)  # drawn always: the stream stays aligned
            levels = NoiseLevels(**given) if given else levels
            mosaic = np.clip(add_noise(mosaic, levels, rng), 0.0, 1.0)
        wb_gains, matrix = self._drawn_colour(params)
        raw = target.make_raw(
            mosaic.astype(np.float32), capture=capture, wb_gains=wb_gains, camera_to_srgb=matrix
        )
        drawn = {
            "method": self.name,
            "seed": seed,
            "params": {
                f"{label}.{name}": np.asarray(value).tolist()
                for label, named in params.items()
                for name, value in named.items()
            },
            "noise": None if levels is None else {"shot": levels.shot, "read": levels.read},
            **target.as_metadata(),
        }
        return Unprocessed(raw, drawn)

    def _drawn_colour(
        self, params: Mapping[str, Mapping[str, Any]]
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The white balance and camera → sRGB matrix the RAW was made with.

        The function ISP's first stage f_CC (SemiISP §3.1 Eq. 4) maps camera RGB
        without white balance to linear colour, so its drawn matrix ``M`` holds the
        white balance and the colour matrix of this RAW:
        :func:`~ispengine.io.raw.image.split_white_balance` splits it as
        ``camera_to_srgb · diag(wb_gains)`` (up to brightness, which the later stages
        and a DNG do not carry). ``(None, None)`` (the target camera's data) when the
        spec does not start with a global ``color_correction`` or ``M`` has no
        positive camera neutral.
        """
        from ispengine.io.raw.image import split_white_balance

        first = next(iter(self.isp.stages), None)
        matrix = params.get("color_correction", {}).get("matrix")
        if first != "color_correction" or matrix is None or np.shape(matrix) != (3, 3):
            return None, None
        split = split_white_balance(np.asarray(matrix, dtype=np.float64))
        return (None, None) if split is None else split[:2]

    def _given_params(self, given: Mapping[str, Any] | None) -> dict | None:
        """A parameter set from metadata (``label.name`` → values), validated."""
        if not given:
            return None
        out: dict[str, dict[str, Any]] = {}
        for item in self.isp.params:
            if item.key not in given:
                raise InputError(f"semiisp metadata: params lacks {item.key!r}")
            out.setdefault(item.label, {})[item.spec.name] = item.spec.coerce(given[item.key])
        return out

    def forward_isp(self, image: np.ndarray) -> np.ndarray:
        """The trained function ISP on camera RGB ``(H, W, 3)`` (RAW → sRGB)."""
        return self.isp.render(image)

    # -- persistence ----------------------------------------------------------
    def num_parameters(self) -> int:
        return self.isp.predictor.num_parameters()

    def state(self) -> dict[str, Any]:
        state = {**self.isp.predictor.state(), **self.bank.state()}
        state["training_pairs"] = np.array([self.training_pairs], dtype=np.int64)
        return state

    def load_state(self, state: Mapping[str, Any]) -> None:
        self.isp.predictor.load_state(state)
        self.bank.load_state(state)
        self.training_pairs = int(np.asarray(state.get("training_pairs", [0])).ravel()[0])


def load_raw_pairs(samples):
    """Training pairs (camera RGB from the bilinear front end, camera sRGB) of samples."""
    from ispengine.learning.paired_crops import load_pair
    from plugins_builtin.semiisp.front_end import camera_rgb
    from plugins_builtin.semiisp.pairs import ImagePairs

    pairs, ids = [], []
    for sample in samples:
        pair = load_pair(sample)
        pairs.append((camera_rgb(pair.mosaic, pair.pattern), pair.srgb))
        ids.append(pair.id)
    return ImagePairs(pairs, ids)


def load_train_pairs(dataset, name: str, crop: int):
    """The training pairs (:func:`load_raw_pairs`) of ``dataset``'s train split, checked to
    fit ``crop``; a dataset without train samples is a one-line error naming ``name``."""
    train = train_split(dataset)
    if len(train) == 0:
        raise InputError(f"{name}: the dataset has no 'train' samples to fit on")
    pairs = load_raw_pairs(train)
    pairs.check_crop(crop)
    return pairs
