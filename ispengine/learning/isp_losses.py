"""Image losses for training forward ISPs: content, colour, perceptual, total variation.

All take and return torch tensors; images are NCHW RGB in [0, 1].

* :func:`content_loss`: ``mean((φ(a) − φ(b))²)`` of a feature extractor φ
  (VGG-19 relu5_4). With ``luminance=True`` both images are first reduced to
  their CIE L* channel (L*/100, replicated to three channels), so only
  structure and brightness are compared: the unpaired content loss, whose
  reference is the RAW developed by a fixed pipeline and differs in colour.
* :func:`colour_loss`: ``mean((G∗a − G∗b)²)`` with ``G`` a Gaussian (σ = 3,
  21 taps, per channel, reflect padding): colour and brightness without
  texture.
* :func:`perceptual_distance`: LPIPS's distance with equal layer weights
  (no learned linear calibration): features of the five AlexNet ReLUs, each
  unit-normalised over channels, squared difference averaged over space and
  summed over channels and layers.
* :func:`total_variation`: mean squared difference of vertical and of
  horizontal neighbours.

Sources: A. Ignatov et al., "DSLR-Quality Photos on Mobile Devices with Deep
Convolutional Networks", ICCV 2017 (content on VGG-19 features, colour after a
Gaussian blur, total variation); R. Zhang et al., "The Unreasonable
Effectiveness of Deep Features as a Perceptual Metric", CVPR 2018 (LPIPS); A.
Arhire, R. Timofte, "Learned Lightweight Smartphone ISP with Unpaired Data",
CVPR 2025 workshops, §3.3 (the L-channel content loss against a developed RAW).
"""

from __future__ import annotations

import functools
from typing import Any

#: The colour loss's Gaussian: standard deviation and taps.
BLUR_SIGMA = 3.0
BLUR_TAPS = 21
#: sRGB → CIE Y weights (D65).
LUMINANCE_WEIGHTS = (0.2126729, 0.7151522, 0.0721750)


@functools.lru_cache(maxsize=8)
def _gaussian_taps(sigma: float, taps: int) -> tuple[float, ...]:
    import math

    half = taps // 2
    values = [math.exp(-0.5 * ((i - half) / sigma) ** 2) for i in range(taps)]
    total = sum(values)
    return tuple(v / total for v in values)


def gaussian_blur(x: Any, sigma: float = BLUR_SIGMA, taps: int = BLUR_TAPS) -> Any:
    """``x`` (NCHW) blurred per channel by a separable Gaussian, reflect padding
    (taps shrink to fit images smaller than the kernel)."""
    import torch

    taps = min(taps, 2 * (min(x.shape[-2:]) - 1) + 1)
    if taps < 3:
        return x
    kernel = torch.tensor(_gaussian_taps(sigma, taps), dtype=x.dtype, device=x.device)
    channels = x.shape[1]
    half = taps // 2
    padded = torch.nn.functional.pad(x, (half, half, half, half), mode="reflect")
    rows = kernel.view(1, 1, 1, taps).expand(channels, 1, 1, taps)
    cols = kernel.view(1, 1, taps, 1).expand(channels, 1, taps, 1)
    out = torch.nn.functional.conv2d(padded, rows, groups=channels)
    return torch.nn.functional.conv2d(out, cols, groups=channels)


def lab_lightness(x: Any) -> Any:
    """CIE L*/100 of sRGB ``x`` (NCHW, [0, 1]) as ``(N, 1, H, W)`` (D65 white)."""
    import torch

    x = x.clamp(0.0, 1.0)
    linear = torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)
    weights = torch.tensor(LUMINANCE_WEIGHTS, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    y = (linear * weights).sum(dim=1, keepdim=True)
    epsilon, kappa = 216 / 24389, 24389 / 27
    f = torch.where(y > epsilon, y.clamp_min(epsilon) ** (1 / 3), (kappa * y + 16) / 116)
    return (116 * f - 16) / 100


def grayscale(x: Any) -> Any:
    """L*/100 of ``x`` replicated to three channels (the extractors' input)."""
    return lab_lightness(x).expand(-1, 3, -1, -1)


def content_loss(extractor: Any, a: Any, b: Any, *, luminance: bool = False) -> Any:
    """MSE of ``extractor``'s features of ``a`` and ``b`` (``b`` is the target; no
    gradient flows into it); on their L* channels with ``luminance``."""
    if luminance:
        a, b = grayscale(a), grayscale(b)
    return (extractor(a) - extractor(b.detach())).pow(2).mean()


def colour_loss(a: Any, b: Any) -> Any:
    """MSE of ``a`` and ``b`` after the Gaussian blur (module docstring)."""
    return (gaussian_blur(a) - gaussian_blur(b.detach())).pow(2).mean()


def perceptual_distance(alexnet: Any, a: Any, b: Any) -> Any:
    """LPIPS with equal layer weights on ``alexnet``'s five ReLU outputs (module docstring)."""
    total = 0.0
    for fa, fb in zip(alexnet(a), alexnet(b.detach()), strict=True):
        na = fa / (fa.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)
        nb = fb / (fb.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)
        total = total + (na - nb).pow(2).sum(dim=1).mean()
    return total


def total_variation(x: Any) -> Any:
    """Mean squared difference of vertical and of horizontal neighbours of ``x``."""
    vertical = (x[..., 1:, :] - x[..., :-1, :]).pow(2).mean()
    horizontal = (x[..., :, 1:] - x[..., :, :-1]).pow(2).mean()
    return vertical + horizontal
