"""CycleISP's networks in torch: RGB2RAW, RAW2RGB and the colour-correction branch.

Source: S. W. Zamir et al., "CycleISP: Real Image Restoration via Improved
Data Synthesis", CVPR 2020 (architecture as in the paper and its reference
implementation; this is an independent rewrite).

Building blocks (``C`` features, every conv ``nn.Conv2d`` with bias and
padding ``k // 2`` unless stated):

* **Dual attention block (DAB).** ``f = conv3x3(act(conv3x3(x)))``;
  spatial attention ``SA(f) = f · σ(conv_k([max_c f, mean_c f]))`` (2 → 1,
  no bias); channel attention ``CA(f) = f · σ(W₂ ReLU(W₁ avgpool(f)))``
  (1×1 convs ``C → C/r → C``); ``out = x + conv1x1([SA(f), CA(f)])`` (2C → C).
* **Recursive residual group (RRG).** ``out = x + conv3x3(DAB_n(…DAB_1(x)))``.
* ``act`` is one ``nn.PReLU(C)`` per network, shared by all its blocks (it is
  passed down at call time, so the state dict holds it once).

Networks (:class:`CycleISPConfig` sets C, the group and block counts, and r):

* :class:`RGB2RAW`: sRGB ``(B, 3, H, W)`` → head conv 3→C → RRGs → conv,
  act → tail conv3x3 C→3, a camera-RGB image; :func:`pack_bayer` samples it
  to the target pattern's mosaic as 4 packed planes ``(B, 4, H/2, W/2)``.
* :class:`CCM`: the clean sRGB blurred by a fixed 21×21 Gaussian (σ = 12,
  reflect padding) → head conv 3→C → 2×2 max-pool → RRGs → conv, act →
  conv3x3 C→C → sigmoid: colour features at the packed resolution.
* :class:`RAW2RGB`: packed RAW ``(B, 4, H/2, W/2)`` → head conv 4→C → RRGs →
  ``x = x·ccm + x`` → conv, act → tail conv3x3 C→C, act → 1×1 conv C→12 →
  pixel shuffle ×2 → sRGB ``(B, 3, H, W)``.

Packed planes are always ordered R, Gr, Gb, B (Gr: green on the red rows),
whatever the Bayer pattern (:mod:`ispengine.core.cfa`).
Published sizes (C = 96, 3 groups of 5 blocks, CCM 2 of 2, r = 8): RGB2RAW
3,143,109, RAW2RGB 3,225,582, CCM 1,083,096 parameters (paper: ≈3.1M, 3.2M,
1.1M).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from array_api_compat import array_namespace
from attrs import frozen
from torch import nn
from torch.nn import functional as F

from ispengine.core.cfa import CFA_COLOUR, merge_cfa, split_cfa

BLUR_SIZE = 21
BLUR_SIGMA = 12.0


@frozen
class CycleISPConfig:
    """Widths and depths of the CycleISP networks.

    Attributes:
        features: channels C of every feature map (published 96).
        groups, blocks: RRGs of RGB2RAW and RAW2RGB, and DABs per RRG (3, 5).
        ccm_groups, ccm_blocks: the same for the colour-correction branch (2, 2).
        reduction: channel-attention reduction r, C/r hidden channels (8).
        spatial_kernel: kernel of the spatial-attention conv (3).
    """

    features: int
    groups: int
    blocks: int
    ccm_groups: int
    ccm_blocks: int
    reduction: int
    spatial_kernel: int = 3


PUBLISHED = CycleISPConfig(96, 3, 5, 2, 2, 8)
SMALL = CycleISPConfig(16, 1, 2, 1, 1, 4)
CONFIGS = {"published": PUBLISHED, "small": SMALL}


def conv(in_channels: int, out_channels: int, kernel: int, bias: bool = True) -> nn.Conv2d:
    """A stride-1 convolution that keeps the size (padding ``kernel // 2``)."""
    return nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2, bias=bias)


class SpatialAttention(nn.Module):
    """``f · σ(conv([max_c f, mean_c f]))``: one weight per pixel."""

    def __init__(self, kernel: int) -> None:
        super().__init__()
        self.conv = conv(2, 1, kernel, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(pooled))


class ChannelAttention(nn.Module):
    """``f · σ(W₂ ReLU(W₁ avgpool(f)))``: one weight per channel (squeeze-excitation)."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.squeeze = conv(channels, hidden, 1)
        self.excite = conv(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = x.mean(dim=(2, 3), keepdim=True)
        return x * torch.sigmoid(self.excite(F.relu(self.squeeze(pooled))))


class DualAttentionBlock(nn.Module):
    """DAB: ``x + conv1x1([SA(f), CA(f)])`` with ``f = conv(act(conv(x)))``."""

    def __init__(self, config: CycleISPConfig) -> None:
        super().__init__()
        channels = config.features
        self.conv1 = conv(channels, channels, 3)
        self.conv2 = conv(channels, channels, 3)
        self.spatial = SpatialAttention(config.spatial_kernel)
        self.channel = ChannelAttention(channels, config.reduction)
        self.fuse = conv(2 * channels, channels, 1)

    def forward(self, x: torch.Tensor, act: nn.Module) -> torch.Tensor:
        features = self.conv2(act(self.conv1(x)))
        attended = torch.cat([self.spatial(features), self.channel(features)], dim=1)
        return x + self.fuse(attended)


class RecursiveResidualGroup(nn.Module):
    """RRG: ``x + conv3x3(DAB_n(… DAB_1(x)))``."""

    def __init__(self, config: CycleISPConfig, blocks: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(DualAttentionBlock(config) for _ in range(blocks))
        self.conv = conv(config.features, config.features, 3)

    def forward(self, x: torch.Tensor, act: nn.Module) -> torch.Tensor:
        y = x
        for block in self.blocks:
            y = block(y, act)
        return x + self.conv(y)


class ResidualTrunk(nn.Module):
    """``groups`` RRGs in a row, sharing the network's activation."""

    def __init__(self, config: CycleISPConfig, groups: int, blocks: int) -> None:
        super().__init__()
        self.groups = nn.ModuleList(RecursiveResidualGroup(config, blocks) for _ in range(groups))

    def forward(self, x: torch.Tensor, act: nn.Module) -> torch.Tensor:
        for group in self.groups:
            x = group(x, act)
        return x


class RGB2RAW(nn.Module):
    """sRGB ``(B, 3, H, W)`` → camera RGB ``(B, 3, H, W)`` (before mosaicking)."""

    def __init__(self, config: CycleISPConfig) -> None:
        super().__init__()
        channels = config.features
        self.act = nn.PReLU(channels)
        self.head = conv(3, channels, 3)
        self.trunk = ResidualTrunk(config, config.groups, config.blocks)
        self.body_conv = conv(channels, channels, 3)
        self.tail = conv(channels, 3, 3)

    def forward(self, srgb: torch.Tensor) -> torch.Tensor:
        x = self.trunk(self.head(srgb), self.act)
        return self.tail(self.act(self.body_conv(x)))


class CCM(nn.Module):
    """Colour-correction branch: blurred sRGB ``(B, 3, H, W)`` → gates ``(B, C, H/2, W/2)``."""

    def __init__(self, config: CycleISPConfig) -> None:
        super().__init__()
        channels = config.features
        self.act = nn.PReLU(channels)
        self.head = conv(3, channels, 3)
        self.trunk = ResidualTrunk(config, config.ccm_groups, config.ccm_blocks)
        self.body_conv = conv(channels, channels, 3)
        self.tail = conv(channels, channels, 3)

    def forward(self, blurred_srgb: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(self.head(blurred_srgb), 2)
        x = self.act(self.body_conv(self.trunk(x, self.act)))
        return torch.sigmoid(self.tail(x))


class RAW2RGB(nn.Module):
    """Packed RAW ``(B, 4, H/2, W/2)`` and CCM gates → sRGB ``(B, 3, H, W)``.

    The reference implementation also holds a 1×1 conv 2C → C that its forward
    pass never uses; it is left out (the published ≈3.2M is met without it).
    """

    def __init__(self, config: CycleISPConfig) -> None:
        super().__init__()
        channels = config.features
        self.act = nn.PReLU(channels)
        self.head = conv(4, channels, 3)
        self.trunk = ResidualTrunk(config, config.groups, config.blocks)
        self.body_conv = conv(channels, channels, 3)
        self.tail = conv(channels, channels, 3)
        self.to_rgb = conv(channels, 12, 1)

    def forward(self, packed: torch.Tensor, ccm: torch.Tensor) -> torch.Tensor:
        x = self.body_conv(self.trunk(self.head(packed), self.act))
        x = self.act(x * ccm + x)  # the colour-correction gate, as in the reference
        x = self.act(self.tail(x))
        return F.pixel_shuffle(self.to_rgb(x), 2)


def gaussian_blur(image: torch.Tensor) -> torch.Tensor:
    """The CCM input: a 21×21 Gaussian (σ = 12) per channel, reflect padding.

    Separable (two 1-D passes, the same result as the 2-D kernel). Images whose
    side is at most 10 pixels cannot be reflect-padded by 10; they are
    edge-padded instead.
    """
    radius = BLUR_SIZE // 2
    offsets = torch.arange(BLUR_SIZE, dtype=image.dtype, device=image.device) - radius
    kernel = torch.exp(-(offsets**2) / (2 * BLUR_SIGMA**2))
    kernel = kernel / kernel.sum()
    channels = image.shape[1]
    mode = "reflect" if min(image.shape[-2:]) > radius else "replicate"
    padded = F.pad(image, (radius, radius, radius, radius), mode=mode)
    rows = kernel.view(1, 1, 1, BLUR_SIZE).expand(channels, 1, 1, BLUR_SIZE)
    columns = kernel.view(1, 1, BLUR_SIZE, 1).expand(channels, 1, BLUR_SIZE, 1)
    blurred = F.conv2d(padded, rows, groups=channels)
    return F.conv2d(blurred, columns, groups=channels)


def _patterns(patterns: str | Sequence[str], batch: int) -> list[str]:
    if isinstance(patterns, str):
        return [patterns] * batch
    if len(patterns) != batch:
        raise ValueError(f"{len(patterns)} Bayer patterns for a batch of {batch}")
    return list(patterns)


def pack_bayer(rgb: torch.Tensor, patterns: str | Sequence[str]) -> torch.Tensor:
    """Mosaic RGB ``(B, 3, H, W)`` to packed planes ``(B, 4, H/2, W/2)`` (R, Gr, Gb, B).

    Plane R takes channel 0 at the R sites of the pattern, Gr and Gb channel 1
    at theirs, B channel 2; ``patterns`` is one pattern or one per image.
    """
    packed = []
    for image, pattern in zip(rgb, _patterns(patterns, rgb.shape[0]), strict=True):
        planes = [split_cfa(image[colour], pattern)[k] for k, colour in enumerate(CFA_COLOUR)]
        packed.append(torch.stack(planes))
    return torch.stack(packed)


def pack_mosaic(mosaic: torch.Tensor, patterns: str | Sequence[str]) -> torch.Tensor:
    """A mosaic ``(B, H, W)`` as packed planes ``(B, 4, H/2, W/2)`` (R, Gr, Gb, B)."""
    return torch.stack(
        [
            torch.stack(split_cfa(image, pattern))
            for image, pattern in zip(mosaic, _patterns(patterns, mosaic.shape[0]), strict=True)
        ]
    )


def unpack_mosaic(packed: torch.Tensor, patterns: str | Sequence[str]) -> torch.Tensor:
    """Packed planes ``(B, 4, h, w)`` (R, Gr, Gb, B) → mosaic ``(B, 2h, 2w)``."""
    xp = array_namespace(packed)
    return torch.stack(
        [
            merge_cfa(list(planes), pattern, xp)
            for planes, pattern in zip(packed, _patterns(patterns, packed.shape[0]), strict=True)
        ]
    )


def count_parameters(module: nn.Module) -> int:
    """Learned values of ``module`` (a shared parameter counts once)."""
    return sum(parameter.numel() for parameter in module.parameters())


def build(config: CycleISPConfig, *, with_raw2rgb: bool, seed: int = 0) -> nn.ModuleDict:
    """The networks ``rgb2raw`` (and ``raw2rgb``, ``ccm``), initialised from ``seed``.

    Initialisation runs on a forked torch RNG, so the global one is untouched.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        networks = nn.ModuleDict({"rgb2raw": RGB2RAW(config)})
        if with_raw2rgb:
            networks["raw2rgb"] = RAW2RGB(config)
            networks["ccm"] = CCM(config)
    return networks


def branch_parameter_counts(config: CycleISPConfig) -> dict[str, int]:
    """Parameters of each branch (RGB2RAW, RAW2RGB, CCM) for ``config`` (built on the
    meta device: shapes only, no memory or initialisation)."""
    with torch.device("meta"):
        networks = build(config, with_raw2rgb=True)
    return {name: count_parameters(network) for name, network in networks.items()}
