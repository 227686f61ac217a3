"""SSDNet in torch: a Restormer-style reverse ISP (sRGB → packed RAW) with an error branch.

Sources:

* B. Zou, Y. Zhang, "Learned Reverse ISP with Soft Supervision", ECCV 2022
  workshops (AIM 2022 reverse-ISP challenge), Sec. 3 (network: the context
  fusion module, CFM, Sec. 3.1; the soft-supervision error branch, Sec. 3.2).
  Where the authors' released code differs from the paper text, this module
  follows the released code (its checkpoint layout is reproduced name for name).
* S. W. Zamir et al., "Restormer: Efficient Transformer for High-Resolution
  Image Restoration", CVPR 2022 (the backbone: 4-level U-Net of transformer
  blocks, transposed attention MDTA, gated feed-forward GDFN, bias-free layer
  norm). This is an independent rewrite.

Building blocks (``C`` channels, ``h`` heads; every conv has no bias and
padding ``k // 2`` except where stated):

* **Bias-free layer norm** (``norm1``, ``norm2``), per pixel over channels:
  ``y = x / sqrt(var_c(x) + 1e-5) · γ`` (population variance, no mean
  subtraction, no shift). It is invariant to a positive rescaling of ``x``.
* **CFM block**: ``x ← x + attn(norm1(x))``; ``x ← x + ffn(norm2(x))``.
* **Enhanced MDTA** (``attn``) on the normed input ``x``:
  ``q, k, v = split(dwconv3x3(conv1x1(x)))`` (``qkv``: C→3C, ``qkv_dwconv``);
  conv branch ``b = dwconv7x7(x)`` (``bigk.bigk``, the only conv with a bias);
  channel interaction ``w_c = σ(W₂ GELU(W₁ avgpool(b)))`` (``conv2atten.conv_du``,
  1×1 C→C convs), ``v ← v · w_c`` per channel; per head ``q, k`` are
  L2-normalised over the pixels and
  ``A = softmax(temperature · q̂ k̂ᵀ)`` is a (C/h × C/h) "transposed" attention
  (``temperature`` learnable, shape (h, 1, 1), initialised to 1);
  ``o = A v`` back to (N, C, H, W); spatial interaction
  ``w_s = σ(W₄ GELU(W₃ o))`` (``atten2conv``, 1×1 C→C convs), ``b ← b · w_s``;
  output ``project_out([b, o])`` (1×1, 2C→C; the conv branch comes first in
  the concatenation, as in the released code).
* **GDFN** (``ffn``), hidden ``m = int(C · 2.66)``:
  ``[a, b] = split(dwconv3x3(conv1x1(x)))`` (``project_in`` C→2m, ``dwconv``);
  ``project_out(GELU(a) · b)`` (1×1 m→C). At C = 48, 96, 192, 384: m = 127,
  255, 510, 1021.

Network (width ``w``, published 48; heads (1, 2, 4, 8)):

``pack_fist`` conv3×3 3→3 on the sRGB input ``I`` → ``patch_embed.proj`` conv3×3
3→w → ``encoder_level1`` (4 blocks, w) → ``down1_2`` (conv3×3 w→w/2, pixel
unshuffle ×2 → 2w) → ``encoder_level2`` (6, 2w) → ``down2_3`` → ``encoder_level3``
(6, 4w) → ``down3_4`` → ``latent`` (8, 8w) → ``up4_3`` (conv3×3 8w→16w, pixel
shuffle → 4w), concat encoder 3 → ``reduce_chan_level3`` 1×1 8w→4w →
``decoder_level3`` (6, 4w) → ``up3_2``, concat encoder 2, ``reduce_chan_level2`` →
``decoder_level2`` (6, 2w) → ``up2_1``, concat encoder 1 (2w, no reduction) →
``decoder_level1`` (4, 2w) → ``refinement`` (4, 2w) → ``refinement_2`` (conv3×3
2w→3, GELU); the refined RGB is ``R = refinement_2(…) + I``. The RAW head ``out``
(conv3×3 3→1, pixel unshuffle ×2) maps ``R`` to the packed RAW (N, 4, H/2, W/2).
The error branch ``sigma`` (conv3×3 3→2w, GELU, 4 blocks at 2w with heads[0],
conv3×3 2w→1, pixel unshuffle ×2) maps ``R`` to the predicted per-pixel error
``e ≈ |x − x_gt|`` of the packed RAW (the soft supervision). Neither output is
clamped here (the authors clamp both to [0, 1] at inference).

Parameter counts (:func:`count_parameters`):

* published: 35,563,936 without the error branch, 36,241,628 with it
  (error branch 677,692; the authors report ≈35.56M / ≈36.24M); the state dict
  holds 734 tensors with the error branch, 672 without;
* small (width 8, one block per stage, heads (1, 1, 2, 2)): 254,081 without,
  260,998 with the error branch.

Ranges (:class:`SSDNetConfig`, checked on construction, :class:`ParamError`
otherwise): width even in [2, 512]; every block count in [1, 32]; heads ≥ 1
and dividing their level's channels (w, 2w, 4w, 8w; decoder level 1,
refinement and the error branch use heads[0] at 2w); ffn_expansion in
(0, 8] with ``int(w · ffn_expansion) ≥ 1``.

Any even H, W is accepted: the input is padded (replicate, right/bottom) to a
multiple of 16 and the outputs are cropped back to (H/2, W/2).
"""

from __future__ import annotations

import numbers
from typing import Any

import attrs
import torch
from torch import nn
from torch.nn import functional as F

from ispengine.core.errors import InputError, ParamError

#: The RGB size must be a multiple of this (3 downsamplings ×2, then the final unshuffle).
SIZE_MULTIPLE = 16
LEVELS = 4
MAX_BLOCKS = 32


def _as_tuple(value: Any) -> Any:
    """Lists become tuples (hashable, frozen); anything else is left for validation."""
    return tuple(value) if isinstance(value, list) else value


def _is_whole(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


@attrs.frozen
class SSDNetConfig:
    """Widths and depths of an SSDNet.

    Attributes:
        width: channels of level 1 (published 48); level ``l`` has ``width · 2^(l-1)``.
        blocks: CFM blocks of encoder levels 1-3 and the latent (4, 6, 6, 8);
            decoder levels 3 and 2 reuse ``blocks[2]`` and ``blocks[1]``.
        decoder_level1: blocks of decoder level 1 (4), at ``2 · width``.
        refinement: refinement blocks (4), at ``2 · width``.
        heads: attention heads per level (1, 2, 4, 8).
        ffn_expansion: GDFN hidden ratio (2.66): hidden = ``int(C · ffn_expansion)``.
        error_blocks: blocks of the error branch (4), at ``2 · width`` with ``heads[0]``.
    """

    width: int = 48
    blocks: tuple[int, int, int, int] = attrs.field(default=(4, 6, 6, 8), converter=_as_tuple)
    decoder_level1: int = 4
    refinement: int = 4
    heads: tuple[int, int, int, int] = attrs.field(default=(1, 2, 4, 8), converter=_as_tuple)
    ffn_expansion: float = 2.66
    error_blocks: int = 4

    def __attrs_post_init__(self) -> None:
        width = self.width
        if not _is_whole(width) or not 2 <= width <= 512 or width % 2:
            raise ParamError(
                key="width", message=f"expected an even number in [2, 512], got {width!r}"
            )
        for key, value in (("blocks", self.blocks), ("heads", self.heads)):
            if not isinstance(value, tuple) or len(value) != LEVELS:
                raise ParamError(key=key, message=f"expected {LEVELS} whole numbers, got {value!r}")
        counts = [(f"blocks[{i}]", n) for i, n in enumerate(self.blocks)]
        counts += [
            ("decoder_level1", self.decoder_level1),
            ("refinement", self.refinement),
            ("error_blocks", self.error_blocks),
        ]
        for key, value in counts:
            if not _is_whole(value) or not 1 <= value <= MAX_BLOCKS:
                raise ParamError(
                    key=key, message=f"expected a whole number in [1, {MAX_BLOCKS}], got {value!r}"
                )
        for level, heads in enumerate(self.heads):
            channels = width * 2**level
            if not _is_whole(heads) or heads < 1 or channels % heads:
                raise ParamError(
                    key=f"heads[{level}]",
                    message=f"expected a whole number ≥ 1 dividing {channels} channels, "
                    f"got {heads!r}",
                )
        expansion = self.ffn_expansion
        if (
            isinstance(expansion, bool)
            or not isinstance(expansion, numbers.Real)
            or not 0.0 < float(expansion) <= 8.0
            or int(width * float(expansion)) < 1
        ):
            raise ParamError(
                key="ffn_expansion",
                message=f"expected a number in (0, 8] with width · ffn_expansion ≥ 1, "
                f"got {expansion!r}",
            )


#: The published network (36,241,628 parameters with the error branch) and a CPU-sized one.
CONFIGS: dict[str, SSDNetConfig] = {
    "published": SSDNetConfig(),
    "small": SSDNetConfig(
        width=8,
        blocks=(1, 1, 1, 1),
        decoder_level1=1,
        refinement=1,
        heads=(1, 1, 2, 2),
        error_blocks=1,
    ),
}


def conv(
    in_channels: int, out_channels: int, kernel: int, *, groups: int = 1, bias: bool = False
) -> nn.Conv2d:
    """A stride-1 convolution keeping the size (padding ``kernel // 2``), bias-free by default."""
    return nn.Conv2d(
        in_channels, out_channels, kernel, padding=kernel // 2, groups=groups, bias=bias
    )


class BiasFreeLayerNorm(nn.Module):
    """``x / sqrt(var(x) + 1e-5) · γ`` over the last axis (population variance, no mean removed)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        variance = x.var(dim=-1, keepdim=True, unbiased=False)
        return x * torch.rsqrt(variance + 1e-5) * self.weight


class ChannelNorm(nn.Module):
    """The bias-free layer norm applied per pixel over the channels of (N, C, H, W)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = BiasFreeLayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.movedim(1, -1)).movedim(-1, 1)


class LargeKernelBranch(nn.Module):
    """The conv branch of the CFM: a depth-wise 7×7 convolution with bias."""

    def __init__(self, channels: int, kernel: int = 7) -> None:
        super().__init__()
        self.bigk = conv(channels, channels, kernel, groups=channels, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bigk(x)


def _gate(channels: int) -> nn.Sequential:
    """``σ(W₂ GELU(W₁ x))`` with bias-free 1×1 convs C→C (indices 0 and 2)."""
    return nn.Sequential(
        conv(channels, channels, 1), nn.GELU(), conv(channels, channels, 1), nn.Sigmoid()
    )


class ChannelInteraction(nn.Module):
    """``w_c = σ(W₂ GELU(W₁ avgpool(b)))``: one weight per channel, shape (N, C, 1, 1)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv_du = _gate(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_du(x.mean(dim=(2, 3), keepdim=True))


class ContextFusionAttention(nn.Module):
    """Enhanced MDTA: transposed attention fused with a 7×7 conv branch both ways."""

    def __init__(self, channels: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.qkv = conv(channels, 3 * channels, 1)
        self.qkv_dwconv = conv(3 * channels, 3 * channels, 3, groups=3 * channels)
        self.bigk = LargeKernelBranch(channels)
        self.conv2atten = ChannelInteraction(channels)
        self.atten2conv = _gate(channels)
        self.project_out = conv(2 * channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        branch = self.bigk(x)
        q, k, v = self.qkv_dwconv(self.qkv(x)).chunk(3, dim=1)
        v = v * self.conv2atten(branch)
        q, k, v = (t.reshape(n, self.heads, c // self.heads, h * w) for t in (q, k, v))
        q = F.normalize(q, dim=-1)
        k = F.normalize(k, dim=-1)
        attention = (q @ k.transpose(-2, -1) * self.temperature).softmax(dim=-1)
        out = (attention @ v).reshape(n, c, h, w)
        branch = branch * self.atten2conv(out)
        return self.project_out(torch.cat([branch, out], dim=1))


class GatedFeedForward(nn.Module):
    """GDFN: ``project_out(GELU(a) · b)`` with ``[a, b] = dwconv3x3(project_in(x))``."""

    def __init__(self, channels: int, expansion: float) -> None:
        super().__init__()
        hidden = int(channels * expansion)
        self.project_in = conv(channels, 2 * hidden, 1)
        self.dwconv = conv(2 * hidden, 2 * hidden, 3, groups=2 * hidden)
        self.project_out = conv(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.dwconv(self.project_in(x)).chunk(2, dim=1)
        return self.project_out(F.gelu(a) * b)


class CFMBlock(nn.Module):
    """``x + attn(norm1(x))``, then ``x + ffn(norm2(x))``."""

    def __init__(self, channels: int, heads: int, expansion: float) -> None:
        super().__init__()
        self.norm1 = ChannelNorm(channels)
        self.attn = ContextFusionAttention(channels, heads)
        self.norm2 = ChannelNorm(channels)
        self.ffn = GatedFeedForward(channels, expansion)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


def _blocks(count: int, channels: int, heads: int, expansion: float) -> list[nn.Module]:
    return [CFMBlock(channels, heads, expansion) for _ in range(count)]


class Resample(nn.Module):
    """``body`` = conv3×3 then pixel (un)shuffle ×2: down halves the size and doubles C,
    up doubles the size and halves C."""

    def __init__(self, channels: int, down: bool) -> None:
        super().__init__()
        if down:
            self.body = nn.Sequential(conv(channels, channels // 2, 3), nn.PixelUnshuffle(2))
        else:
            self.body = nn.Sequential(conv(channels, 2 * channels, 3), nn.PixelShuffle(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class OverlapPatchEmbed(nn.Module):
    """``proj``: conv3×3 3→width."""

    def __init__(self, in_channels: int, width: int) -> None:
        super().__init__()
        self.proj = conv(in_channels, width, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class SSDNet(nn.Module):
    """sRGB (N, 3, H, W) → packed RAW (N, 4, H/2, W/2) and, optionally, its predicted error.

    Module names reproduce the authors' checkpoint layout (see the module docstring).
    """

    def __init__(
        self, config: SSDNetConfig = CONFIGS["published"], with_error: bool = True
    ) -> None:
        super().__init__()
        self.config = config
        w, e = config.width, config.ffn_expansion
        h1, h2, h3, h4 = config.heads
        b1, b2, b3, b4 = config.blocks
        self.pack_fist = conv(3, 3, 3)
        self.patch_embed = OverlapPatchEmbed(3, w)
        self.encoder_level1 = nn.Sequential(*_blocks(b1, w, h1, e))
        self.down1_2 = Resample(w, down=True)
        self.encoder_level2 = nn.Sequential(*_blocks(b2, 2 * w, h2, e))
        self.down2_3 = Resample(2 * w, down=True)
        self.encoder_level3 = nn.Sequential(*_blocks(b3, 4 * w, h3, e))
        self.down3_4 = Resample(4 * w, down=True)
        self.latent = nn.Sequential(*_blocks(b4, 8 * w, h4, e))
        self.up4_3 = Resample(8 * w, down=False)
        self.reduce_chan_level3 = conv(8 * w, 4 * w, 1)
        self.decoder_level3 = nn.Sequential(*_blocks(b3, 4 * w, h3, e))
        self.up3_2 = Resample(4 * w, down=False)
        self.reduce_chan_level2 = conv(4 * w, 2 * w, 1)
        self.decoder_level2 = nn.Sequential(*_blocks(b2, 2 * w, h2, e))
        self.up2_1 = Resample(2 * w, down=False)
        self.decoder_level1 = nn.Sequential(*_blocks(config.decoder_level1, 2 * w, h1, e))
        self.refinement = nn.Sequential(*_blocks(config.refinement, 2 * w, h1, e))
        self.refinement_2 = nn.Sequential(conv(2 * w, 3, 3), nn.GELU())
        self.sigma: nn.Sequential | None = None
        if with_error:
            self.sigma = nn.Sequential(
                conv(3, 2 * w, 3),
                nn.GELU(),
                *_blocks(config.error_blocks, 2 * w, h1, e),
                conv(2 * w, 1, 3),
                nn.PixelUnshuffle(2),
            )
        self.out = nn.Sequential(conv(3, 1, 3), nn.PixelUnshuffle(2))

    @property
    def with_error(self) -> bool:
        """Whether the network has the error (soft-supervision) branch."""
        return self.sigma is not None

    def refined_rgb(self, rgb: torch.Tensor) -> torch.Tensor:
        """The U-Net's refined RGB ``refinement_2(…) + rgb``; H, W must be multiples of 16."""
        enc1 = self.encoder_level1(self.patch_embed(self.pack_fist(rgb)))
        enc2 = self.encoder_level2(self.down1_2(enc1))
        enc3 = self.encoder_level3(self.down2_3(enc2))
        x = self.latent(self.down3_4(enc3))
        x = self.reduce_chan_level3(torch.cat([self.up4_3(x), enc3], dim=1))
        x = self.decoder_level3(x)
        x = self.reduce_chan_level2(torch.cat([self.up3_2(x), enc2], dim=1))
        x = self.decoder_level2(x)
        x = self.decoder_level1(torch.cat([self.up2_1(x), enc1], dim=1))
        x = self.refinement(x)
        return self.refinement_2(x) + rgb

    def forward(self, rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Packed RAW (N, 4, H/2, W/2), not clamped, and the predicted error (or ``None``).

        Raises:
            InputError: ``rgb`` is not (N, 3, H, W) with even H and W.
        """
        if rgb.ndim != 4 or rgb.shape[1] != 3:
            raise InputError(f"SSDNet: expected an sRGB batch (N, 3, H, W), got {tuple(rgb.shape)}")
        height, width = rgb.shape[-2:]
        if height % 2 or width % 2:
            raise InputError(f"SSDNet: height and width must be even, got {height}×{width}")
        pad_h = -height % SIZE_MULTIPLE
        pad_w = -width % SIZE_MULTIPLE
        if pad_h or pad_w:
            rgb = F.pad(rgb, (0, pad_w, 0, pad_h), mode="replicate")
        refined = self.refined_rgb(rgb)
        crop = (..., slice(0, height // 2), slice(0, width // 2))
        raw = self.out(refined)[crop]
        error = self.sigma(refined)[crop] if self.sigma is not None else None
        return raw, error


def build(config: SSDNetConfig, seed: int = 0, with_error: bool = True) -> SSDNet:
    """A fresh network whose random initial weights depend only on ``seed``
    (the global RNG state is left untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return SSDNet(config, with_error=with_error)


def count_parameters(module: nn.Module) -> int:
    """Trainable parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


__all__ = [
    "CONFIGS",
    "SIZE_MULTIPLE",
    "SSDNet",
    "SSDNetConfig",
    "build",
    "count_parameters",
]
