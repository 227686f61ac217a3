"""``cstpp``: CSTPP's generator as a parameter predictor of ``polynomial_transform``.

For a pipeline on packed RAW (``input = "packed_raw"``) whose one free parameter is
the ``coefficients`` of a ``polynomial_transform`` stage, the predictor runs the
generator (:mod:`plugins_builtin.cstpp.networks`) on the pipeline's input, clipped
to [0, 1], and returns its per-pixel coefficient maps ``batch + (H, W, 14, 4)``
clipped into the declared range [-16, 16] (local mode; one matrix per image would
not be CSTPP, so global mode is refused). The stage's ``residual`` option must be
the form the generator was trained in; an untrained generator (no ``weights``)
starts near the identity of the stage's form.

Settings (``[predictor]`` table or keywords):
    config: published | small (default published), the generator's size.
    direction: a_to_b | b_to_a (default a_to_b): which head and batch norms run.
    downsample: M, one of 1, 2, 4, 8, 16 (default 1): coefficients are predicted
        on the input shrunk by M and upsampled to every pixel.
    weights: a ``.safetensors``/``.pt`` file of ``generator.<name>`` arrays, as the
        ``cstpp`` raw-to-raw method saves them (optional; relative to the spec's
        folder).
    mode: local (global is refused).

Source: "Generalizing ISP Model by Unsupervised Raw-to-raw Mapping" (CSTPP), ACM
Multimedia 2024.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np

from ispengine.core.errors import InputError, ParamError
from ispengine.core.predictor import ParamPredictor
from ispengine.core.settings import OptionSpec, PathSetting
from ispengine.learning.torch_runtime import DEVICE_SETTING, PRECISION_SETTING, TorchRuntime
from ispengine.learning.weights import as_numpy, load_arrays, save_arrays
from plugins_builtin.cstpp.polynomial import PolynomialTransform
from plugins_builtin.cstpp.shared import (
    CONFIG_SETTING,
    DIRECTION_INDEX,
    downsample_setting,
    integer_choices,
)


class CSTPPPredictor(ParamPredictor):
    """CSTPP's coefficient generator predicting a ``polynomial_transform`` per pixel."""

    name = "cstpp"
    summary = "CSTPP (ACM MM 2024): per-pixel 14x4 polynomial_transform coefficients from RAW"
    settings = (
        CONFIG_SETTING,
        OptionSpec("direction", tuple(DIRECTION_INDEX), "a_to_b", "mapping direction"),
        downsample_setting("downsample", "predict on the input shrunk by M"),
        PathSetting("weights", None, "a weights file of generator.* arrays (optional)"),
        OptionSpec("mode", ("global", "local"), "local", "per-pixel coefficients (local only)"),
        DEVICE_SETTING,
        PRECISION_SETTING,
    )

    def __init__(self, pipeline: Any, **settings: Any) -> None:
        super().__init__(pipeline, **integer_choices(settings, "downsample"))
        if self.config["mode"] != "local":
            raise ParamError(
                key="mode", message="cstpp predicts per-pixel coefficients: local only, not global"
            )
        stages = {step.label: step.stage for step in pipeline.steps}
        targets = [
            item
            for item in self.params
            if isinstance(stages[item.label], PolynomialTransform)
            and item.spec.name == "coefficients"
        ]
        others = [item.key for item in self.params if item not in targets]
        if len(targets) != 1 or others:
            found = f"free: {', '.join(item.key for item in self.params)}"
            raise ParamError(
                "cstpp: predicts the coefficients of exactly one polynomial_transform stage; "
                f"give the other parameters constants ({found})"
            )
        first = pipeline.steps[0].stage
        if first.input_layout != "packed":
            raise ParamError(
                f'cstpp: predicts from packed RAW (input = "packed_raw"), but the pipeline '
                f"takes {first.input_layout} input"
            )
        self.target = targets[0]
        residual = stages[self.target.label].config["residual"]
        from plugins_builtin.cstpp.networks import build_generator

        self.generator = build_generator(self.config["config"], seed=0, residual=residual).eval()
        if self.config["weights"]:
            self.load_weights(self.config["weights"])

    def __call__(self, image: Any, *, mode: str | None = None) -> dict[str, dict[str, Any]]:
        """Coefficients for packed RAW ``image`` (``(H, W, 4)`` or ``(B, H, W, 4)``,
        numpy or torch): ``{label: {"coefficients": batch + (H, W, 14, 4)}}``; numpy
        in → numpy out (float64), torch in → torch out (differentiable)."""
        import torch

        if mode not in (None, "local"):
            raise ParamError(
                key="mode",
                message=f"cstpp predicts per-pixel coefficients: local only, not {mode!r}",
            )
        is_torch = isinstance(image, torch.Tensor)
        batch = image if is_torch else torch.as_tensor(np.asarray(image, dtype=np.float32))
        single = batch.ndim == 3
        if single:
            batch = batch[None]
        if batch.ndim != 4 or batch.shape[-1] != 4:
            raise InputError(
                f"cstpp: expected packed RAW (H, W, 4) or (B, H, W, 4), got {tuple(image.shape)}"
            )
        # torch in: on the input's device; numpy in: on the ``device`` setting's
        runtime = None if is_torch else TorchRuntime.from_config(self.config)
        device = batch.device if is_torch else runtime.device
        generator = self.generator.to(device)
        nchw = batch.to(device=device, dtype=torch.float32).clamp(0.0, 1.0).permute(0, 3, 1, 2)
        context = contextlib.nullcontext() if is_torch else torch.no_grad()
        with context, contextlib.nullcontext() if is_torch else runtime.autocast():
            coefficients = generator(nchw, DIRECTION_INDEX[self.config["direction"]], self.factor)[
                1
            ]
        spec = self.target.spec
        coefficients = coefficients.clamp(spec.low, spec.high)
        if single:
            coefficients = coefficients[0]
        if not is_torch:
            coefficients = as_numpy(coefficients.float()).astype(np.float64)
        return {self.target.label: {spec.name: coefficients}}

    @property
    def factor(self) -> int:
        """The downsampling factor M."""
        return int(self.config["downsample"])

    def state(self) -> dict[str, Any]:
        """The generator's weights as ``generator.<name>`` tensors."""
        from plugins_builtin.cstpp.networks import generator_state

        return generator_state(self.generator)

    def save_weights(self, path: str | Path) -> Path:
        """Write :meth:`state` to ``path`` (``.safetensors``/``.pt``)."""
        return save_arrays(path, self.state())

    def load_weights(self, path: str | Path) -> None:
        """Load ``generator.<name>`` arrays of this ``config``; one-line
        :class:`InputError` when they do not fit."""
        from plugins_builtin.cstpp.networks import load_generator_state

        load_generator_state(self.generator, load_arrays(path), str(path))
        self.generator.eval()
