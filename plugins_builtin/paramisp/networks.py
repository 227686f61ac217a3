"""ParamISP's learned networks: ParamNet, LocalNet, GlobalNet and one ISP direction.

One direction (:class:`ParamISPNet`) maps a 3-channel image to a 3-channel image:

* ``forward``: x = the canonical linear sRGB image (CanoNet output), y = LocalNet then
  GlobalNet, an sRGB estimate;
* ``inverse``: x = an sRGB image, y = GlobalNet then LocalNet, the linear image that
  the inverse CanoNet turns into a RAW mosaic.

Both sub-nets read the 96-channel feature map of :mod:`.features` and are
conditioned on z, ParamNet's 64-d embedding of the camera parameters.

**ParamNet.** ``z = MLP( Σ_p L_p(d_p · e(x_p)) + L_c([wb, 1/wb, vec M, vec M⁻¹]) )``
with e the 15-d equalisation (:mod:`.encoding`), one Linear(15→64) L_p per
optical parameter p, Linear(24→64) L_c on the colour vector (matrices row-major),
and MLP = [ELU, Linear 64→64] × 3 (the last initialised xavier-normal, gain 0.1).
d_p ∈ {0, 1} drops a parameter: during training each optical parameter of each
image is dropped with probability ``dropout``, drawn independently per image and
parameter at every call (the paper drops the equalised vector "at each training
iteration"; the authors' released code draws such a mask but never applies it),
so a dropped parameter contributes only L_p's bias. An unknown (NaN) value or a
parameter left out of ``optical`` is always dropped, exactly like a training drop.

**LocalNet.** A 2-scale U-Net: ``h = conv3×3(F) + Linear(z)`` (z broadcast over
space), encoder 2 × (2 blocks, conv 2×2 stride 2), bottleneck 2 blocks, decoder
2 × (transposed conv 2×2 stride 2, add skip, 2 blocks), ``y = x + conv3×3(h)``.
Block: ``h + SA(CA(conv3×3(ELU(conv3×3(h)))))`` with CBAM channel attention
CA (shared 1×1 convs on the average- and max-pooled map, ELU, sigmoid) and
spatial attention SA (7×7 conv on the channel mean and max, sigmoid). 3×3 and
7×7 convs pad by replication. H and W are padded to multiples of 4 and
cropped back.

**GlobalNet.** ``g = mean(3 × [maxpool2(ELU(conv3×3 stride 2, no padding))](F)) +
ELU(Linear(z))``; for each stage s of 4:
``w = g + ELU(Linear(onehot(s)))``, ``w = ELU(Linear(w))`` twice,
``w = ELU(Linear_s(w))`` (39 values), then per pixel

    y ← y + W φ(y),  φ = [r², rg, rb, r, g², gb, g, b², b, 1],  W[c, k] = w[3k + c]
    y_c ← ((t1 y_c + t0)^γ − t0^γ) / ((t1 + t0)^γ − t0^γ),
    γ = exp(w[30 + c]),  t0 = |w[33 + c]|,  t1 = exp(w[36 + c])

with powers ``sign(v)(|v| + 1e-12)^γ``. The feature map is padded by
replication to the smallest size the three unpadded stride-2 convolutions and
pools accept (85 px for the published net); the curve itself is per pixel.

Facts from the authors' released code where the paper is silent or differs:
channel and coefficient orders above (the paper lists φ as
``[r², g², b², rg, gb, br, r, g, b, 1]``), the ELU after the last GlobalNet layer,
the residual quadratic stage, the order of the decoder's blocks (the lowest scale
uses the last two), the unactivated Linear(z) added after LocalNet's head, the
initialisations, and the module names (theirs, except that ParamNet sits under
``paramnet.`` and the z injections inside the sub-nets; :mod:`.checkpoint` maps
them).

Source: W. Kim, G. Kim, J. Lee, S. Lee, S.-H. Baek, S. Cho, "ParamISP: Learned Forward
and Inverse ISPs using Camera Parameters", CVPR 2024, §3.1 (ParamNet, Fig. 3, and its
random dropout), §3.2 (LocalNet and GlobalNet, Fig. 4, eqs. 1-3), §3.3 (the inverse
order); S. Woo et al., "CBAM: Convolutional Block Attention Module", ECCV 2018.
"""

from __future__ import annotations

from typing import Any

import attrs
import torch
import torch.nn.functional as F
from torch import nn

from ispengine.core.errors import InputError, ParamError
from plugins_builtin.paramisp.camera_tensors import CameraTensors
from plugins_builtin.paramisp.encoding import (
    ENCODING_SIZE,
    OPTICAL_NAMES,
    equalise,
    plain,
)
from plugins_builtin.paramisp.features import (
    FEATURE_CHANNELS,
    MASKS,
    feature_map,
    overexposure_mask,
)

#: Module name of each optical parameter's Linear in ParamNet (the authors' names).
EMBED_NAMES: dict[str, str] = {
    "focal_length": "embed_focallen",
    "f_number": "embed_aperture",
    "exposure_time": "embed_expstime",
    "iso": "embed_senstvty",
}

#: Length of ParamNet's colour vector ``[wb, 1/wb, vec M, vec M⁻¹]``.
COLOUR_SIZE = 24

#: Coefficients GlobalNet predicts per stage: a 10×3 quadratic map and 3×3 curve values.
TONE_COEFFICIENTS = 39

DIRECTIONS = ("forward", "inverse")


@attrs.frozen
class NetConfig:
    """Sizes of one ParamISP direction.

    Attributes:
        channels: feature channels of LocalNet and GlobalNet (published: 64).
        embed_channels: size of ParamNet's embedding z (published: 64).
        local_blocks: residual blocks per U-Net level (published: 2).
        local_scales: U-Net down-sampling steps (published: 2).
        reduction: channel reduction inside a block and its channel attention (2).
        global_convs: stride-2 convolutions of GlobalNet (published: 3).
        global_fcs: GlobalNet's fully connected layers before each stage's last (3,
            i.e. 2 shared hidden layers).
        global_stages: tone-mapping stages (published: 4).
    """

    channels: int = attrs.field(default=64, validator=attrs.validators.ge(2))
    embed_channels: int = attrs.field(default=64, validator=attrs.validators.ge(1))
    local_blocks: int = attrs.field(default=2, validator=attrs.validators.ge(1))
    local_scales: int = attrs.field(default=2, validator=attrs.validators.ge(0))
    reduction: int = attrs.field(default=2, validator=attrs.validators.ge(1))
    global_convs: int = attrs.field(default=3, validator=attrs.validators.ge(1))
    global_fcs: int = attrs.field(default=3, validator=attrs.validators.ge(1))
    global_stages: int = attrs.field(default=4, validator=attrs.validators.ge(1))

    @property
    def global_min_size(self) -> int:
        """Smallest side GlobalNet's convolutions and pools accept (85 for 3 convs)."""
        size = 1
        for _ in range(self.global_convs):
            size = 4 * size + 1  # the pool needs 2·size; a 3×3 stride-2 conv gives n from 2n+1
        return size

    @property
    def local_multiple(self) -> int:
        """LocalNet's sides must be multiples of this (4 for 2 scales)."""
        return 2**self.local_scales


#: Named configurations: ``published`` (≈0.71M parameters per direction), ``small``
#: (cheap, for tests and quick benchmarks).
CONFIGS: dict[str, NetConfig] = {
    "published": NetConfig(),
    "small": NetConfig(channels=16, embed_channels=16),
}


def resolve_config(config: str | NetConfig) -> NetConfig:
    """A :class:`NetConfig` from itself or its name in :data:`CONFIGS`."""
    if isinstance(config, NetConfig):
        return config
    if config not in CONFIGS:
        raise ParamError(
            key="config", message=f"unknown {config!r} (known: {', '.join(sorted(CONFIGS))})"
        )
    return CONFIGS[config]


def _xavier(module: nn.Module, gain: float = 1.0) -> nn.Module:
    nn.init.xavier_normal_(module.weight, gain)
    return module


def _linear(n_in: int, n_out: int, gain: float = 1.0) -> nn.Linear:
    return _xavier(nn.Linear(n_in, n_out), gain)


def _conv(n_in: int, n_out: int, kernel: int, *, gain: float = 1.0, **kwargs: Any) -> nn.Conv2d:
    if "stride" not in kwargs:
        kwargs = {"padding": kernel // 2, "padding_mode": "replicate", **kwargs}
    return _xavier(nn.Conv2d(n_in, n_out, kernel, **kwargs), gain)


class ParamNet(nn.Module):
    """Camera parameters -> embedding z ``(N, embed_channels)``.

    Args:
        channels: size of z.
        equalise: feed each optical parameter as its 15-d equalisation (True) or as
            the single value ``x/MAX`` (False, the paper's ablation).
        dropout: probability of dropping each optical parameter of each image while
            training, in [0, 1).
        optical: the optical parameters used; the others are always dropped.
    """

    def __init__(
        self,
        channels: int = 64,
        *,
        equalise: bool = True,
        dropout: float = 0.2,
        optical: tuple[str, ...] = OPTICAL_NAMES,
    ) -> None:
        super().__init__()
        unknown = sorted(set(optical) - set(OPTICAL_NAMES))
        if unknown:
            raise ParamError(
                key="optical",
                message=f"unknown parameter {unknown[0]!r} (known: {', '.join(OPTICAL_NAMES)})",
            )
        if not 0.0 <= dropout < 1.0:
            raise ParamError(key="dropout", message=f"{dropout:g} is outside [0, 1)")
        self.equalise = equalise
        self.dropout = float(dropout)
        self.optical = tuple(name for name in OPTICAL_NAMES if name in optical)
        size = ENCODING_SIZE if equalise else 1
        self.embed_color = _linear(COLOUR_SIZE, channels)
        for name in OPTICAL_NAMES:
            setattr(self, EMBED_NAMES[name], _linear(size, channels))
        self.embednet = nn.Sequential(
            nn.ELU(),
            _linear(channels, channels),
            nn.ELU(),
            _linear(channels, channels),
            nn.ELU(),
            _linear(channels, channels, gain=0.1),
        )

    @staticmethod
    def colour_vector(wb: torch.Tensor, ccm: torch.Tensor) -> torch.Tensor:
        """``[wb, 1/wb, vec M, vec M⁻¹]`` ``(N, 24)``, matrices flattened row by row."""
        return torch.cat([wb, 1.0 / wb, ccm.flatten(-2), torch.linalg.inv(ccm).flatten(-2)], dim=-1)

    def encodings(self, optical: torch.Tensor) -> list[torch.Tensor]:
        """Each parameter's (possibly dropped) encoding ``(N, 15)`` (or ``(N, 1)``).

        Dropped (training draw, unknown value, or left out of ``optical``) = zeros.
        """
        keep = ~torch.isnan(optical)
        if self.training and self.dropout > 0:
            keep = keep & (torch.rand_like(optical) >= self.dropout)
        values = torch.where(keep, optical, torch.ones_like(optical))
        encode = equalise if self.equalise else plain
        out = []
        for index, name in enumerate(OPTICAL_NAMES):
            code = encode(values[:, index], name)
            used = keep[:, index : index + 1] & (name in self.optical)
            out.append(torch.where(used, code, torch.zeros_like(code)))
        return out

    def forward(self, camera: CameraTensors) -> torch.Tensor:
        h = self.embed_color(self.colour_vector(camera.wb, camera.ccm))
        for name, code in zip(OPTICAL_NAMES, self.encodings(camera.optical), strict=True):
            h = h + getattr(self, EMBED_NAMES[name])(code)
        return self.embednet(h)


class ChannelAttention(nn.Module):
    """CBAM channel attention: ``x · σ(C2(ELU(C1(avg x))) + C2(ELU(C1(max x))))``."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        self.conv1 = _xavier(nn.Conv2d(channels, channels // reduction, 1))
        self.conv2 = _xavier(nn.Conv2d(channels // reduction, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        def mlp(v: torch.Tensor) -> torch.Tensor:
            return self.conv2(F.elu(self.conv1(v)))

        avg = x.mean(dim=(-2, -1), keepdim=True)
        peak = x.amax(dim=(-2, -1), keepdim=True)
        return x * torch.sigmoid(mlp(avg) + mlp(peak))


class SpatialAttention(nn.Module):
    """CBAM spatial attention: ``x · σ(conv7×7([mean_c x, max_c x]))`` (replicate padding)."""

    def __init__(self, kernel: int = 7) -> None:
        super().__init__()
        self.conv = _conv(2, 1, kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stats = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(stats))


class LocalBlock(nn.Module):
    """Residual block ``h + SA(CA(conv2(ELU(conv1(h)))))``."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        self.conv1 = _conv(channels, channels // reduction, 3)
        self.conv2 = _conv(channels // reduction, channels, 3)
        self.chattn = ChannelAttention(channels, reduction)
        self.spattn = SpatialAttention()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.spattn(self.chattn(self.conv2(F.elu(self.conv1(x)))))


class LocalNet(nn.Module):
    """The U-Net of local corrections, ``y = x + U(F, z)`` (see the module docstring).

    ``fc_head`` (the z injection) exists when ``embed_channels`` is given.
    """

    def __init__(self, config: NetConfig, embed_channels: int | None) -> None:
        super().__init__()
        c, scales, blocks = config.channels, config.local_scales, config.local_blocks
        self.scales, self.blocks = scales, blocks
        self.conv_head = _conv(FEATURE_CHANNELS, c, 3)
        self.conv_down = nn.ModuleList(nn.Conv2d(c, c, 2, stride=2) for _ in range(scales))
        self.conv_up = nn.ModuleList(nn.ConvTranspose2d(c, c, 2, stride=2) for _ in range(scales))
        self.conv_tail = _conv(c, 3, 3, gain=0.01)
        self.resblks = nn.ModuleList(
            LocalBlock(c, config.reduction) for _ in range(blocks * (2 * scales + 1))
        )
        self.fc_head = None if embed_channels is None else _linear(embed_channels, c)

    def _run(self, h: torch.Tensor, first: int) -> torch.Tensor:
        for block in self.resblks[first : first + self.blocks]:
            h = block(h)
        return h

    def forward(
        self, x: torch.Tensor, features: torch.Tensor, z: torch.Tensor | None
    ) -> torch.Tensor:
        """``x`` ``(N, 3, H, W)``, H and W multiples of ``2**scales``; ``features`` its map."""
        h = self.conv_head(features)
        if self.fc_head is not None and z is not None:
            h = h + self.fc_head(z)[:, :, None, None]
        skips = []
        for stage in range(self.scales):
            h = self._run(h, stage * self.blocks)
            skips.append(h)
            h = self.conv_down[stage](h)
        h = self._run(h, self.scales * self.blocks)
        for stage in reversed(range(self.scales)):
            h = skips[stage] + self.conv_up[stage](h)
            h = self._run(h, (self.scales + stage + 1) * self.blocks)
        return x + self.conv_tail(h)


def _safe_pow(v: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    return v.sign() * (v.abs() + 1e-12).pow(gamma)


def quadratic_terms(y: torch.Tensor) -> torch.Tensor:
    """``φ(y) = [r², rg, rb, r, g², gb, g, b², b, 1]``, ``(N, 3, H, W) -> (N, 10, H, W)``."""
    r, g, b = y[:, 0], y[:, 1], y[:, 2]
    one = torch.ones_like(r)
    return torch.stack([r * r, r * g, r * b, r, g * g, g * b, g, b * b, b, one], dim=1)


def apply_tone(y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """One GlobalNet stage: residual quadratic map, then the extended gamma curve.

    Args:
        y: image ``(N, 3, H, W)``.
        w: coefficients ``(N, 39)``: ``w[3k + c]`` multiplies term k of φ for channel c;
            ``w[30 + c], w[33 + c], w[36 + c]`` are log γ, t0 (sign ignored), log t1.
    """
    n = w.shape[0]
    weights = w[:, :30].reshape(n, 10, 3)
    y = y + torch.einsum("nkhw,nkc->nchw", quadratic_terms(y), weights)
    curve = w[:, 30:].reshape(n, 3, 3, 1, 1)
    gamma, t0, t1 = curve[:, 0].exp(), curve[:, 1].abs(), curve[:, 2].exp()
    s0 = _safe_pow(t0, gamma)
    s1 = _safe_pow(t1 + t0, gamma) - s0
    return (_safe_pow(t1 * y + t0, gamma) - s0) / s1


class GlobalNet(nn.Module):
    """The global tone mapping (see the module docstring).

    ``fc_embed`` (the z injection) exists when ``embed_channels`` is given.
    """

    def __init__(self, config: NetConfig, embed_channels: int | None) -> None:
        super().__init__()
        c = config.channels
        self.stages = config.global_stages
        self.min_size = config.global_min_size
        self.convs = nn.ModuleList(
            _conv(FEATURE_CHANNELS if i == 0 else c, c, 3, stride=2, padding=0)
            for i in range(config.global_convs)
        )
        self.fcs = nn.ModuleList(_linear(c, c) for _ in range(config.global_fcs - 1))
        self.fc_index = nn.Linear(config.global_stages, c)
        self.fc_last = nn.ModuleList(
            _linear(c, TONE_COEFFICIENTS, gain=0.01) for _ in range(config.global_stages)
        )
        self.fc_embed = None if embed_channels is None else _linear(embed_channels, c, gain=0.1)

    def global_features(self, features: torch.Tensor) -> torch.Tensor:
        """``(N, 96, H, W) -> (N, channels)``; sides below ``min_size`` padded by replication."""
        h, w = features.shape[-2:]
        pad_h, pad_w = max(self.min_size - h, 0), max(self.min_size - w, 0)
        if pad_h or pad_w:
            pads = (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2)
            features = _pad(features, pads)
        for conv in self.convs:
            features = F.max_pool2d(F.elu(conv(features)), 2)
        return features.mean(dim=(-2, -1))

    def coefficients(self, g: torch.Tensor, stage: int) -> torch.Tensor:
        """The 39 coefficients ``(N, 39)`` of ``stage`` from the global vector ``g``."""
        onehot = F.one_hot(torch.tensor(stage, device=g.device), self.stages).to(g.dtype)
        w = g + F.elu(self.fc_index(onehot))
        for fc in self.fcs:
            w = F.elu(fc(w))
        return F.elu(self.fc_last[stage](w))

    def forward(
        self, x: torch.Tensor, features: torch.Tensor, z: torch.Tensor | None
    ) -> torch.Tensor:
        g = self.global_features(features)
        if self.fc_embed is not None and z is not None:
            g = g + F.elu(self.fc_embed(z))
        y = x
        for stage in range(self.stages):
            y = apply_tone(y, self.coefficients(g, stage))
        return y


def _pad(x: torch.Tensor, pads: tuple[int, int, int, int]) -> torch.Tensor:
    """Replicate padding ``(left, right, top, bottom)``, for any pad size (repeated
    one-pixel edges are what replication means, so large pads are fine)."""
    return F.pad(x, pads, mode="replicate")


class ParamISPNet(nn.Module):
    """One ParamISP direction, ``forward(x (N, 3, H, W), camera) -> (N, 3, H, W)``.

    Args:
        direction: ``forward`` (x: CanoNet's linear output; LocalNet then GlobalNet)
            or ``inverse`` (x: sRGB; GlobalNet then LocalNet).
        config: a :class:`NetConfig` or a name in :data:`CONFIGS`.
        mask: over-exposure mask variant, ``paper`` or ``code`` (the authors'
            checkpoints were trained with ``code``).
        use_paramnet: condition on the camera parameters (False: no ParamNet, z = 0,
            the paper's baseline).
        equalise: ParamNet equalisation (False: each parameter as ``x/MAX``).
        dropout: training dropout probability of each optical parameter, [0, 1).
        optical: the optical parameters used; the others are always dropped.

    Any size of at least 2×2 is accepted: LocalNet's input is padded by replication
    to a multiple of 4 and cropped back; GlobalNet pads its feature map.
    """

    def __init__(
        self,
        direction: str,
        config: str | NetConfig = "published",
        *,
        mask: str = "paper",
        use_paramnet: bool = True,
        equalise: bool = True,
        dropout: float = 0.2,
        optical: tuple[str, ...] = OPTICAL_NAMES,
    ) -> None:
        super().__init__()
        if direction not in DIRECTIONS:
            raise ParamError(key="direction", message=f"{direction!r} is not forward or inverse")
        if mask not in MASKS:
            raise ParamError(key="mask", message=f"{mask!r} is not one of {', '.join(MASKS)}")
        self.direction = direction
        self.config = resolve_config(config)
        self.mask = mask
        self.use_paramnet = use_paramnet
        embed = self.config.embed_channels if use_paramnet else None
        self.tonenet = GlobalNet(self.config, embed)
        self.localnet = LocalNet(self.config, embed)
        self.paramnet = (
            ParamNet(embed, equalise=equalise, dropout=dropout, optical=tuple(optical))
            if embed is not None
            else None
        )

    def embedding(self, camera: CameraTensors | None) -> torch.Tensor | None:
        """ParamNet's z ``(N, embed_channels)``, or None without ParamNet."""
        if self.paramnet is None:
            return None
        if camera is None:
            raise InputError("ParamISP with ParamNet needs the camera parameters of the batch")
        return self.paramnet(camera)

    def _local(self, x: torch.Tensor, mask: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
        h, w = x.shape[-2:]
        m = self.config.local_multiple
        pad_h, pad_w = -h % m, -w % m
        if pad_h or pad_w:
            x, mask = _pad(x, (0, pad_w, 0, pad_h)), _pad(mask, (0, pad_w, 0, pad_h))
        y = self.localnet(x, feature_map(x, mask), z)
        return y[..., :h, :w]

    def _global(self, x: torch.Tensor, mask: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
        return self.tonenet(x, feature_map(x, mask), z)

    def forward(self, x: torch.Tensor, camera: CameraTensors | None = None) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3 or min(x.shape[-2:]) < 2:
            raise InputError(
                f"ParamISP expects images (N, 3, H, W) with H, W >= 2, got {tuple(x.shape)}"
            )
        if camera is not None and len(camera) != x.shape[0]:
            raise InputError(
                f"ParamISP: {len(camera)} camera parameter sets for {x.shape[0]} images"
            )
        z = self.embedding(camera)
        mask = overexposure_mask(x, self.mask)
        if self.direction == "forward":
            return self._global(self._local(x, mask, z), mask, z)
        return self._local(self._global(x, mask, z), mask, z)


def count_parameters(module: nn.Module | None) -> int:
    """Number of trainable values of ``module`` (0 for None)."""
    return 0 if module is None else sum(p.numel() for p in module.parameters())
