"""The perceptual term of the function ISP's loss: VGG16 features.

``L_ISP = L_mse + 0.1·L_vgg``, where ``L_vgg`` is the mean squared difference
of VGG16 features up to ``relu3_3`` (the first 16 layers of ``features``) of the
ImageNet-normalised images. Pretrained weights cannot be downloaded here; they
load from a local file the user gives: torchvision's ``vgg16-397923af.pth``
(read with ``torch.load(weights_only=True)``) or a ``.safetensors`` file with
the same keys (``features.N.weight`` / ``features.N.bias``, with or without the
``features.`` prefix). Without a file the term is left out, and
:func:`perceptual_loss_or_none` says so once.

Source: Yoshimura, Otsuka, Berdan, Ohashi, "SemiISP/SemiIE: Semi-Supervised Image Signal
Processor and Image Enhancement Leveraging One-to-Many Mapping sRGB-to-RAW",
arXiv:2504.02345, 2025 (SemiISP), §3.1 Eq. 5 and
appendix A.3, Table 5 (α = 0.1). The layer (``relu3_3``) is this project's choice.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ispengine.core.errors import InputError
from ispengine.learning.weights import load_arrays

# VGG16's ``features`` up to relu3_3: channel counts, "M" for max pooling.
VGG16_RELU3_3 = (64, 64, "M", 128, 128, "M", 256, 256, 256)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_warned: set[str] = set()


@functools.cache
def _feature_class() -> type:
    import torch
    from torch import nn

    class VGGFeatures(nn.Module):
        """VGG16 ``features[:16]`` (relu3_3), frozen; NHWC input in [0, 1]."""

        def __init__(self) -> None:
            super().__init__()
            layers: list[nn.Module] = []
            channels = 3
            for item in VGG16_RELU3_3:
                if item == "M":
                    layers.append(nn.MaxPool2d(2, 2))
                else:
                    layers += [nn.Conv2d(channels, item, 3, padding=1), nn.ReLU(inplace=False)]
                    channels = item
            self.features = nn.Sequential(*layers)
            self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
            self.requires_grad_(False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.features((x.permute(0, 3, 1, 2) - self.mean) / self.std)

    return VGGFeatures


def load_vgg_features(path: str | Path) -> Any:
    """The frozen VGG16 feature extractor with weights from a local file."""
    import torch

    arrays = load_arrays(path)
    arrays = {k.removeprefix("features."): v for k, v in arrays.items()}
    network = _feature_class()()
    expected = {
        k.removeprefix("features."): v
        for k, v in network.state_dict().items()
        if k.startswith("features.")
    }
    missing = [k for k in expected if k not in arrays]
    wrong = [
        k
        for k in expected
        if k in arrays and tuple(np.shape(arrays[k])) != tuple(expected[k].shape)
    ]
    if missing or wrong:
        raise InputError(
            f"{path}: not VGG16 weights ({'missing ' + missing[0] if missing else ''}"
            f"{'wrong shape of ' + wrong[0] if wrong else ''})"
        )
    network.features.load_state_dict({k: torch.as_tensor(arrays[k]) for k in expected})
    network.eval()
    return network


def perceptual_loss_or_none(path: str | None) -> Any:
    """A ``loss(pred, target)`` on NHWC tensors from the weights at ``path``; ``None``
    (after one warning per process) when no path is given. A path that names no file
    is an :class:`InputError` (a typo must not silently drop the term)."""
    if path and not Path(path).expanduser().is_file():
        raise InputError(f"{path}: no such VGG16 weights file (vgg_weights)")
    if not path:
        reason = "no VGG16 weights given"
        if reason not in _warned:
            _warned.add(reason)
            warnings.warn(
                f"{reason}: training without the perceptual term (L_mse only); "
                "give a local vgg16 .pth/.safetensors to add 0.1·L_vgg",
                stacklevel=2,
            )
        return None
    network = load_vgg_features(Path(path).expanduser())

    def loss(pred: Any, target: Any) -> Any:
        network.to(pred.device)  # follows the trainer's device (a no-op once there)
        return ((network(pred) - network(target)) ** 2).mean()

    return loss
