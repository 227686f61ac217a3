"""Shot + read noise models: level distributions and the heteroscedastic Gaussian.

All three models add the usual Gaussian approximation of Poisson shot noise
plus Gaussian read noise to normalised linear RAW values ``x`` (about [0, 1])::

    y = x + n,    n ~ N(0, shot·x + read)          (shot, read: variances)

with the variance taken as ``max(shot·x + read, 0)`` so that slightly
negative inputs (RAW after black-level subtraction) stay defined. No clipping
follows. They differ only in how the per-image levels ``(shot, read)`` are
drawn; each ``draw_*_levels(rng)`` takes a :class:`numpy.random.Generator` and
makes exactly the draws listed, in that order (tests reimplement them):

``upi`` — Brooks et al., "Unprocessing Images for Learned Raw Denoising",
CVPR 2019, §3.3 and ``random_noise_levels`` of the reference code::

    u = rng.uniform(ln 1e-4, ln 0.012)        # 1st draw: ln(shot)
    e = rng.normal(0, 0.26)                   # 2nd draw: 0.26 is the std
    shot = exp(u)
    read = exp(2.18·u + 1.20 + e)

``cycleisp`` — Zamir et al., "CycleISP", CVPR 2020: the reference code
(``random_noise_levels_dnd``) takes UPI's constants but works in log10::

    u = rng.uniform(log10 1e-4, log10 0.012)  # 1st draw: log10(shot)
    e = rng.normal(0, 0.26)                   # 2nd draw
    shot = 10**u
    read = 10**(2.18·u + 1.20 + e)

The shot distribution is the same as UPI's (log-uniform over the same
interval) and so is the power law ``read ∝ shot**2.18``, but the constant and
the spread are not: adding 1.20 in log10 units multiplies read by
10**1.20 ≈ 15.8 rather than e**1.20 ≈ 3.3, so the median read variance is
≈4.8 times UPI's at every shot level (≈5.6e-6 against ≈1.2e-6 at the median
shot ≈1.1e-3), and a 0.26 spread in log10 is 0.26·ln 10 ≈ 0.60 in natural-log
terms, 2.3 times wider. A noisier-read, more spread-out distribution; this is
what the CycleISP code does, kept here as it is, not a typo to fix.

``semiisp`` — Yoshimura, Otsuka, Berdan, Ohashi, "SemiISP/SemiIE: Semi-Supervised Image
Signal Processor and Image Enhancement Leveraging One-to-Many Mapping sRGB-to-RAW",
arXiv:2504.02345, 2025, §3.4 Eq. 15 and appendix A.3, per image::

    shot = rng.uniform(0, 0.01)               # 1st draw: σ_s²
    read = rng.uniform(0, 0.0002)             # 2nd draw: σ_r²

i.e. ``y ~ N(x, σ_s²·x + σ_r²)``.

:func:`add_noise` draws ``rng.standard_normal(x.shape)`` (float64) after the
levels, computes ``x + sqrt(max(shot·x + read, 0))·z`` in float64 and stores
it in the input's dtype (a float32 result is the float64 one rounded).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from attrs import field, frozen

from ispengine.core.errors import InputError, ParamError

# Constants of the UPI / CycleISP level line (shared; CycleISP reads them in log10).
SHOT_MIN = 1e-4
SHOT_MAX = 0.012
READ_SLOPE = 2.18
READ_INTERCEPT = 1.20
READ_SPREAD = 0.26  # standard deviation of the read residual, in the model's log base
# SemiISP's per-image uniform ranges of the two variances.
SEMIISP_SHOT_MAX = 0.01
SEMIISP_READ_MAX = 0.0002


def _non_negative_finite(instance: Any, attribute: Any, value: float) -> None:
    if not math.isfinite(value) or value < 0:
        raise ParamError(
            key=attribute.name, message=f"expected a finite variance >= 0, got {value!r}"
        )


@frozen
class NoiseLevels:
    """Per-image noise levels: the variance is ``shot·x + read``.

    Attributes:
        shot: variance per unit of signal (shot / Poisson part), >= 0.
        read: signal-independent variance (read noise), >= 0.
    """

    shot: float = field(converter=float, validator=_non_negative_finite)
    read: float = field(converter=float, validator=_non_negative_finite)

    def variance(self, x: Any) -> np.ndarray:
        """``max(shot·x + read, 0)`` in float64."""
        return np.maximum(self.shot * np.asarray(x, dtype=np.float64) + self.read, 0.0)


def draw_upi_levels(rng: np.random.Generator) -> NoiseLevels:
    """UPI levels (natural log): a uniform ``ln(shot)``, then the normal read residual."""
    log_shot = rng.uniform(math.log(SHOT_MIN), math.log(SHOT_MAX))
    residual = rng.normal(0.0, READ_SPREAD)
    log_read = READ_SLOPE * log_shot + READ_INTERCEPT + residual
    return NoiseLevels(math.exp(log_shot), math.exp(log_read))


def draw_cycleisp_levels(rng: np.random.Generator) -> NoiseLevels:
    """CycleISP levels (log10): a uniform ``log10(shot)``, then the normal read residual."""
    log_shot = rng.uniform(math.log10(SHOT_MIN), math.log10(SHOT_MAX))
    residual = rng.normal(0.0, READ_SPREAD)
    log_read = READ_SLOPE * log_shot + READ_INTERCEPT + residual
    return NoiseLevels(10.0**log_shot, 10.0**log_read)


def draw_semiisp_levels(rng: np.random.Generator) -> NoiseLevels:
    """SemiISP levels: ``σ_s² ~ U(0, 0.01)``, then ``σ_r² ~ U(0, 0.0002)``."""
    shot = rng.uniform(0.0, SEMIISP_SHOT_MAX)
    read = rng.uniform(0.0, SEMIISP_READ_MAX)
    return NoiseLevels(shot, read)


NOISE_MODELS: dict[str, Callable[[np.random.Generator], NoiseLevels]] = {
    "upi": draw_upi_levels,
    "cycleisp": draw_cycleisp_levels,
    "semiisp": draw_semiisp_levels,
}


def _float_array(x: Any) -> np.ndarray:
    array = np.asarray(x)
    if array.dtype not in (np.float32, np.float64):
        raise InputError(f"expected a float32 or float64 array, got dtype {array.dtype}")
    return array


def noisy(x: np.ndarray, shot: Any, read: Any, z: np.ndarray) -> np.ndarray:
    """``x + sqrt(max(shot·x + read, 0))·z`` computed in float64, stored in ``x``'s dtype.

    ``shot`` and ``read`` are numbers or arrays broadcasting against ``x``; ``z``
    holds standard normal draws of ``x``'s shape.
    """
    x64 = x.astype(np.float64, copy=False)
    variance = np.maximum(np.asarray(shot, np.float64) * x64 + np.asarray(read, np.float64), 0.0)
    return np.asarray(x64 + np.sqrt(variance) * z).astype(x.dtype, copy=False)


def noise_std(x: Any, levels: NoiseLevels) -> np.ndarray:
    """The noise standard deviation ``sqrt(max(shot·x + read, 0))``, in ``x``'s float dtype."""
    array = _float_array(x)
    return np.sqrt(levels.variance(array)).astype(array.dtype, copy=False)


def add_noise(x: Any, levels: NoiseLevels, rng: np.random.Generator) -> np.ndarray:
    """``x`` plus heteroscedastic Gaussian noise of the given levels, as a new array.

    Any shape (mosaic ``(H, W)``, packed ``(H, W, 4)``, RGB ``(H, W, 3)``, with
    leading batch axes); float32 stays float32, float64 stays float64. Draws
    ``rng.standard_normal(x.shape)`` (float64), once.
    """
    array = _float_array(x)
    z = rng.standard_normal(array.shape)
    return noisy(array, levels.shot, levels.read, z)
