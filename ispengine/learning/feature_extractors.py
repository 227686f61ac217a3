"""Frozen feature extractors for perceptual and adversarial losses: VGG-19, AlexNet, ViT-B/16.

Each is the architecture of torchvision's model, with torchvision's parameter
names, so its published weights load from a local file: torchvision's
``.pth`` (``vgg19-dcbe5e5e.pth``, ``alexnet-owt-7be5be79.pth``,
``vit_b_16-c867db91.pth``) or a ``.safetensors`` of the same tensors. Only the
parts the losses use are built (VGG-19 up to relu5_4, AlexNet's convolutions,
ViT-B/16's encoder); the file's other tensors (the classifier heads) are
ignored. Weights cannot be downloaded here: a missing file is one clear error
naming it (:func:`load_extractor`), and ``weights=None`` gives the same
architecture with seeded random weights, which the tests and the CPU
experiments of this repository use (say so wherever a figure depends on it).

Every extractor takes RGB ``(N, 3, H, W)`` in [0, 1], applies its own input
normalisation, and is frozen (``requires_grad`` off, evaluation mode); gradients
still flow to its input.

* :class:`VGG19Features` → the relu5_4 feature map (content loss).
  K. Simonyan, A. Zisserman, "Very Deep Convolutional Networks for Large-Scale
  Image Recognition", ICLR 2015 (configuration E); ImageNet mean/std input.
* :class:`AlexNetFeatures` → the five ReLU outputs LPIPS uses (relu1…relu5),
  with LPIPS's input scaling. A. Krizhevsky et al., NeurIPS 2012 (torchvision's
  single-GPU variant); R. Zhang et al., "The Unreasonable Effectiveness of Deep
  Features as a Perceptual Metric", CVPR 2018.
* :class:`ViTFeatures` → the tokens after the encoder's final layer norm, input
  resized to the model's image size. A. Dosovitskiy et al., "An Image is Worth
  16x16 Words", ICLR 2021.

``width`` (and for ViT ``depth``, ``image_size``, ``patch``) shrink an extractor
for tests; the published sizes are the defaults.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

from ispengine.core.errors import InputError

#: VGG-19 (configuration E) up to relu5_4: channel counts, "M" for max pooling.
VGG19_LAYERS = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M")
VGG19_LAST = (512, 512, 512, 512)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: LPIPS's input scaling of [-1, 1] images (its ``ScalingLayer``).
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)
#: The published file names, for messages.
PUBLISHED_FILES = {
    "vgg19": "vgg19-dcbe5e5e.pth",
    "alexnet": "alexnet-owt-7be5be79.pth",
    "vit_b_16": "vit_b_16-c867db91.pth",
}


def _torch() -> Any:
    import torch

    return torch


def _normaliser(mean: tuple[float, ...], std: tuple[float, ...]) -> Any:
    torch = _torch()

    class Normalise(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
            self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

        def forward(self, x: Any) -> Any:
            return (x - self.mean) / self.std

    return Normalise()


def _scaled(channels: int, width: int, reference: int) -> int:
    return max(1, round(channels * width / reference))


def vgg19_features(width: int = 64) -> Any:
    """VGG-19's convolutional layers up to relu5_4 (:class:`VGG19Features`); ``width``
    is the first layer's channels (64 published; the rest scale with it)."""
    torch = _torch()

    class VGG19Features(torch.nn.Module):
        """RGB [0, 1] → relu5_4 features (parameter names ``features.N.*`` as torchvision)."""

        def __init__(self) -> None:
            super().__init__()
            layers: list[Any] = []
            channels = 3
            for item in (*VGG19_LAYERS, *VGG19_LAST):
                if item == "M":
                    layers.append(torch.nn.MaxPool2d(2, 2))
                    continue
                out = _scaled(int(item), width, 64)
                layers += [torch.nn.Conv2d(channels, out, 3, padding=1), torch.nn.ReLU()]
                channels = out
            self.normalise = _normaliser(IMAGENET_MEAN, IMAGENET_STD)
            self.features = torch.nn.Sequential(*layers)
            self.channels = channels

        def forward(self, x: Any) -> Any:
            return self.features(self.normalise(x))

    return VGG19Features()


def alexnet_features(width: int = 64) -> Any:
    """AlexNet's convolutions, returning LPIPS's five ReLU outputs (:class:`AlexNetFeatures`);
    ``width`` is the first layer's channels (64 published)."""
    torch = _torch()
    c1, c2, c3, c4 = (_scaled(c, width, 64) for c in (64, 192, 384, 256))

    class AlexNetFeatures(torch.nn.Module):
        """RGB [0, 1] → [relu1, relu2, relu3, relu4, relu5] (names ``features.N.*``)."""

        def __init__(self) -> None:
            super().__init__()
            relu = torch.nn.ReLU
            pool = torch.nn.MaxPool2d
            self.features = torch.nn.Sequential(
                torch.nn.Conv2d(3, c1, 11, stride=4, padding=2), relu(),  # 0-1: relu1
                pool(3, 2), torch.nn.Conv2d(c1, c2, 5, padding=2), relu(),  # 2-4: relu2
                pool(3, 2), torch.nn.Conv2d(c2, c3, 3, padding=1), relu(),  # 5-7: relu3
                torch.nn.Conv2d(c3, c4, 3, padding=1), relu(),  # 8-9: relu4
                torch.nn.Conv2d(c4, c4, 3, padding=1), relu(),  # 10-11: relu5
            )  # fmt: skip
            self.channels = (c1, c2, c3, c4, c4)
            self.register_buffer(
                "shift", torch.tensor(LPIPS_SHIFT).view(1, 3, 1, 1), persistent=False
            )
            self.register_buffer(
                "scale", torch.tensor(LPIPS_SCALE).view(1, 3, 1, 1), persistent=False
            )

        def forward(self, x: Any) -> list[Any]:
            h = ((x * 2.0 - 1.0) - self.shift) / self.scale
            outputs = []
            for start, stop in ((0, 2), (2, 5), (5, 8), (8, 10), (10, 12)):
                h = self.features[start:stop](h)
                outputs.append(h)
            return outputs

    return AlexNetFeatures()


def vit_features(
    width: int = 768, depth: int = 12, heads: int = 12, image_size: int = 224, patch: int = 16
) -> Any:
    """ViT-B/16's encoder (:class:`ViTFeatures`), parameter names as torchvision's
    ``vit_b_16`` (``conv_proj``, ``class_token``, ``encoder.layers.encoder_layer_N``)."""
    torch = _torch()
    tokens = (image_size // patch) ** 2 + 1

    class EncoderBlock(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln_1 = torch.nn.LayerNorm(width, eps=1e-6)
            self.self_attention = torch.nn.MultiheadAttention(width, heads, batch_first=True)
            self.ln_2 = torch.nn.LayerNorm(width, eps=1e-6)
            self.mlp = torch.nn.Sequential(
                torch.nn.Linear(width, 4 * width),
                torch.nn.GELU(),
                torch.nn.Dropout(0.0),
                torch.nn.Linear(4 * width, width),
                torch.nn.Dropout(0.0),
            )

        def forward(self, x: Any) -> Any:
            x = x + _attention(self.self_attention, self.ln_1(x), heads)
            return x + self.mlp(self.ln_2(x))

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pos_embedding = torch.nn.Parameter(torch.randn(1, tokens, width) * 0.02)
            self.layers = torch.nn.Sequential(
                OrderedDict((f"encoder_layer_{i}", EncoderBlock()) for i in range(depth))
            )
            self.ln = torch.nn.LayerNorm(width, eps=1e-6)

        def forward(self, x: Any) -> Any:
            return self.ln(self.layers(x + self.pos_embedding))

    class ViTFeatures(torch.nn.Module):
        """RGB [0, 1] (any size; resized to ``image_size``) → tokens ``(N, T, width)``."""

        def __init__(self) -> None:
            super().__init__()
            self.image_size = image_size
            self.channels = width
            self.normalise = _normaliser(IMAGENET_MEAN, IMAGENET_STD)
            self.conv_proj = torch.nn.Conv2d(3, width, patch, stride=patch)
            self.class_token = torch.nn.Parameter(torch.zeros(1, 1, width))
            self.encoder = Encoder()

        def forward(self, x: Any) -> Any:
            if tuple(x.shape[-2:]) != (image_size, image_size):
                x = torch.nn.functional.interpolate(
                    x, size=(image_size, image_size), mode="bilinear", align_corners=False
                )
            h = self.conv_proj(self.normalise(x)).flatten(2).transpose(1, 2)
            h = torch.cat([self.class_token.expand(h.shape[0], -1, -1), h], dim=1)
            return self.encoder(h)

    return ViTFeatures()


def _attention(layer: Any, x: Any, heads: int) -> Any:
    """Multi-head self-attention with ``layer``'s weights (a ``MultiheadAttention``),
    written out so it is twice differentiable (R1/R2 penalties backpropagate through
    a gradient; fused attention kernels have no double backward)."""
    batch, tokens, width = x.shape
    q, k, v = (x @ layer.in_proj_weight.T + layer.in_proj_bias).chunk(3, dim=-1)

    def split(t: Any) -> Any:
        return t.reshape(batch, tokens, heads, width // heads).transpose(1, 2)

    q, k, v = split(q), split(k), split(v)
    weights = (q @ k.transpose(-2, -1) * (width // heads) ** -0.5).softmax(dim=-1)
    out = (weights @ v).transpose(1, 2).reshape(batch, tokens, width)
    return layer.out_proj(out)


BUILDERS = {"vgg19": vgg19_features, "alexnet": alexnet_features, "vit_b_16": vit_features}


def freeze(module: Any) -> Any:
    """``module`` in evaluation mode with every parameter's gradient off."""
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    return module.eval()


def load_extractor(kind: str, weights: str | Path | None, *, seed: int = 0, **size: Any) -> Any:
    """The frozen extractor ``kind`` (``vgg19``, ``alexnet``, ``vit_b_16``).

    ``weights``: a local torchvision ``.pth`` or ``.safetensors`` file of the
    published model (tensors the extractor does not use, such as classifier heads,
    are ignored); ``None`` gives seeded random weights (``seed``). ``size`` passes
    shrinking keywords to the builder (tests). Raises
    :class:`~ispengine.core.errors.InputError` with one line naming a missing or
    unfitting file.
    """
    if kind not in BUILDERS:
        raise InputError(f"unknown feature extractor '{kind}' (known: {', '.join(BUILDERS)})")
    torch = _torch()
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        module = BUILDERS[kind](**size)
    if weights is not None:
        _load_weights(module, kind, Path(weights))
    return freeze(module)


def _load_weights(module: Any, kind: str, path: Path) -> None:
    from ispengine.learning.weights import load_checkpoint_state

    if not path.is_file():
        raise InputError(
            f"{path}: no such {kind} weights file (expected torchvision's "
            f"{PUBLISHED_FILES[kind]} or a .safetensors of it; weights cannot be downloaded "
            "here, copy the file in)"
        )
    arrays = load_checkpoint_state(path)
    torch = _torch()
    expected = module.state_dict()
    missing = sorted(set(expected) - set(arrays))
    if missing:
        raise InputError(
            f"{path}: not {kind} weights: no tensor '{missing[0]}' ({len(missing)} missing)"
        )
    for key, tensor in expected.items():
        if tuple(arrays[key].shape) != tuple(tensor.shape):
            raise InputError(
                f"{path}: {kind} tensor '{key}' has shape {tuple(arrays[key].shape)}, "
                f"expected {tuple(tensor.shape)}"
            )
    module.load_state_dict({key: torch.from_numpy(arrays[key].copy()) for key in expected})
