"""PQDynamicISP-style parameter predictor.

``P = DNN(Resize(I))``: the image is resized to ``resize``×``resize`` (bilinear,
antialiased), encoded by four stride-2 3×3 convolutions (``width`` channels,
LeakyReLU 0.2), average-pooled to a grid and mapped by a 1×1 convolution to one
raw value per predicted parameter element; each is squashed into its declared
range (:func:`ispengine.core.predictor.squash`).

* ``mode = "global"``: the grid is 1×1, one parameter set per image.
* ``mode = "local"``: a ``grid``×``grid`` set of parameters, squashed, then
  bilinearly upsampled to every pixel (a convex combination of in-range values
  stays in range). A parameter whose spec is not ``local`` is the grid mean.

The output layer starts at zero weights with biases at the pipeline's
current values (each stage's default, or the TOML constant it would have had),
so an untrained predictor reproduces the pipeline's defaults, and training
starts from them. Any pipeline of stages with declared parameters works.

Settings (``[predictor]`` table or keywords):
    mode: global | local (default global).
    resize: side of the resized input, [16, 1024] (default 64; PQDynamicISP uses
        256 on a GPU).
    width: encoder channels, [4, 256] (default 32).
    grid: local-mode grid side, [2, 64] (default 8).
    weights: a local ``.safetensors``/``.pt`` file of this predictor (optional).

Source: Yoshimura, Otsuka, Berdan, Ohashi, "SemiISP/SemiIE: Semi-Supervised Image Signal
Processor and Image Enhancement Leveraging One-to-Many Mapping sRGB-to-RAW",
arXiv:2504.02345, 2025 (SemiISP), §3.1 Eqs. 1–2;
the encoder follows M. Yoshimura, J. Otsuka, T. Ohashi, "PQDynamicISP: Dynamically
Controlled Image Signal Processor for Any Image Sensors Pursuing Perceptual Quality",
arXiv:2403.10091, 2024 (PQDynamicISP); layer sizes and defaults are this project's.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np

from ispengine.core.errors import InputError
from ispengine.core.predictor import ParamPredictor, check_mode, default_vector, split_vector
from ispengine.core.settings import IntegerSetting, OptionSpec, PathSetting
from ispengine.learning.torch_runtime import DEVICE_SETTING, PRECISION_SETTING, TorchRuntime
from ispengine.learning.weights import as_numpy, load_arrays, save_arrays

ENCODER_LAYERS = 4


@functools.cache
def _network_class() -> type:
    import torch
    from torch import nn

    class PredictorNetwork(nn.Module):
        """Encoder + 1×1 head; ``forward(x NCHW) -> raw (B, n, g, g)``."""

        def __init__(self, outputs: int, width: int, resize: int) -> None:
            super().__init__()
            layers: list[nn.Module] = []
            channels = 3
            for _ in range(ENCODER_LAYERS):
                layers += [nn.Conv2d(channels, width, 3, stride=2, padding=1), nn.LeakyReLU(0.2)]
                channels = width
            self.encoder = nn.Sequential(*layers)
            self.head = nn.Conv2d(width, outputs, 1)
            self.resize = resize
            nn.init.zeros_(self.head.weight)

        def forward(self, x: torch.Tensor, grid: int) -> torch.Tensor:
            small = nn.functional.interpolate(
                x,
                size=(self.resize, self.resize),
                mode="bilinear",
                antialias=True,
                align_corners=False,
            )
            features = self.encoder(small)
            return self.head(nn.functional.adaptive_avg_pool2d(features, grid))

    return PredictorNetwork


class PQDynamicPredictor(ParamPredictor):
    """A small CNN predicting every free parameter of a pipeline (global or local)."""

    name = "pqdynamic"
    summary = "PQDynamicISP-style CNN on a resized image; global or local (grid) parameters"
    settings = (
        OptionSpec("mode", ("global", "local"), "global", "one set per image, or a grid per pixel"),
        IntegerSetting("resize", 64, "side of the resized input", low=16, high=1024),
        IntegerSetting("width", 32, "encoder channels", low=4, high=256),
        IntegerSetting("grid", 8, "local-mode grid side", low=2, high=64),
        PathSetting(
            "weights",
            None,
            "a local weights file of this predictor (optional; relative to the spec's folder)",
        ),
        DEVICE_SETTING,
        PRECISION_SETTING,
    )

    def __init__(self, pipeline: Any, **settings: Any) -> None:
        super().__init__(pipeline, **settings)
        first = pipeline.steps[0].stage
        if first.input_layout != "rgb":
            raise InputError(
                f"pqdynamic: predicts from the pipeline's input, which must be RGB (got "
                f"{first.input_layout}); run the RAW front end as a pipeline of its own first"
            )
        import torch

        network = _network_class()(self.size, self.config["width"], self.config["resize"])
        with torch.no_grad():
            network.head.bias.copy_(torch.as_tensor(default_vector(self.params, pipeline)))
        self.network = network
        if self.config["weights"]:
            self.load_weights(self.config["weights"])

    # -- prediction -------------------------------------------------------
    def raw(self, image: Any, mode: str) -> Any:
        """Unsquashed outputs ``(B, n, g, g)`` for an NHWC torch batch."""
        grid = 1 if mode == "global" else self.config["grid"]
        return self.network(image.permute(0, 3, 1, 2), grid)

    def predict(self, image: Any, mode: str | None = None) -> dict[str, dict[str, Any]]:
        """Differentiable prediction for an NHWC torch batch ``(B, H, W, 3)``.

        Global mode gives ``(B, *shape)`` per parameter; local mode ``(B, H, W, *shape)``.
        A local-mode model asked for ``mode="global"`` gives the mean of its grid.
        """
        import torch

        mode = check_mode(mode or self.config["mode"])
        trained_local = self.config["mode"] == "local"
        raw = self.raw(image, "local" if trained_local else "global")  # (B, n, g, g)
        squashed = split_vector(raw.permute(0, 2, 3, 1), self.params, torch)  # (B, g, g, *s)
        height, width = image.shape[1:3]
        out: dict[str, dict[str, Any]] = {}
        for item in self.params:
            value = squashed[item.label][item.spec.name]
            if mode == "global" or not item.spec.local or not trained_local:
                value = value.mean(dim=(1, 2))  # (B, *shape)
                if mode == "local" and item.spec.local:
                    value = value[:, None, None].expand(-1, height, width, *item.spec.shape)
            else:
                value = _upsample(value, height, width)
            out.setdefault(item.label, {})[item.spec.name] = value
        return out

    def __call__(self, image: Any, *, mode: str | None = None) -> dict[str, dict[str, Any]]:
        """Parameters for ``image``: ``(H, W, 3)`` or ``(B, H, W, 3)``, numpy or torch.

        numpy in, numpy out (float64, no gradient); torch in, torch out.
        """
        import torch

        is_numpy = not isinstance(image, torch.Tensor)
        batch = torch.as_tensor(np.asarray(image, dtype=np.float32)) if is_numpy else image
        single = batch.ndim == 3
        if single:
            batch = batch[None]
        if batch.ndim != 4 or batch.shape[-1] != 3:
            raise InputError(f"pqdynamic: expected an (H, W, 3) image, got {tuple(image.shape)}")
        weight = next(self.network.parameters())
        if is_numpy:  # on the ``device`` setting's device, numpy results
            runtime = TorchRuntime.from_config(self.config)
            self.network.to(runtime.device)
            with torch.no_grad(), runtime.autocast():
                values = self.predict(batch.to(runtime.device, weight.dtype), mode)
        else:  # on the input's device, differentiable
            self.network.to(batch.device)  # back from the setting's device after numpy calls
            values = self.predict(batch.to(weight.dtype), mode)
        out: dict[str, dict[str, Any]] = {}
        for label, named in values.items():
            for key, value in named.items():
                value = value[0] if single else value
                out.setdefault(label, {})[key] = (
                    as_numpy(value.float()).astype(np.float64) if (is_numpy) else value
                )
        return out

    # -- persistence ------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {f"predictor.{k}": v for k, v in self.network.state_dict().items()}

    def load_state(self, state: dict[str, Any]) -> None:
        import torch

        own = {
            k.removeprefix("predictor."): v for k, v in state.items() if k.startswith("predictor.")
        }
        expected = self.network.state_dict()
        if set(own) != set(expected) or any(
            tuple(np.shape(own[k])) != tuple(expected[k].shape) for k in expected
        ):
            raise InputError(
                "pqdynamic: the weights do not fit this pipeline and settings "
                f"({len(self.params)} parameters, {self.size} outputs, width "
                f"{self.config['width']})"
            )
        self.network.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in own.items()})

    def load_weights(self, path: str | Path) -> None:
        self.load_state(load_arrays(path))

    def save_weights(self, path: str | Path) -> Path:
        return save_arrays(path, self.state())

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.network.parameters())


def _upsample(value: Any, height: int, width: int) -> Any:
    """``(B, g, g, *shape)`` → ``(B, H, W, *shape)`` by bilinear interpolation."""
    from torch import nn

    batch, rows, cols = value.shape[:3]
    shape = tuple(value.shape[3:])
    flat = value.reshape(batch, rows, cols, -1).permute(0, 3, 1, 2)
    up = nn.functional.interpolate(flat, size=(height, width), mode="bilinear", align_corners=False)
    return up.permute(0, 2, 3, 1).reshape(batch, height, width, *shape)
