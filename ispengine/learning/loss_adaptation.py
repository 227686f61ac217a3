"""Combining a generator's loss terms: fixed weights, or dynamic loss adaptation.

Given terms ``L_k`` with weights ``w_k`` and the generator's parameters θ, the
gradient written into ``θ.grad`` is::

    fixed weights:            g = Σ_k w_k ∇_θ L_k
    dynamic loss adaptation:  g = Σ_k w_k ∇_θ L_k / (‖∇_θ L_k‖₂ + 1e-8)

so with adaptation every term pulls with the strength of its weight whatever
its scale, re-measured at every step (the norm is over all of θ). The value
reported per term is its weighted contribution, ``w_k L_k`` or
``w_k L_k / (‖∇_θ L_k‖₂ + 1e-8)``.

Source: A. Arhire, R. Timofte, "Learned Lightweight Smartphone ISP with Unpaired
Data", CVPR 2025 workshops, §3.4 (dynamic loss adaptation).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

EPSILON = 1e-8


def combine_gradients(
    terms: Mapping[str, Any],
    weights: Mapping[str, float],
    parameters: Sequence[Any],
    *,
    dynamic: bool,
) -> dict[str, float]:
    """Write the combined gradient of ``terms`` (scalar tensors) into ``parameters``'
    ``.grad`` (module docstring); returns each term's weighted value. Terms whose
    weight is 0 are left out; a term that does not depend on the parameters
    contributes nothing."""
    import torch

    parameters = [p for p in parameters if p.requires_grad]
    total = [torch.zeros_like(p) for p in parameters]
    reported: dict[str, float] = {}
    active = [(name, value) for name, value in terms.items() if weights.get(name, 0.0) != 0.0]
    for index, (name, value) in enumerate(active):
        gradients = torch.autograd.grad(
            value, parameters, retain_graph=index < len(active) - 1, allow_unused=True
        )
        gradients = [
            torch.zeros_like(p) if g is None else g
            for p, g in zip(parameters, gradients, strict=True)
        ]
        scale = float(weights[name])
        if dynamic:
            norm = torch.sqrt(sum(g.pow(2).sum() for g in gradients))
            scale = scale / (float(norm) + EPSILON)
        for accumulated, gradient in zip(total, gradients, strict=True):
            accumulated.add_(gradient, alpha=scale)
        reported[name] = scale * float(value.detach())
    for parameter, gradient in zip(parameters, total, strict=True):
        parameter.grad = gradient
    return reported
