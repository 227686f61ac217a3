"""A compact U-Net target model F (camera RGB → sRGB) and its forward stage ``unet_isp``.

SemiISP trains "any target ISP model F" on real and pseudo pairs (SemiISP §3.3).
This is a small one for tests and quick experiments. Architecture of
:func:`build_unet` (``c_i = width·(i+1)`` channels at level ``i``; every conv 3×3
with zero padding 1 and LeakyReLU 0.2, unless stated):

* encoder level 0: conv 3→c_0, conv c_0→c_0;
* encoder level i = 1..depth: 2×2 average pooling, conv c_(i-1)→c_i, conv c_i→c_i;
* decoder level i = depth..1: bilinear ×2 upsampling, 1×1 conv c_i→c_(i-1) (no
  activation), concatenation with the encoder's level-(i-1) features, conv
  2·c_(i-1)→c_(i-1);
* head: 1×1 conv c_0→3, no activation and no global residual (camera RGB → sRGB
  is far from the identity); outputs are not clipped.

Channels grow linearly rather than doubling, to stay small: ``width=16,
depth=2`` has 76,547 parameters (:data:`PARAMETERS_16_2`). The module takes and
returns NHWC ``(B, H, W, 3)`` tensors; a height or width not divisible by
``2**depth`` is padded on the bottom/right (reflect, or replicate where the
image is too small to reflect) and the output cropped back.

:class:`UNetISP` wraps the network as a forward ISP stage (``rgb`` → ``rgb``,
no numeric parameters). Importing this module does not import torch: the
module classes are built in :func:`_classes`.

Source: Yoshimura, Otsuka, Berdan, Ohashi, "SemiISP/SemiIE: Semi-Supervised Image Signal
Processor and Image Enhancement Leveraging One-to-Many Mapping sRGB-to-RAW",
arXiv:2504.02345, 2025 (SemiISP) (the role of
F); the architecture is this project's.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ispengine.core.errors import InputError, ParamError
from ispengine.core.settings import IntegerSetting, PathSetting
from ispengine.core.stage import Stage

WIDTH = IntegerSetting("width", 16, "channels of the first level", 4, 128)
DEPTH = IntegerSetting("depth", 2, "number of 2x downsamplings", 1, 4)
PARAMETERS_16_2 = 76_547


@functools.cache
def _classes() -> dict[str, type]:
    """The torch module classes (imports torch on first call)."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    def conv(in_channels: int, out_channels: int) -> nn.Module:
        return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.LeakyReLU(0.2))

    class UNet(nn.Module):
        """NHWC camera RGB → NHWC sRGB (see the module docstring)."""

        def __init__(self, width: int, depth: int) -> None:
            super().__init__()
            self.width, self.depth = width, depth
            channels = [width * (level + 1) for level in range(depth + 1)]
            self.encoders = nn.ModuleList(
                [nn.Sequential(conv(3, channels[0]), conv(channels[0], channels[0]))]
            )
            for level in range(1, depth + 1):
                self.encoders.append(
                    nn.Sequential(
                        conv(channels[level - 1], channels[level]),
                        conv(channels[level], channels[level]),
                    )
                )
            self.reducers = nn.ModuleList(
                nn.Conv2d(channels[level], channels[level - 1], 1) for level in range(1, depth + 1)
            )
            self.decoders = nn.ModuleList(
                conv(2 * channels[level - 1], channels[level - 1]) for level in range(1, depth + 1)
            )
            self.head = nn.Conv2d(channels[0], 3, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.ndim != 4 or x.shape[-1] != 3:
                raise InputError(f"unet: expected a (B, H, W, 3) tensor, got {tuple(x.shape)}")
            height, width = x.shape[1], x.shape[2]
            multiple = 2**self.depth
            pad_h, pad_w = -height % multiple, -width % multiple
            y = x.permute(0, 3, 1, 2)
            if pad_h or pad_w:
                mode = "reflect" if pad_h < height and pad_w < width else "replicate"
                y = F.pad(y, (0, pad_w, 0, pad_h), mode=mode)
            skips = []
            for level, encoder in enumerate(self.encoders):
                if level:
                    y = F.avg_pool2d(y, 2)
                y = encoder(y)
                skips.append(y)
            for level in range(self.depth, 0, -1):
                y = F.interpolate(y, scale_factor=2.0, mode="bilinear", align_corners=False)
                y = self.reducers[level - 1](y)
                y = self.decoders[level - 1](torch.cat([y, skips[level - 1]], dim=1))
            y = self.head(y)[:, :, :height, :width]
            return y.permute(0, 2, 3, 1)

    return {"UNet": UNet}


def build_unet(width: int = 16, depth: int = 2) -> Any:
    """A fresh U-Net (``torch.nn.Module``, float32, CPU), initialised from torch's global RNG.

    ``width`` in [4, 128], ``depth`` (number of 2× downsamplings) in [1, 4].
    ``width=16, depth=2``: 76,547 parameters.
    """
    return _classes()["UNet"](WIDTH.coerce(width), DEPTH.coerce(depth))


class UNetISP(Stage):
    """The U-Net as a forward ISP stage: camera RGB ``(..., H, W, 3)`` → sRGB.

    Options (keywords, or a TOML stage's ``params``, e.g. ``params = { weights =
    "unet.safetensors", width = 16 }``):
        weights: a local ``.safetensors``/``.pt``/``.pth`` file of this network's
            ``state_dict`` (as written by :meth:`save_weights`), loaded at once;
            a missing file or one that does not fit ``width``/``depth`` raises
            :class:`InputError`. Without weights the network is built, untrained,
            from torch's global RNG on first use, silently (tests use such stages).
            In a spec file, a relative path is resolved against the spec's folder
            (in Python, against the working directory).
        width: channels of the first level, [4, 128] (default 16).
        depth: number of 2× downsamplings, [1, 4] (default 2).

    numpy inputs run under ``torch.no_grad`` and come back as numpy of the
    input's dtype (the network computes in float32); torch inputs stay on the
    autograd graph and come back as torch tensors. The network is moved to a
    torch input's device.
    """

    name = "unet_isp"
    params = ()
    options = (
        PathSetting("weights", None, "state_dict of this network (untrained when absent)"),
        WIDTH,
        DEPTH,
    )
    input_layout = "rgb"
    output_layout = "rgb"
    learned: ClassVar[bool] = True
    runs_in_torch: ClassVar[bool] = True  # CuPy inputs reach the model through DLPack

    def __init__(self, **values: Any) -> None:
        super().__init__(**values)
        self.width: int = self.config["width"]
        self.depth: int = self.config["depth"]
        self.weights: str | None = self.config["weights"]
        self._module: Any = None
        if self.weights is not None:
            self.load_weights(self.weights)

    @classmethod
    def from_module(cls, module: Any) -> UNetISP:
        """A stage around ``module`` (from :func:`build_unet`), shared, not copied."""
        if not all(hasattr(module, key) for key in ("width", "depth", "encoders")):
            raise ParamError(key="module", message="expected a U-Net built by build_unet")
        stage = cls(width=module.width, depth=module.depth)
        stage._module = module
        return stage

    @property
    def module(self) -> Any:
        """The torch network (built on first use when no weights were given)."""
        if self._module is None:
            self._module = build_unet(self.width, self.depth).eval()
        return self._module

    def load_weights(self, path: str | Path) -> None:
        """Load a ``state_dict`` saved by :meth:`save_weights` (or any matching file)."""
        import torch

        from ispengine.learning.weights import load_arrays

        arrays = load_arrays(path)
        module = build_unet(self.width, self.depth) if self._module is None else self._module
        expected = module.state_dict()
        what = f"{path}: weights do not fit a unet_isp of width {self.width}, depth {self.depth}"
        missing = sorted(set(expected) - set(arrays))
        unexpected = sorted(set(arrays) - set(expected))
        if missing or unexpected:
            key, kind = (missing[0], "missing") if missing else (unexpected[0], "unexpected")
            raise InputError(f"{what} ({kind} key {key!r})")
        for key, tensor in expected.items():
            if tuple(arrays[key].shape) != tuple(tensor.shape):
                raise InputError(
                    f"{what} ({key!r} has shape {tuple(arrays[key].shape)}, "
                    f"expected {tuple(tensor.shape)})"
                )
        state = {
            key: torch.from_numpy(np.array(value, dtype=np.float32))
            for key, value in arrays.items()
        }
        module.load_state_dict(state)
        self._module = module.eval()

    def save_weights(self, path: str | Path) -> Path:
        """Write the network's ``state_dict`` to ``path`` (``.safetensors``/``.pt``/``.pth``)."""
        from ispengine.learning.weights import save_arrays

        return save_arrays(path, self.module.state_dict())

    def apply(self, x: Any, p: Any, xp: Any) -> Any:
        import torch

        module = self.module
        shape = tuple(x.shape)
        if isinstance(x, np.ndarray):
            device = next(module.parameters()).device
            host = np.array(x.reshape(-1, *shape[-3:]), dtype=np.float32, order="C")  # a copy
            batch = torch.from_numpy(host)
            with torch.no_grad():
                out = module(batch.to(device)).cpu().numpy()
            return out.reshape(shape).astype(x.dtype, copy=False)
        if not isinstance(x, torch.Tensor):
            raise InputError(f"unet_isp: expected a numpy array or a torch tensor, got {type(x)}")
        parameter = next(module.parameters())
        if parameter.device != x.device:
            module.to(x.device)
        out = module(x.reshape(-1, *shape[-3:]).to(parameter.dtype))
        return out.reshape(shape).to(x.dtype)

    def __repr__(self) -> str:
        return f"UNetISP(width={self.width}, depth={self.depth}, weights={self.weights!r})"
