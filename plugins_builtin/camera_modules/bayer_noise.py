"""Bayer-domain noise reduction: a bilateral filter on each CFA plane.

Each site is averaged with the same-colour sites of a 5×5 window of its CFA
plane (the mosaic sites ``(2i, 2j)`` away, ``|i|, |j| <= 2``), weighted by their
distance and by how close their values are to the centre's (Tomasi &
Manduchi's bilateral filter)::

    w(i, j) = exp(−((2i)² + (2j)²) / (2·σs²)) · exp(−(x[2i, 2j] − c)² / (2·σr²))
    b = Σ w(i, j)·x[2i, 2j] / Σ w(i, j)
    y = c + strength·(b − c)

Distances are in mosaic sites (neighbours two sites apart are at distance 2),
as Infinite-ISP's BNR scales its spatial kernel by the Bayer stride. Edges
steeper than about ``σr`` keep their sharpness (their other side gets little
weight); flat areas are smoothed with the spatial Gaussian. A constant mosaic is
unchanged. Borders: the mosaic is reflect-padded by four sites (:mod:`.mosaic_window`).

Speed: numpy input runs one compiled Numba loop over the sites (compiled on
first use, cached on disk; sums in float64), which reads the range weight
``exp(−u)`` from a table on u ∈ [0, 16] with linear interpolation (relative error
below 2·10⁻⁶; beyond 16, where exp(−16) ≈ 10⁻⁷, it falls to 0 within one table
step); other array types (torch, CuPy) evaluate the exponentials exactly, as whole-array operations.

Design choice: Infinite-ISP's BNR (10xEngineers, Infinite-ISP,
modules/bayer_noise_reduction, after X. Tan, S. Lai, Y. Liu, M. Zhang, "Green
channel guiding denoising on Bayer image", The Scientific World Journal, 2014)
filters R and B with a *joint* bilateral filter guided by an interpolated green
image. This module uses each plane's own values as the
guide: simpler, independent of the demosaic, and the same operator for every
channel; the noise level ``σr`` is the one tuning knob, as in Infinite-ISP's
``std_dev_r`` (normalised to [0, 1] there too).

Parameters:
    strength: scalar in [0, 1], default 1 (0: unchanged); per-pixel maps allowed.
    range_sigma: σr, scalar in [0.001, 1], default 0.05 (normalised units: about the
        noise standard deviation; 1 makes the filter a plain Gaussian on data in
        [0, 1]); per-pixel maps allowed (a noise-level map).
    spatial_sigma: σs in mosaic sites, scalar in [0.5, 8], default 2; constant or
        per image.
Options:
    pattern: the Bayer pattern; accepted so that specs can take it from the file's
        metadata like every mosaic stage, but the result is the same for all four
        patterns (same-colour neighbours are two sites away in each).
Shapes: ``(..., H, W) -> (..., H, W)``, H and W even. A filter: never inverted.

Sources: C. Tomasi, R. Manduchi, "Bilateral filtering for gray and color images",
ICCV 1998 (the filter); 10xEngineers, Infinite-ISP, modules/bayer_noise_reduction
(Bayer-stride spatial kernel, range sigma in normalised units).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

import numpy as np

from ispengine.core.params import SCALAR, ParamSpec
from ispengine.core.stage import Stage
from plugins_builtin.camera_modules.mosaic_window import same_colour_window
from plugins_builtin.canonical_stages.cfa import PATTERN_OPTION

RADIUS = 2  # plane sites: a 5 × 5 window of each CFA plane


def bayer_bilateral(x: Any, range_sigma: Any, spatial_sigma: Any, xp: Any) -> Any:
    """The bilateral mean ``b`` of every site (see the module docstring)."""
    range_scale = -1 / (2 * range_sigma**2)
    spatial_scale = -1 / (2 * spatial_sigma**2)
    total = weights = None
    for i, j, view in same_colour_window(x, RADIUS, xp):
        if (i, j) == (0, 0):
            weight = xp.ones_like(x)
        else:
            distance2 = float((2 * i) ** 2 + (2 * j) ** 2)
            weight = xp.exp(spatial_scale * distance2 + range_scale * (view - x) ** 2)
        total = weight * view if total is None else total + weight * view
        weights = weight if weights is None else weights + weight
    return total / weights


# The range weight exp(−u) on the compiled path: a table on u ∈ [0, 16] read with linear
# interpolation (relative error below 2e-6), falling linearly to 0 over one step past
# 16 (exp(−16) ≈ 1e-7) and 0 beyond.
RANGE_LIMIT = 16.0
RANGE_STEPS = 4096
RANGE_TABLE = np.append(np.exp(-np.linspace(0.0, RANGE_LIMIT, RANGE_STEPS + 1)), [0.0, 0.0])


def _bilateral_loop(padded, strength, range_sigma, spatial, table, out):  # noqa: ANN001, ANN202
    """Numba loop: ``padded`` ``(N, H + 4R, W + 4R)``; ``strength``, ``range_sigma`` and
    ``out`` ``(N, H, W)``; ``spatial`` ``(N, 2R + 1, 2R + 1)`` the spatial weights;
    ``table`` :data:`RANGE_TABLE`."""
    count, height, width = out.shape
    size = spatial.shape[1]
    pad = size - 1
    steps = table.shape[0] - 3
    per_unit = steps / RANGE_LIMIT
    for n in range(count):
        for i in range(height):
            for j in range(width):
                c = np.float64(padded[n, i + pad, j + pad])
                scale = per_unit * 0.5 / np.float64(range_sigma[n, i, j]) ** 2
                total = 0.0
                weights = 0.0
                for a in range(size):
                    for b in range(size):
                        v = np.float64(padded[n, i + 2 * a, j + 2 * b])
                        u = min(scale * (v - c) ** 2, steps + 1)
                        k = int(u)
                        weight = table[k] + (u - k) * (table[k + 1] - table[k])
                        weight *= spatial[n, a, b]
                        total += weight * v
                        weights += weight
                out[n, i, j] = c + strength[n, i, j] * (total / weights - c)


@cache
def _compiled_loop():  # noqa: ANN202
    import numba

    return numba.njit(cache=True, nogil=True, fastmath=True)(_bilateral_loop)


def bayer_noise_reduction_numpy(
    x: np.ndarray, strength: np.ndarray, range_sigma: np.ndarray, spatial_sigma: np.ndarray
) -> np.ndarray:
    """The stage's output for numpy arrays, as one compiled loop."""
    height, width = x.shape[-2:]
    flat = np.ascontiguousarray(x).reshape(-1, height, width)
    pad = 2 * RADIUS
    padded = np.pad(flat, ((0, 0), (pad, pad), (pad, pad)), mode="reflect")

    def full(value: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.broadcast_to(value, x.shape)).reshape(flat.shape)

    offsets = 2.0 * np.arange(-RADIUS, RADIUS + 1)
    distance2 = offsets[:, None] ** 2 + offsets[None, :] ** 2
    sigma = np.broadcast_to(np.asarray(spatial_sigma, dtype=np.float64), x.shape[:-2] + (1, 1))
    spatial = np.exp(-distance2 / (2 * sigma.reshape(-1, 1, 1) ** 2))
    spatial = np.ascontiguousarray(np.broadcast_to(spatial, (flat.shape[0],) + distance2.shape))
    out = np.empty_like(flat)
    _compiled_loop()(padded, full(strength), full(range_sigma), spatial, RANGE_TABLE, out)
    return out.reshape(x.shape)


class BayerNoiseReduction(Stage):
    """Bilateral filter on each CFA plane, ``(..., H, W) -> (..., H, W)``."""

    name = "bayer_noise_reduction"
    params = (
        ParamSpec(
            "strength",
            SCALAR,
            0.0,
            1.0,
            default=1.0,
            description="blend of the filtered value (0: unchanged, 1: filtered)",
        ),
        ParamSpec(
            "range_sigma",
            SCALAR,
            0.001,
            1.0,
            default=0.05,
            description="range sigma, normalised units (about the noise level)",
        ),
        ParamSpec(
            "spatial_sigma",
            SCALAR,
            0.5,
            8.0,
            default=2.0,
            local=False,
            description="spatial sigma in mosaic sites (same-colour neighbours are 2 apart)",
        ),
    )
    options = (PATTERN_OPTION,)
    input_layout = "mosaic"
    output_layout = "mosaic"
    needs_even_size = True

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        if isinstance(x, np.ndarray):
            return bayer_noise_reduction_numpy(
                x, p["strength"], p["range_sigma"], p["spatial_sigma"]
            )
        filtered = bayer_bilateral(x, p["range_sigma"], p["spatial_sigma"], xp)
        return x + p["strength"] * (filtered - x)


FILTERS = (BayerNoiseReduction,)
