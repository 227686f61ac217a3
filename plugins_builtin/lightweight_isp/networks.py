"""The two lightweight ISP networks: Efficient ISP (3,060 parameters) and Robust ISP (1,616).

Both map packed RAW ``(N, 4, H/2, W/2)`` (R, Gr, Gb, B, black 0, white 1) to
sRGB ``(N, 3, H, W)`` with three 3×3 convolutions (zero padding 1) and a
pixel shuffle of factor 2, which rearranges the last convolution's 12
channels into 3 channels at twice the size::

    Efficient ISP:  conv 4→12, tanh;  conv 12→12, ReLU;  conv 12→12, ReLU;  shuffle 2
                    (444 + 1,308 + 1,308 = 3,060 parameters)
    Robust ISP:     conv 4→16, tanh;  conv 16→4, ReLU;   conv 4→12, ReLU;   shuffle 2
                    (592 + 580 + 444 = 1,616 parameters)

The output is not clipped (the last ReLU keeps it non-negative).

Source: A. Arhire, R. Timofte, "Learned Lightweight Smartphone ISP with Unpaired
Data", CVPR 2025 workshops, §3.1 (architectures) and Table 3 (parameter counts).
"""

from __future__ import annotations

from typing import Any

#: (input channels, output channels, activation) of each 3×3 convolution.
ARCHITECTURES: dict[str, tuple[tuple[int, int, str], ...]] = {
    "efficient": ((4, 12, "tanh"), (12, 12, "relu"), (12, 12, "relu")),
    "robust": ((4, 16, "tanh"), (16, 4, "relu"), (4, 12, "relu")),
}
#: Parameter counts of the paper's Table 3.
PARAMETER_COUNTS = {"efficient": 3060, "robust": 1616}


def build_network(architecture: str) -> Any:
    """A fresh network of ``architecture`` (``efficient`` or ``robust``); weights from
    torch's default initialisation and global RNG."""
    import torch

    layers: list[Any] = []
    for channels_in, channels_out, activation in ARCHITECTURES[architecture]:
        layers.append(torch.nn.Conv2d(channels_in, channels_out, 3, padding=1))
        layers.append(torch.nn.Tanh() if activation == "tanh" else torch.nn.ReLU())
    layers.append(torch.nn.PixelShuffle(2))
    return torch.nn.Sequential(*layers)
