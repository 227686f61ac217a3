"""The Invertible-ISP network: one invertible flow, RAW → sRGB forward, sRGB → RAW backward.

Source: Y. Xing, Z. Qian, Q. Chen, "Invertible Image Signal Processing", CVPR
2021, §3.2 (Fig. 3). The network maps a demosaiced, white-balanced camera-RGB
image ``x`` (3 channels) to sRGB through ``blocks`` invertible blocks; running
the blocks backward in reverse order maps sRGB back to camera RGB. Each block
(forward direction)::

    z = W z                                   invertible 1x1 convolution, W = P L (U + diag(s))
    z1, z2 = z[:1], z[1:]                      split 1 | 2 channels
    y1 = z1 + F(z2)
    s  = c · (2 σ(H(y1)) − 1)                  soft clamp, c = 0.8
    y2 = z2 ⊙ exp(s) + G(y1)
    out = [y1, y2]

and backward: ``s = c(2σ(H(y1)) − 1)``, ``z2 = (y2 − G(y1)) ⊙ exp(−s)``,
``z1 = y1 − F(z2)``, ``z = W⁻¹ [z1, z2]``. F, G and H are dense blocks of five
3×3 convolutions (growth ``growth``, LeakyReLU 0.2; each convolution sees the
block input and every earlier output). W is LU-decomposed as in Glow (Kingma &
Dhariwal, NeurIPS 2018): a fixed permutation P, a unit lower-triangular L, an
upper-triangular U and the diagonal sign(s)·exp(log|s|), so W⁻¹ = U'⁻¹ L⁻¹ P⁻¹
is exact and cheap. The ``published`` configuration (8 blocks, growth 32) has
1,413,760 parameters; module and tensor names are those of the authors'
released code, so their state dicts load unchanged.

Parameters (ranges inclusive): ``blocks`` [1, 64] (published 8), ``growth``
[1, 256] (published 32), ``clamp`` (0, 10] (published 0.8).
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ispengine.core.errors import ParamError


@attrs.frozen
class InvISPConfig:
    """The size of an Invertible-ISP network."""

    blocks: int = 8
    growth: int = 32
    clamp: float = 0.8

    def __attrs_post_init__(self) -> None:
        for key, value, low, high in (
            ("blocks", self.blocks, 1, 64),
            ("growth", self.growth, 1, 256),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ParamError(
                    key=key, message=f"expected a whole number in [{low}, {high}], got {value!r}"
                )
        if not 0.0 < float(self.clamp) <= 10.0:
            raise ParamError(key="clamp", message=f"expected a number in (0, 10], got {self.clamp}")


#: The published network (8 blocks, growth 32: 1,413,760 parameters) and a CPU-sized one.
CONFIGS = {
    "published": InvISPConfig(8, 32),
    "small": InvISPConfig(4, 8),
}


class DenseBlock(nn.Module):
    """Five 3×3 convolutions, each fed the input and every earlier output (LeakyReLU 0.2).

    The last one is initialised to zero, so a fresh coupling starts as the identity.
    """

    def __init__(self, channels_in: int, channels_out: int, growth: int) -> None:
        super().__init__()
        widths = [channels_in + k * growth for k in range(5)]
        self.conv1 = nn.Conv2d(widths[0], growth, 3, padding=1)
        self.conv2 = nn.Conv2d(widths[1], growth, 3, padding=1)
        self.conv3 = nn.Conv2d(widths[2], growth, 3, padding=1)
        self.conv4 = nn.Conv2d(widths[3], growth, 3, padding=1)
        self.conv5 = nn.Conv2d(widths[4], channels_out, 3, padding=1)
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            nn.init.xavier_normal_(conv.weight)
            conv.weight.data.mul_(0.1)
            nn.init.zeros_(conv.bias)
        nn.init.zeros_(self.conv5.weight)
        nn.init.zeros_(self.conv5.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            features.append(F.leaky_relu(conv(torch.cat(features, 1)), 0.2))
        return self.conv5(torch.cat(features, 1))


class InvertibleConv1x1(nn.Module):
    """Glow's LU-decomposed invertible 1×1 convolution on ``channels`` channels.

    ``p`` (permutation) and ``sign_s`` are fixed buffers; ``lower``, ``upper``
    and ``log_s`` are learned. Initialised from a random rotation (seeded by torch).
    """

    def __init__(self, channels: int = 3) -> None:
        super().__init__()
        import scipy.linalg

        rotation = np.linalg.qr(torch.randn(channels, channels, dtype=torch.float64).numpy())[0]
        p, lower, upper = scipy.linalg.lu(rotation)
        s = np.diag(upper)
        self.register_buffer("p", torch.as_tensor(p, dtype=torch.float32))
        self.register_buffer("sign_s", torch.as_tensor(np.sign(s), dtype=torch.float32))
        self.lower = nn.Parameter(torch.as_tensor(lower, dtype=torch.float32))
        self.log_s = nn.Parameter(torch.as_tensor(np.log(np.abs(s)), dtype=torch.float32))
        self.upper = nn.Parameter(torch.as_tensor(np.triu(upper, 1), dtype=torch.float32))

    def factors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The unit lower-triangular L and the upper-triangular U (with the diagonal)."""
        n = self.p.shape[0]
        eye = torch.eye(n, dtype=self.lower.dtype, device=self.lower.device)
        lower = torch.tril(self.lower, -1) + eye
        upper = torch.triu(self.upper, 1) + torch.diag(self.sign_s * torch.exp(self.log_s))
        return lower, upper

    def weight(self, reverse: bool = False) -> torch.Tensor:
        """W = P L U, or W⁻¹ = U⁻¹ L⁻¹ Pᵀ (P is a permutation, so P⁻¹ = Pᵀ)."""
        lower, upper = self.factors()
        if not reverse:
            return self.p @ (lower @ upper)
        eye = torch.eye(lower.shape[0], dtype=lower.dtype, device=lower.device)
        lower_inv = torch.linalg.solve_triangular(lower, eye, upper=False, unitriangular=True)
        upper_inv = torch.linalg.solve_triangular(upper, eye, upper=True)
        return upper_inv @ (lower_inv @ self.p.transpose(0, 1))

    def forward(self, x: torch.Tensor, reverse: bool = False) -> torch.Tensor:
        return torch.einsum("ij,njhw->nihw", self.weight(reverse), x)


class InvBlock(nn.Module):
    """One invertible block: 1×1 convolution, then the affine coupling (module docstring)."""

    def __init__(self, growth: int, clamp: float, channels: int = 3, split: int = 1) -> None:
        super().__init__()
        self.split = split
        self.clamp = clamp
        self.F = DenseBlock(channels - split, split, growth)
        self.G = DenseBlock(split, channels - split, growth)
        self.H = DenseBlock(split, channels - split, growth)
        self.invconv = InvertibleConv1x1(channels)

    def _scale(self, y1: torch.Tensor) -> torch.Tensor:
        return self.clamp * (torch.sigmoid(self.H(y1)) * 2.0 - 1.0)

    def forward(self, x: torch.Tensor, reverse: bool = False) -> torch.Tensor:
        if not reverse:
            x = self.invconv(x)
            x1, x2 = x[:, : self.split], x[:, self.split :]
            y1 = x1 + self.F(x2)
            y2 = x2 * torch.exp(self._scale(y1)) + self.G(y1)
            return torch.cat((y1, y2), 1)
        y1, y2 = x[:, : self.split], x[:, self.split :]
        x2 = (y2 - self.G(y1)) * torch.exp(-self._scale(y1))
        x1 = y1 - self.F(x2)
        return self.invconv(torch.cat((x1, x2), 1), reverse=True)


class InvISPNetwork(nn.Module):
    """The whole flow: ``forward(raw_rgb)`` → sRGB, ``forward(srgb, reverse=True)`` → RAW RGB.

    Inputs are ``(N, 3, H, W)`` float tensors of any size (every layer is a
    3×3 or 1×1 convolution with zero padding).
    """

    def __init__(self, config: InvISPConfig = CONFIGS["published"]) -> None:
        super().__init__()
        self.config = config
        self.operations = nn.ModuleList(
            InvBlock(config.growth, config.clamp) for _ in range(config.blocks)
        )

    def forward(self, x: torch.Tensor, reverse: bool = False) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"Invertible-ISP: expected (N, 3, H, W), got {tuple(x.shape)}")
        blocks = reversed(self.operations) if reverse else self.operations
        for block in blocks:
            x = block(x, reverse=reverse)
        return x


def build(config: InvISPConfig, seed: int = 0) -> InvISPNetwork:
    """A fresh network whose random initial weights depend only on ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return InvISPNetwork(config)


def count_parameters(module: nn.Module) -> int:
    """Trainable parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def config_of(arrays: dict[str, np.ndarray], source: str) -> InvISPConfig:
    """The configuration a state dict in the authors' layout was saved from
    (blocks from the ``operations.<i>`` names, growth from ``F.conv1``)."""
    from ispengine.core.errors import InputError

    indices = {int(k.split(".")[1]) for k in arrays if k.startswith("operations.")}
    first = arrays.get("operations.0.F.conv1.weight")
    if not indices or first is None or np.ndim(first) != 4:
        raise InputError(
            f"{source}: not Invertible-ISP weights (no 'operations.0.F.conv1.weight'; "
            "another method's file?)"
        )
    return InvISPConfig(blocks=max(indices) + 1, growth=int(np.shape(first)[0]))


def network_from_arrays(arrays: dict[str, Any], source: str) -> InvISPNetwork:
    """An :class:`InvISPNetwork` holding ``arrays`` (names of the authors' code, an
    optional ``module.`` prefix of ``DataParallel`` removed).

    Raises :class:`~ispengine.core.errors.InputError` (one line) for weights of
    another method or size, and for NaN or infinite weights.
    """
    from ispengine.core.errors import InputError
    from ispengine.learning.weights import checked_state

    arrays = {k.removeprefix("module."): v for k, v in arrays.items()}
    network = InvISPNetwork(config_of(arrays, source))
    expected = network.state_dict()
    checked = checked_state(arrays, expected, source, hint="another method or size?")
    bad = next((k for k, v in checked.items() if not np.all(np.isfinite(v))), None)
    if bad is not None:
        raise InputError(f"{source}: tensor '{bad}' holds NaN or infinite values")
    network.load_state_dict(
        {k: torch.from_numpy(np.array(checked[k])).to(t.dtype) for k, t in expected.items()}
    )
    return network.eval()
