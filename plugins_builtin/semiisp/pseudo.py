"""Pseudo RAW–sRGB pairs from unpaired sRGB images.

* One-to-many sRGB-to-RAW: ``f_ISP⁻¹(Ī_S; P_i)``, ``P_i`` drawn from the bank.
* Updating sRGB quality (USQ), three steps:
  1. ``pseudo-RAW₁ = f_ISP⁻¹(Ī_S; P_i)``;
  2. ``updated sRGB = f_ISP(pseudo-RAW₁; DNN(pseudo-RAW₁))`` (deterministic,
     the predictor's own mode — local for the shipped spec);
  3. ``pseudo-RAW₂ = f_ISP⁻¹(updated sRGB; P_j)``;
  the pair is (pseudo-RAW₂, updated sRGB).
* Optional noise (SemiISP §3.4 Eq. 15, appendix A.3): ``N(x, σ_s²·x + σ_r²)``
  with ``σ_s² ~ U(0, 0.01)``, ``σ_r² ~ U(0, 0.0002)`` per image, on the mosaic.

Pseudo RAWs are camera RGB clipped to [0, 1] (the sensor saturates), then
mosaicked to a CFA, made noisy when asked, and demosaiced by the same front
end as real RAWs (:mod:`.front_end`), so both kinds of input look alike.
Every draw comes from one numpy Generator; sample ``k`` of image ``i`` uses
``default_rng([seed, i, k])``, so pools are reproducible and order-free.

Source: Yoshimura, Otsuka, Berdan, Ohashi, "SemiISP/SemiIE: Semi-Supervised Image Signal
Processor and Image Enhancement Leveraging One-to-Many Mapping sRGB-to-RAW",
arXiv:2504.02345, 2025 (SemiISP), §3.1 Eq. 9 (one-to-many
inverse), §3.2 (USQ), §3.4 (noise).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from plugins_builtin.noise.models import add_noise, draw_semiisp_levels
from plugins_builtin.semiisp.bank import ParameterBank
from plugins_builtin.semiisp.front_end import camera_rgb, mosaic_of
from plugins_builtin.semiisp.function_isp import FunctionISP


def unprocess(
    isp: FunctionISP,
    bank: ParameterBank,
    srgb: np.ndarray,
    rng: np.random.Generator,
    sampling: str = "whole",
) -> tuple[np.ndarray, dict[str, dict[str, Any]]]:
    """``f_ISP⁻¹(srgb; P)`` with ``P`` drawn from the bank; camera RGB clipped to [0, 1]."""
    params = bank.draw(rng, sampling)
    return np.clip(isp.invert(srgb, params), 0.0, 1.0).astype(np.float32), params


def update_srgb_quality(
    isp: FunctionISP,
    bank: ParameterBank,
    srgb: np.ndarray,
    rng: np.random.Generator,
    sampling: str = "whole",
) -> tuple[np.ndarray, np.ndarray]:
    """USQ: ``(pseudo-RAW₂, updated sRGB)`` for one sRGB image (camera RGB, sRGB)."""
    raw1, _ = unprocess(isp, bank, srgb, rng, sampling)
    updated = np.clip(isp.render(raw1), 0.0, 1.0)
    raw2, _ = unprocess(isp, bank, updated, rng, sampling)
    return raw2, updated.astype(np.float32)


def as_raw_input(
    rgb: np.ndarray, rng: np.random.Generator, *, pattern: str = "rggb", noise: bool = False
) -> np.ndarray:
    """Camera RGB → mosaic (→ noise) → front-end camera RGB, as a real RAW would arrive."""
    mosaic = mosaic_of(rgb, pattern).astype(np.float32)
    if noise:
        mosaic = add_noise(mosaic, draw_semiisp_levels(rng), rng)
    return camera_rgb(mosaic, pattern)


def pseudo_pair(
    isp: FunctionISP,
    bank: ParameterBank,
    srgb: np.ndarray,
    rng: np.random.Generator,
    *,
    usq: bool = True,
    noise: bool = False,
    sampling: str = "whole",
    pattern: str = "rggb",
) -> tuple[np.ndarray, np.ndarray]:
    """One pseudo pair ``(RAW-side input, sRGB target)`` for an unpaired sRGB image."""
    srgb = np.asarray(srgb, dtype=np.float32)
    if usq:
        raw, target = update_srgb_quality(isp, bank, srgb, rng, sampling)
    else:
        raw, _ = unprocess(isp, bank, srgb, rng, sampling)
        target = srgb
    return as_raw_input(raw, rng, pattern=pattern, noise=noise), target


def pseudo_pairs(
    isp: FunctionISP,
    bank: ParameterBank,
    images: Sequence[np.ndarray],
    *,
    samples: int = 1,
    seed: int = 0,
    usq: bool = True,
    noise: bool = False,
    sampling: str = "whole",
    pattern: str = "rggb",
    progress: bool = False,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``samples`` pseudo pairs per image (sample ``k`` of image ``i`` from ``[seed, i, k]``)."""
    from tqdm.auto import tqdm

    pairs = []
    total = len(images) * samples
    with tqdm(total=total, disable=not progress, desc="pseudo pairs", unit="pair") as bar:
        for index, image in enumerate(images):
            for k in range(samples):
                rng = np.random.default_rng([seed, index, k])
                pairs.append(
                    pseudo_pair(
                        isp,
                        bank,
                        image,
                        rng,
                        usq=usq,
                        noise=noise,
                        sampling=sampling,
                        pattern=pattern,
                    )
                )
                bar.update(1)
    return pairs
