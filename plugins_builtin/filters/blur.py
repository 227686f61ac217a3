"""Gaussian blur over the two spatial axes, shared by the spatial filters.

``G_σ * x`` with the sampled, normalised Gaussian kernel
``w_k ∝ exp(−k² / (2σ²))`` for ``|k| <= ceil(4σ)`` (``scipy.ndimage.gaussian_filter``
with its default ``truncate = 4``), applied separably along H and W, with
half-sample symmetric borders (``d c b a | a b c d | d c b a``, scipy's
``reflect`` mode).

numpy arrays go through :func:`scipy.ndimage.gaussian_filter`; other array-API
arrays (torch, CuPy) through the same separable sum written with ``take``, so
the filters stay differentiable in torch. Shapes: ``(..., H, W, C)`` when
``channels`` (the default), ``(..., H, W)`` otherwise. ``sigma`` is a resolved
scalar parameter: ``()`` for one value, ``batch + (1, 1)`` for one per image.
"""

from __future__ import annotations

import math
from typing import Any

import array_api_compat
import numpy as np

TRUNCATE = 4.0


def _host_values(sigma: Any, xp: Any) -> np.ndarray:
    """``sigma`` as a float64 numpy array on the host (numpy, torch or CuPy input)."""
    if isinstance(sigma, np.ndarray | np.generic):
        return np.asarray(sigma, dtype=np.float64)
    flat = xp.reshape(sigma, (-1,))
    values = np.array([float(flat[i]) for i in range(flat.shape[0])], dtype=np.float64)
    return values.reshape(tuple(sigma.shape))


def _reflect_indices(n: int, radius: int) -> np.ndarray:
    """Indices of an axis of length ``n`` padded by ``radius`` with scipy's ``reflect``."""
    positions = np.arange(-radius, n + radius) % (2 * n)
    return np.where(positions >= n, 2 * n - 1 - positions, positions)


def _kernel(sigma: float) -> np.ndarray:
    radius = int(math.ceil(TRUNCATE * sigma))
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    weights = np.exp(-0.5 * (offsets / sigma) ** 2)
    return weights / weights.sum()


def _slice_axis(x: Any, start: int, stop: int, axis: int) -> Any:
    index = [slice(None)] * x.ndim
    index[axis] = slice(start, stop)
    return x[tuple(index)]


def _blur_axis(x: Any, sigma: float, axis: int, xp: Any) -> Any:
    weights = _kernel(sigma)
    radius = weights.size // 2
    n = x.shape[axis]
    indices = xp.asarray(_reflect_indices(n, radius), device=array_api_compat.device(x))
    padded = xp.take(x, indices, axis=axis)
    total = 0
    for k, weight in enumerate(weights):
        total = total + float(weight) * _slice_axis(padded, k, k + n, axis)
    return total


def _blur_one(x: Any, sigma: float, channels: bool, xp: Any) -> Any:
    if sigma <= 0:
        return x
    if isinstance(x, np.ndarray):
        from scipy import ndimage

        spatial = (sigma, sigma, 0.0) if channels else (sigma, sigma)
        sigmas = (0.0,) * (x.ndim - len(spatial)) + spatial
        return ndimage.gaussian_filter(x, sigmas, mode="reflect", truncate=TRUNCATE)
    first = -3 if channels else -2
    return _blur_axis(_blur_axis(x, sigma, first, xp), sigma, first + 1, xp)


def gaussian_blur(x: Any, sigma: Any, xp: Any, *, channels: bool = True) -> Any:
    """Blur ``x`` over its spatial axes with the Gaussian of standard deviation ``sigma`` px."""
    values = _host_values(sigma, xp)
    if values.size == 1 or np.all(values == values.flat[0]):
        return _blur_one(x, float(values.flat[0]), channels, xp)
    batch = values.shape[:-2]
    flat = xp.reshape(x, (-1,) + tuple(x.shape[len(batch) :]))
    blurred = [_blur_one(flat[i], float(s), channels, xp) for i, s in enumerate(values.reshape(-1))]
    return xp.reshape(xp.stack(blurred, axis=0), tuple(x.shape))
