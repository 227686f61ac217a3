"""The 96-channel feature map that LocalNet and GlobalNet read.

For an image x ``(N, 3, H, W)`` in [0, 1] (values outside are allowed), the
channels are, in this order:

* the image itself (3);
* Sobel gradients per channel, interleaved ``[dx_R, dy_R, dx_G, dy_G, dx_B, dy_B]`` (6),
  with ``dx = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]] / 8`` correlated with the
  replicate-padded image and ``dy`` its transpose;
* soft histograms of 4, 8 and 16 bins (84 = 3·28), channel-major within each bin
  count (``R bin 0..n-1, G bin 0..n-1, B ...``); bin i of n:
  ``h_i(x) = relu(1 - |x - i/(n-1)| · (n-1))``;
* the over-exposure mask (3), per channel:
  ``paper``: ``m = 10 · max(x - 0.9, 0)``; ``code`` (the authors' released code and so
  their trained weights): ``m = 20 · max(x - 0.95, 0)``.

The mask is computed once, from the network's input, and reused for both
sub-nets; the gradients and histograms are recomputed on the intermediate
image before each sub-net (:func:`feature_map` takes the mask as an argument).

Source: W. Kim, G. Kim, J. Lee, S. Lee, S.-H. Baek, S. Cho, "ParamISP: Learned Forward
and Inverse ISPs using Camera Parameters", CVPR 2024, §3.2 (LocalNet's handcrafted
features); soft histogram of Y.-L. Liu et al., "Single-Image HDR Reconstruction by
Learning to Reverse the Camera Pipeline", CVPR 2020; channel order and the ``code`` mask
from the authors' released code.
"""

from __future__ import annotations

from typing import Any

#: Soft-histogram bin counts.
HISTOGRAM_BINS: tuple[int, ...] = (4, 8, 16)

#: Channels of the feature map for a 3-channel image.
FEATURE_CHANNELS = 3 * (1 + 2 + sum(HISTOGRAM_BINS)) + 3

#: Over-exposure mask variants: (threshold t, slope s) of ``s · max(x - t, 0)``.
MASKS: dict[str, tuple[float, float]] = {"paper": (0.9, 10.0), "code": (0.95, 20.0)}


def overexposure_mask(x: Any, variant: str = "paper") -> Any:
    """The soft over-exposure mask ``s · max(x - t, 0)``, same shape as ``x``.

    Args:
        x: torch image ``(N, 3, H, W)``.
        variant: ``paper`` (t = 0.9, s = 10) or ``code`` (t = 0.95, s = 20).
    """
    threshold, slope = MASKS[variant]
    return (x - threshold).clamp(min=0.0) * slope


def sobel_gradients(x: Any) -> Any:
    """Sobel ``dx, dy`` per channel, ``(N, C, H, W) -> (N, 2C, H, W)`` (interleaved)."""
    import torch
    import torch.nn.functional as F

    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=x.dtype) / 8
    kernel = torch.stack([kx, kx.T])[:, None].to(x.device)  # (2, 1, 3, 3)
    n, c, h, w = x.shape
    padded = F.pad(x.reshape(n * c, 1, h, w), (1, 1, 1, 1), mode="replicate")
    return F.conv2d(padded, kernel).reshape(n, 2 * c, h, w)


def soft_histogram(x: Any, bins: int) -> Any:
    """Soft histogram of ``bins`` bins per channel, ``(N, C, H, W) -> (N, C·bins, H, W)``."""
    import torch

    scale = bins - 1.0
    centres = torch.arange(bins, dtype=x.dtype, device=x.device) / scale
    hist = torch.relu(1.0 - (x[:, :, None] - centres[:, None, None]).abs() * scale)
    return hist.flatten(1, 2)


def feature_map(x: Any, mask: Any) -> Any:
    """The 96-channel map ``[x, gradients, histograms, mask]`` of ``x`` ``(N, 3, H, W)``.

    Args:
        x: the image the next sub-net transforms.
        mask: :func:`overexposure_mask` of the network's input, same shape as ``x``.
    """
    import torch

    parts = [x, sobel_gradients(x)]
    parts += [soft_histogram(x, bins) for bins in HISTOGRAM_BINS]
    parts.append(mask)
    return torch.cat(parts, dim=1)
