"""Online pseudo-data filtering (OPF) and SemiISP's balanced loss.

SemiISP §3.3, Eqs. 10–13. With per-sample losses ``L_n`` of a batch of
``N_r`` real and ``N_p`` pseudo samples::

    L_r    = mean over real samples of L_n                          (Eq. 10)
    δ_n    = 0 if L_n > β·L_r else 1   (pseudo samples)              (Eq. 12)
    L_p    = Σ δ_n·L_n / Σ δ_n                                       (Eq. 11)
    L_semi = N_r/(N_r+Σδ)·L_r + Σδ/(N_r+Σδ)·L_p                       (Eq. 13)

``L_semi`` equals the plain mean of the losses of the real and the kept pseudo
samples: the weights keep the loss scale steady while the number of kept
samples changes from step to step (SemiISP §3.3: it protects the optimiser's
momentum). The mask is computed from detached values, so it carries no
gradient; filtered samples get exactly zero gradient.

Per-sample losses (:func:`per_sample_loss`): ``mse``, and ``l1_pooled``, the
noise-robust loss of SemiISP §3.4 Eq. 14, ``L1(X, Y) + Σ_{k∈{16,32,64}} L1(A_k X, A_k Y)``.
torch is imported inside the functions only.

Source: Yoshimura, Otsuka, Berdan, Ohashi, "SemiISP/SemiIE: Semi-Supervised Image Signal
Processor and Image Enhancement Leveraging One-to-Many Mapping sRGB-to-RAW",
arXiv:2504.02345, 2025 (SemiISP), §3.3–3.4.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from ispengine.core.errors import InputError, ParamError

LOSS_KINDS = ("mse", "l1_pooled")
POOL_SIZES = (16, 32, 64)


class BalancedLoss(NamedTuple):
    """The result of :func:`balanced_loss` (0-d tensors, and a boolean mask).

    ``total`` is ``L_semi`` (differentiable), ``real`` is ``L_r``, ``pseudo`` is
    ``L_p`` (0 when no pseudo sample is kept), ``kept_mask`` is ``δ`` as a bool
    tensor of shape ``(N_p,)``.
    """

    total: Any
    real: Any
    pseudo: Any
    kept_mask: Any


def check_beta(beta: Any) -> float | None:
    """``beta`` as a float (finite, > 0) or None (no filtering); else :class:`ParamError`."""
    if beta is None:
        return None
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not math.isfinite(beta):
        raise ParamError(key="beta", message=f"expected a number > 0 or None, got {beta!r}")
    if beta <= 0:
        raise ParamError(key="beta", message=f"expected a number > 0 or None, got {beta!r}")
    return float(beta)


def balanced_loss(real_losses: Any, pseudo_losses: Any, beta: float | None) -> BalancedLoss:
    """Eq. 13 on 1-D torch tensors of per-sample losses (see the module docstring).

    Args:
        real_losses: ``(N_r,)``, at least one sample.
        pseudo_losses: ``(N_p,)``, may be empty.
        beta: OPF threshold β (SemiISP uses 1.0–1.2, Table 6); None keeps every pseudo
            sample (no filtering).

    When no pseudo sample is kept, ``total`` equals ``L_r``.
    """
    beta = check_beta(beta)
    for name, losses in (("real_losses", real_losses), ("pseudo_losses", pseudo_losses)):
        if getattr(losses, "ndim", None) != 1:
            raise InputError(f"{name}: expected a 1-D tensor of per-sample losses")
    if real_losses.shape[0] == 0:
        raise InputError("real_losses: needs at least one real sample")
    import torch

    real = real_losses.mean()
    if beta is None:
        kept = torch.ones(pseudo_losses.shape, dtype=torch.bool, device=pseudo_losses.device)
    else:
        kept = pseudo_losses.detach() <= beta * real.detach()  # NaN losses are dropped too
    count = kept.sum().to(real.dtype)
    kept_sum = torch.where(kept, pseudo_losses, torch.zeros_like(pseudo_losses)).sum()
    pseudo = kept_sum / count.clamp(min=1.0)
    denominator = real_losses.shape[0] + count
    # Eq. 13 with Σδ·L_p written as the kept sum: exactly L_r when nothing is kept.
    total = real_losses.shape[0] / denominator * real + kept_sum / denominator
    return BalancedLoss(total, real, pseudo, kept)


def per_sample_loss(pred: Any, target: Any, kind: str = "mse") -> Any:
    """The loss of each sample of a batch, shape ``(B,)``, for NHWC torch tensors.

    ``mse``: mean of ``(pred − target)²`` over H, W and channels.
    ``l1_pooled``: mean ``|pred − target|`` plus, for each ``k`` in 16, 32, 64,
    the mean ``|A_k pred − A_k target|``, ``A_k`` a k×k average pooling with
    stride k (rows and columns past the last whole window are dropped). A ``k``
    larger than the image's height or width is skipped, so a small crop gets
    fewer pooled terms.
    """
    if kind not in LOSS_KINDS:
        raise ParamError(
            key="loss", message=f"expected one of {', '.join(LOSS_KINDS)}, got {kind!r}"
        )
    if tuple(pred.shape) != tuple(target.shape) or pred.ndim != 4:
        raise InputError(
            f"loss: expected two NHWC tensors of one shape, got {tuple(pred.shape)} "
            f"and {tuple(target.shape)}"
        )
    diff = pred - target
    if kind == "mse":
        return (diff * diff).mean(dim=(1, 2, 3))
    from torch.nn import functional as F

    loss = diff.abs().mean(dim=(1, 2, 3))
    height, width = diff.shape[1], diff.shape[2]
    planes = diff.permute(0, 3, 1, 2)
    for k in POOL_SIZES:
        if k > height or k > width:
            continue
        # Pooling is linear: A_k X − A_k Y = A_k (X − Y).
        loss = loss + F.avg_pool2d(planes, k, stride=k).abs().mean(dim=(1, 2, 3))
    return loss
