"""CSTPP's networks: the coefficient generator (a Conformer) and two discriminators.

**Generator** ``forward(x, direction, downsample=1) -> (mapped, coefficients)``, for
packed RAW ``x`` ``(N, 4, H, W)`` in [0, 1] of any size, ``direction`` 0 (A → B)
or 1 (B → A), ``downsample`` M ∈ {1, 2, 4, 8, 16}:

1. pad ``x`` at the bottom and right by edge replication to multiples of 32·M
   (replication works for any size, reflection needs the image larger than the pad);
2. shrink it by M with area averaging (``avg_pool2d``, M×M blocks: antialiased);
3. a Conformer (Peng et al. 2021) with these sizes (``published``): stem conv 7×7
   stride 2, 4 → 64, BN, ReLU, max-pool 3×3 stride 2 (the 1/4 map); a conv branch
   of ResNet bottlenecks (expansion 4) at 64 (1/4), 128 (1/8, stride 2) and 256
   (1/16, stride 2) channels; a transformer branch of 256-d tokens, one per 16×16
   patch of the shrunk image, from a patch conv (kernel = stride = 4 on the 1/4 map),
   6 pre-norm blocks (4 heads, MLP ratio 4, GELU, LayerNorm ε = 1e-6, biased qkv),
   no class token. Blocks 2..6 are Conformer's coupled blocks: a bottleneck; its
   middle feature enters the tokens through the conv → transformer bridge
   (1×1 conv, average-pool to the token grid, LayerNorm, GELU, added to the tokens);
   the block's tokens return through the transformer → conv bridge (1×1 conv, BN,
   ReLU, nearest upsampling) added inside a second bottleneck (the fusion block,
   before its 3×3 conv). Blocks are split in three equal groups over the three conv
   resolutions (published: 2 + 2 + 2). Batch norms use ε = 1e-6 (1e-5 in the stem),
   as Conformer's;
4. a final LayerNorm and the head, Linear 256 → 256 then Linear 256 → 56 (no
   activation between): 56 = 14 × 4 coefficients per token (row-major, element
   ``4k + c`` is ``T[k, c]``, rows in :data:`.polynomial.TERMS` order);
5. the coefficient maps upsampled bilinearly (``align_corners=True``) to the padded
   full-resolution size, cropped back to ``(H, W)``: ``coefficients``
   ``(N, H, W, 14, 4)``; ``mapped`` ``(N, 4, H, W)`` is
   :func:`.polynomial.apply_polynomial` of ``x`` with them (the paper's form, or
   the residual one for a generator built with ``residual=True``).

Padding to 32·M follows the authors (Conformer's conv branch ends at 1/32 after its
last fusion block); here nothing reads the conv branch after the last transformer
block, so the last coupled block stops at its bottleneck's middle feature (which
feeds the last bridge) and has no way back: Conformer's remaining layers there
(the bottleneck's 1×1 expansion and shortcut, the return bridge and the stride-2
fusion block, 203,200 parameters per direction in the published size) could not
change the output. The published generator has 5,588,928 parameters (both
directions), 1.4% below the paper's 5.67M; one direction (the shared weights, its
batch norms and its head) has 5,503,528, or 5,706,728 with those dead layers.

The two directions share every weight except the batch norms (paper: "except batch
normalization") and the head: each BatchNorm is a pair (``….0`` for A → B, ``….1``
for B → A), the heads are ``heads.0`` and ``heads.1``. LayerNorms are shared.

Initialisation: Conformer's (linear layers truncated-normal σ = 0.02 with zero
biases, convolutions Kaiming-normal fan-out, norms 1 and 0), except that the head's
last bias holds the identity coefficients of the chosen form (this project's
choice), so an untrained generator maps close to the identity.

**Discriminators** on packed RAW ``(N, 4, H, W)``, H and W at least 24: four 4×4
convolutions (``width``, 2, 4, 8 × ``width`` channels; strides 2, 2, 2, 1; instance
norm without affine parameters after all but the first; LeakyReLU 0.2) and a 4×4
convolution to one channel (padding 1 throughout).

* ``patchgan``: the 70×70 PatchGAN of Isola et al. (2017), as named by the paper,
  returns the logit map ``(N, 1, H/8 − 2, W/8 − 2)``;
* ``pooled``: the authors' released code, the same layers averaged over space to
  one logit per image, ``(N, 1)``.

``width`` ∈ [4, 512] (published 64).

Sources: "Generalizing ISP Model by Unsupervised Raw-to-raw Mapping" (CSTPP), ACM
Multimedia 2024; Z. Peng, W. Huang, S. Gu, L. Xie, Y. Wang, J. Jiao, Q. Ye,
"Conformer: Local Features Coupling Global Representations for Visual
Recognition", ICCV 2021; P. Isola, J.-Y. Zhu, T. Zhou, A. A. Efros,
"Image-to-Image Translation with Conditional Adversarial Networks", CVPR 2017
(PatchGAN).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import array_api_compat
import attrs
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ispengine.core.errors import InputError, ParamError
from plugins_builtin.cstpp.polynomial import (
    CHANNELS,
    TERMS,
    apply_polynomial,
    identity_coefficients,
)
from plugins_builtin.cstpp.shared import DOWNSAMPLE_FACTORS

#: Test-time and training-time downsampling factors M.
#: The padded input size is a multiple of this times M.
PAD_MULTIPLE = 32
DISCRIMINATOR_KINDS = ("patchgan", "pooled")
#: The smallest side a discriminator accepts.
DISCRIMINATOR_MIN_SIZE = 24
COEFFICIENTS = len(TERMS) * CHANNELS
EXPANSION = 4
PATCH = 4  # the patch conv's kernel and stride on the 1/4 map: 16×16 input pixels per token


def check_whole(name: str, value: Any, low: int, high: int) -> None:
    """Raise :class:`ParamError` unless ``value`` is an int in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ParamError(
            key=name, message=f"expected a whole number in [{low}, {high}], got {value!r}"
        )


def _whole(low: int, high: int) -> Any:
    """An attrs validator: :func:`check_whole` on the field."""
    return lambda instance, attribute, value: check_whole(attribute.name, value, low, high)


@attrs.frozen
class GeneratorConfig:
    """The size of a CSTPP generator (module docstring).

    Attributes:
        base_channels: the stem's and the first conv stage's channels (the later
            stages have 2× and 4×), a multiple of 4 in [4, 512].
        embed_dim: token size, [8, 2048], a multiple of ``heads``.
        depth: transformer blocks, a multiple of 3 in [3, 48].
        heads: attention heads, [1, 64].
        mlp_ratio: MLP hidden size / ``embed_dim``, (0, 16].
    """

    base_channels: int = attrs.field(default=64, validator=_whole(4, 512))
    embed_dim: int = attrs.field(default=256, validator=_whole(8, 2048))
    depth: int = attrs.field(default=6, validator=_whole(3, 48))
    heads: int = attrs.field(default=4, validator=_whole(1, 64))
    mlp_ratio: float = attrs.field(default=4.0, converter=float)

    def __attrs_post_init__(self) -> None:
        if self.base_channels % EXPANSION:
            raise ParamError(key="base_channels", message="expected a multiple of 4")
        if self.depth % 3:
            raise ParamError(key="depth", message=f"expected a multiple of 3, got {self.depth}")
        if self.embed_dim % self.heads:
            raise ParamError(
                key="embed_dim", message=f"{self.embed_dim} is not a multiple of {self.heads} heads"
            )
        if not 0.0 < self.mlp_ratio <= 16.0:
            raise ParamError(key="mlp_ratio", message=f"expected (0, 16], got {self.mlp_ratio}")


#: The published generator (5,588,928 parameters) and a CPU-sized one.
CONFIGS = {
    "published": GeneratorConfig(),
    "small": GeneratorConfig(base_channels=16, embed_dim=64, depth=3, heads=2, mlp_ratio=2.0),
}


class DirectionalBatchNorm(nn.ModuleList):
    """One BatchNorm2d per direction (``[0]``: A → B, ``[1]``: B → A)."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__([nn.BatchNorm2d(channels, eps=eps) for _ in range(2)])

    def forward(self, x: torch.Tensor, direction: int) -> torch.Tensor:
        return self[direction](x)


class Bottleneck(nn.Module):
    """A ResNet bottleneck of the conv branch: 1×1 (to ``out/4``), 3×3 (``stride``),
    1×1 (to ``out``), each with BN; ReLU; plus the input, through a 1×1 conv and BN
    when ``shortcut``. ``injected`` (the transformer → conv bridge) is added before
    the 3×3 conv. Returns ``(output, middle)``, middle = the ReLU after the 3×3 conv;
    with ``middle_only`` the block stops there and returns ``(None, middle)``."""

    def __init__(
        self,
        inplanes: int,
        outplanes: int,
        stride: int = 1,
        shortcut: bool = False,
        *,
        middle_only: bool = False,
    ) -> None:
        super().__init__()
        middle = outplanes // EXPANSION
        self.conv1 = nn.Conv2d(inplanes, middle, 1, bias=False)
        self.bn1 = DirectionalBatchNorm(middle)
        self.conv2 = nn.Conv2d(middle, middle, 3, stride=stride, padding=1, bias=False)
        self.bn2 = DirectionalBatchNorm(middle)
        self.middle_only = middle_only
        if middle_only:
            return
        self.conv3 = nn.Conv2d(middle, outplanes, 1, bias=False)
        self.bn3 = DirectionalBatchNorm(outplanes)
        self.shortcut_conv = (
            nn.Conv2d(inplanes, outplanes, 1, stride=stride, bias=False) if shortcut else None
        )
        self.shortcut_bn = DirectionalBatchNorm(outplanes) if shortcut else None

    def forward(
        self, x: torch.Tensor, direction: int, injected: torch.Tensor | None = None
    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        h = F.relu(self.bn1(self.conv1(x), direction))
        if injected is not None:
            h = h + injected
        middle = F.relu(self.bn2(self.conv2(h), direction))
        if self.middle_only:
            return None, middle
        out = self.bn3(self.conv3(middle), direction)
        if self.shortcut_conv is not None:
            x = self.shortcut_bn(self.shortcut_conv(x), direction)
        return F.relu(out + x), middle


class Attention(nn.Module):
    """Multi-head self-attention with a biased qkv projection."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, dim = x.shape
        qkv = self.qkv(x).reshape(batch, length, 3, self.heads, dim // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(batch, length, dim))


class TransformerBlock(nn.Module):
    """``x + Attn(LN(x))`` then ``x + MLP(LN(x))`` (MLP: Linear, GELU, Linear)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class ConvToTokens(nn.Module):
    """Conformer's conv → transformer bridge: 1×1 conv, average pool by ``stride``,
    LayerNorm, GELU; ``(N, C, H, W) -> (N, H·W/stride², dim)``."""

    def __init__(self, channels: int, dim: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.project = nn.Conv2d(channels, dim, 1)
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.project(x)
        if self.stride > 1:
            x = F.avg_pool2d(x, self.stride)
        return F.gelu(self.norm(x.flatten(2).transpose(1, 2)))


class TokensToConv(nn.Module):
    """Conformer's transformer → conv bridge: tokens on a ``(rows, cols)`` grid,
    1×1 conv, BN, ReLU, nearest upsampling by ``stride``."""

    def __init__(self, dim: int, channels: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.project = nn.Conv2d(dim, channels, 1)
        self.bn = DirectionalBatchNorm(channels)

    def forward(self, tokens: torch.Tensor, grid: tuple[int, int], direction: int) -> torch.Tensor:
        batch, _, dim = tokens.shape
        x = tokens.transpose(1, 2).reshape(batch, dim, *grid)
        x = F.relu(self.bn(self.project(x), direction))
        return F.interpolate(x, scale_factor=self.stride, mode="nearest") if self.stride > 1 else x


class CoupledBlock(nn.Module):
    """One of Conformer's conv-transformer blocks (module docstring); the ``last`` one
    has no way back to the conv branch."""

    def __init__(
        self,
        inplanes: int,
        outplanes: int,
        stride: int,
        token_stride: int,
        config: GeneratorConfig,
        *,
        last: bool = False,
    ) -> None:
        super().__init__()
        middle, dim = outplanes // EXPANSION, config.embed_dim
        shortcut = stride > 1 or inplanes != outplanes
        self.token_stride = token_stride
        self.conv = Bottleneck(inplanes, outplanes, stride, shortcut, middle_only=last)
        self.down = ConvToTokens(middle, dim, token_stride)
        self.block = TransformerBlock(dim, config.heads, config.mlp_ratio)
        self.up = None if last else TokensToConv(dim, middle, token_stride)
        self.fusion = None if last else Bottleneck(outplanes, outplanes)

    def forward(
        self, x: torch.Tensor, tokens: torch.Tensor, direction: int
    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        out, middle = self.conv(x, direction)
        tokens = self.block(tokens + self.down(middle))
        if self.up is None:
            return None, tokens
        grid = (middle.shape[-2] // self.token_stride, middle.shape[-1] // self.token_stride)
        injected = self.up(tokens, grid, direction)
        return self.fusion(out, direction, injected)[0], tokens


class CoefficientHead(nn.Module):
    """Linear ``dim → dim`` then Linear ``dim → 56`` (no activation between)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, dim)
        self.fc2 = nn.Linear(dim, COEFFICIENTS)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.fc1(tokens))


class CSTPPGenerator(nn.Module):
    """The coefficient generator of both directions (module docstring)."""

    def __init__(self, config: GeneratorConfig = CONFIGS["published"], residual: bool = False):
        super().__init__()
        self.config, self.residual = config, residual
        base, dim = config.base_channels, config.embed_dim
        self.stem = nn.Conv2d(CHANNELS, base, 7, stride=2, padding=3, bias=False)
        self.stem_bn = DirectionalBatchNorm(base, eps=1e-5)
        self.conv_1 = Bottleneck(base, base, 1, shortcut=True)
        self.patch = nn.Conv2d(base, dim, PATCH, stride=PATCH)
        self.block_1 = TransformerBlock(dim, config.heads, config.mlp_ratio)
        group = config.depth // 3
        blocks = []
        for index in range(1, config.depth):
            level = index // group  # 0, 1, 2: the 1/4, 1/8, 1/16 conv maps
            first = index % group == 0
            blocks.append(
                CoupledBlock(
                    base * 2 ** (level - 1 if first and level else level),
                    base * 2**level,
                    2 if first and level else 1,
                    PATCH // 2**level,
                    config,
                    last=index == config.depth - 1,
                )
            )
        self.blocks = nn.ModuleList(blocks)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.heads = nn.ModuleList(CoefficientHead(dim) for _ in range(2))
        self.apply(_init_weights)
        with torch.no_grad():
            identity = torch.as_tensor(identity_coefficients(residual).ravel())
            for head in self.heads:
                head.fc2.bias.copy_(identity)

    def tokens(self, x: torch.Tensor, direction: int) -> torch.Tensor:
        """The final tokens ``(N, H/16 · W/16, dim)`` of an image whose sides are
        multiples of 32, row-major over the token grid."""
        base = F.max_pool2d(F.relu(self.stem_bn(self.stem(x), direction)), 3, 2, 1)
        conv = self.conv_1(base, direction)[0]
        tokens = self.block_1(self.patch(base).flatten(2).transpose(1, 2))
        for block in self.blocks:
            conv, tokens = block(conv, tokens, direction)
        return self.norm(tokens)

    def forward(
        self, x: torch.Tensor, direction: int, downsample: int = 1
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mapped (N, 4, H, W), coefficients (N, H, W, 14, 4))`` (module docstring)."""
        if x.ndim != 4 or x.shape[1] != CHANNELS:
            raise InputError(f"cstpp: expected packed RAW (N, 4, H, W), got {tuple(x.shape)}")
        if direction not in (0, 1):
            raise ParamError(key="direction", message=f"expected 0 or 1, got {direction!r}")
        if downsample not in DOWNSAMPLE_FACTORS:
            raise ParamError(
                key="downsample",
                message=f"expected one of {', '.join(map(str, DOWNSAMPLE_FACTORS))}, "
                f"got {downsample!r}",
            )
        batch, _, height, width = x.shape
        multiple = PAD_MULTIPLE * downsample
        padded_height = -(-height // multiple) * multiple
        padded_width = -(-width // multiple) * multiple
        padded = F.pad(x, (0, padded_width - width, 0, padded_height - height), mode="replicate")
        small = F.avg_pool2d(padded, downsample) if downsample > 1 else padded
        grid = (small.shape[-2] // 16, small.shape[-1] // 16)
        raw = self.heads[direction](self.tokens(small, direction))
        maps = raw.transpose(1, 2).reshape(batch, COEFFICIENTS, *grid)
        maps = F.interpolate(
            maps, size=(padded_height, padded_width), mode="bilinear", align_corners=True
        )[..., :height, :width]
        coefficients = maps.reshape(batch, len(TERMS), CHANNELS, height, width)
        coefficients = coefficients.permute(0, 3, 4, 1, 2)
        pixels = x.permute(0, 2, 3, 1)
        xp = array_api_compat.array_namespace(pixels)
        mapped = apply_polynomial(pixels, coefficients, self.residual, xp)
        return mapped.permute(0, 3, 1, 2), coefficients


def _init_weights(module: nn.Module) -> None:
    """Conformer's initialisation (module docstring)."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Conv2d):
        nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
    elif isinstance(module, (nn.LayerNorm, nn.BatchNorm2d)):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class PatchDiscriminator(nn.Module):
    """The discriminators of the module docstring: a logit map, or its mean (``pooled``)."""

    def __init__(self, width: int = 64, pooled: bool = False) -> None:
        super().__init__()
        self.pooled = pooled
        widths = (CHANNELS, width, 2 * width, 4 * width, 8 * width)
        layers: list[nn.Module] = []
        for index in range(4):
            stride = 2 if index < 3 else 1
            layers.append(nn.Conv2d(widths[index], widths[index + 1], 4, stride, 1))
            if index:
                layers.append(nn.InstanceNorm2d(widths[index + 1]))
            layers.append(nn.LeakyReLU(0.2))
        layers.append(nn.Conv2d(widths[-1], 1, 4, 1, 1))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != CHANNELS or min(x.shape[-2:]) < DISCRIMINATOR_MIN_SIZE:
            raise InputError(
                f"cstpp discriminator: expected packed RAW (N, 4, H, W) with H, W >= "
                f"{DISCRIMINATOR_MIN_SIZE}, got {tuple(x.shape)}"
            )
        logits = self.layers(x)
        return logits.mean(dim=(2, 3)) if self.pooled else logits


def _seeded(seed: int | None, make: Any) -> Any:
    if seed is None:
        return make()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return make()


def build_generator(
    config: str | GeneratorConfig = "published", seed: int | None = None, *, residual: bool = False
) -> CSTPPGenerator:
    """A fresh generator of a named (:data:`CONFIGS`) or given size; its initial
    weights depend only on ``seed`` when one is given (else on torch's global RNG)."""
    if isinstance(config, str):
        if config not in CONFIGS:
            raise ParamError(
                key="config", message=f"expected one of {', '.join(CONFIGS)}, got {config!r}"
            )
        config = CONFIGS[config]
    return _seeded(seed, lambda: CSTPPGenerator(config, residual))


def build_discriminator(
    kind: str = "patchgan", width: int = 64, seed: int | None = None
) -> PatchDiscriminator:
    """A fresh discriminator of ``kind`` (:data:`DISCRIMINATOR_KINDS`) and ``width``."""
    if kind not in DISCRIMINATOR_KINDS:
        raise ParamError(
            key="kind", message=f"expected one of {', '.join(DISCRIMINATOR_KINDS)}, got {kind!r}"
        )
    check_whole("width", width, 4, 512)
    return _seeded(seed, lambda: PatchDiscriminator(width, pooled=kind == "pooled"))


def count_parameters(module: nn.Module) -> int:
    """Trainable parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


PREFIX = "generator."


def generator_state(generator: CSTPPGenerator) -> dict[str, torch.Tensor]:
    """The generator's state dict under ``generator.<name>`` (the saved layout)."""
    return {PREFIX + k: v.detach().cpu() for k, v in generator.state_dict().items()}


def load_generator_state(
    generator: CSTPPGenerator, state: Mapping[str, Any], source: str
) -> CSTPPGenerator:
    """Load ``generator.<name>`` arrays (numpy or torch) into ``generator``; a one-line
    :class:`InputError` naming ``source`` for missing, unexpected, mis-shaped or
    non-finite arrays."""
    from ispengine.learning.weights import checked_state

    expected = {PREFIX + k: v for k, v in generator.state_dict().items()}
    arrays = checked_state(
        state, expected, source, hint="another config?", missing_detail="another config?"
    )
    bad = next((k for k, v in arrays.items() if not np.all(np.isfinite(v))), None)
    if bad is not None:
        raise InputError(f"{source}: '{bad}' holds NaN or infinite values")
    generator.load_state_dict(
        {
            k.removeprefix(PREFIX): torch.from_numpy(np.array(v)).to(expected[k].dtype)
            for k, v in arrays.items()
        }
    )
    return generator
