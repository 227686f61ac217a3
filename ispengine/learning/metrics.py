"""Image quality metrics for the head-to-head benchmarks (numpy; scikit-image for SSIM and ΔE).

Every metric compares a prediction with a target of the same shape. RAW
metrics work on *normalised* Bayer mosaics: float ``(H, W)`` arrays with
0 = black level and 1 = white level, H and W even. Packed mosaics are
``(H/2, W/2, 4)`` in the engine's CFA channel order R, Gr, Gb, B (Gr is the
green on the red rows), whatever the Bayer pattern.

Bad inputs (different shapes, odd mosaic sizes, NaN or infinite values, empty
arrays, an unknown Bayer pattern) raise :class:`ispengine.core.errors.InputError`
with a one-line message. All arithmetic is done in float64.

scikit-image is imported inside :func:`ssim` and :func:`delta_e2000` only, so importing this module
stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ispengine.core.cfa import PATTERNS, pack_cfa
from ispengine.core.errors import InputError, ParamError

__all__ = [
    "aim_psnr",
    "delta_e2000",
    "diversity",
    "histogram_kl",
    "mae",
    "pack",
    "psnr",
    "raw_metrics",
    "srgb_metrics",
    "ssim",
]

# Wang et al. 2004: an 11-tap Gaussian window (sigma 1.5, truncated at 3.5 sigma).
_SSIM_SIGMA = 1.5
_SSIM_WINDOW = 11


# --------------------------------------------------------------------------- validation


def _as_image(x: Any, name: str) -> np.ndarray:
    """``x`` as a float64 array, rejecting empty arrays and non-finite values."""
    try:
        array = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InputError(f"{name} is not a numeric array: {error}") from None
    if array.size == 0:
        raise InputError(f"{name} is empty (shape {array.shape})")
    if not np.all(np.isfinite(array)):
        what = "NaN" if np.isnan(array).any() else "infinite"
        raise InputError(f"{name} contains {what} values")
    return array


def _pair(pred: Any, target: Any) -> tuple[np.ndarray, np.ndarray]:
    """``pred`` and ``target`` as validated float64 arrays of one shape."""
    p = _as_image(pred, "pred")
    t = _as_image(target, "target")
    if p.shape != t.shape:
        raise InputError(f"pred and target shapes differ: {p.shape} vs {t.shape}")
    return p, t


def _check_range(data_range: float) -> float:
    value = float(data_range)
    if not (math.isfinite(value) and value > 0):
        raise ParamError(f"data_range must be a positive finite number, got {data_range!r}")
    return value


def _check_mosaic(mosaic: np.ndarray, name: str) -> None:
    if mosaic.ndim < 2:
        raise InputError(f"{name} must be a mosaic (..., H, W), got shape {mosaic.shape}")
    height, width = mosaic.shape[-2:]
    if height % 2 or width % 2:
        raise InputError(f"{name} must have even height and width, got {height}x{width}")


def _check_pattern(pattern: str) -> str:
    name = str(pattern).lower()
    if name not in PATTERNS:
        raise InputError(f"unknown Bayer pattern {pattern!r}; expected one of {PATTERNS}")
    return name


# --------------------------------------------------------------------------- pixel metrics


def _psnr(p: np.ndarray, t: np.ndarray, data_range: float) -> float:
    mse = float(np.mean((p - t) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(data_range**2 / mse)


def psnr(pred: Any, target: Any, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB.

    ``PSNR = 10 · log10(data_range² / MSE)`` with
    ``MSE = mean((pred − target)²)`` over all elements. Returns ``math.inf``
    when the inputs are identical (MSE = 0).
    """
    p, t = _pair(pred, target)
    return _psnr(p, t, _check_range(data_range))


def mae(pred: Any, target: Any) -> float:
    """Mean absolute error: ``MAE = mean(|pred − target|)`` over all elements."""
    p, t = _pair(pred, target)
    return float(np.mean(np.abs(p - t)))


def _ssim_window(height: int, width: int) -> int | None:
    """The crop window for an ``height × width`` image; None means the default 11."""
    side = min(height, width)
    if side >= _SSIM_WINDOW:
        return None
    return side if side % 2 else side - 1


def _ssim(p: np.ndarray, t: np.ndarray, data_range: float, channels: bool) -> float:
    from skimage.metrics import structural_similarity

    if p.ndim < 2:
        raise InputError(f"SSIM needs a 2-D image or (..., H, W, C), got shape {p.shape}")
    height, width = (p.shape[-3], p.shape[-2]) if channels else p.shape[-2:]
    if min(height, width) < 2:
        raise InputError(f"SSIM needs images of at least 2x2 pixels, got {height}x{width}")
    spatial = p.shape[-3:] if channels else p.shape[-2:]
    p_batch = p.reshape((-1, *spatial))
    t_batch = t.reshape((-1, *spatial))
    values = [
        structural_similarity(
            a,
            b,
            data_range=data_range,
            channel_axis=-1 if channels else None,
            gaussian_weights=True,
            sigma=_SSIM_SIGMA,
            use_sample_covariance=False,
            win_size=_ssim_window(height, width),
        )
        for a, b in zip(p_batch, t_batch, strict=True)
    ]
    return float(np.mean(values))


def ssim(pred: Any, target: Any, data_range: float = 1.0) -> float:
    """Structural similarity (Wang et al. 2004), via scikit-image.

    ``SSIM(x, y) = mean over windows of
    (2·μx·μy + C1)(2·σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2))``
    with ``C1 = (0.01·L)²``, ``C2 = (0.03·L)²``, ``L = data_range``; the local
    statistics use a Gaussian window with sigma 1.5 (11 taps) and population
    (not sample) covariance — ``structural_similarity(gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False)``, the paper's settings.

    Shapes: a 2-D ``(H, W)`` image, or channel-last ``(..., H, W, C)`` (any
    ``ndim >= 3``): the SSIM of each channel is averaged, and leading axes
    are treated as a batch whose SSIMs are averaged too.

    Small images: scikit-image averages the SSIM map after cropping a border of
    ``(win_size − 1) / 2`` pixels and refuses images smaller than ``win_size``
    (11 with the Gaussian window). For images with a side under 11 pixels the
    crop window is shrunk to the largest odd size ≤ that side (down to 1 for
    a 2-pixel side); the Gaussian filter itself is unchanged. Images with a
    side under 2 pixels raise :class:`InputError`.
    """
    p, t = _pair(pred, target)
    return _ssim(p, t, _check_range(data_range), channels=p.ndim >= 3)


def delta_e2000(pred: Any, target: Any) -> float:
    """Mean CIEDE2000 colour difference of two sRGB images ``(H, W, 3)`` in [0, 1].

    Each image is clipped to [0, 1], converted to CIELAB (D65, 2° observer; the sRGB
    EOTF of IEC 61966-2-1 then the sRGB → XYZ matrix, scikit-image's ``rgb2lab``)
    and compared per pixel with ``ΔE00 = √((ΔL'/(k_L S_L))² + (ΔC'/(k_C S_C))² +
    (ΔH'/(k_H S_H))² + R_T (ΔC'/(k_C S_C))(ΔH'/(k_H S_H)))``, ``k_L = k_C = k_H = 1``
    (``deltaE_ciede2000``); the mean over pixels is returned. 0 is identical; about
    1 is a just-noticeable difference.

    Source: G. Sharma, W. Wu, E. N. Dalal, "The CIEDE2000 color-difference formula:
    implementation notes, supplementary test data, and mathematical observations",
    Color Research & Application 30(1), 2005, Eqs. 1–17.
    """
    from skimage.color import deltaE_ciede2000, rgb2lab

    p, t = _pair(pred, target)
    if p.ndim != 3 or p.shape[-1] != 3:
        raise InputError(f"delta_e2000: expected sRGB images (H, W, 3), got shape {p.shape}")
    lab_p = rgb2lab(np.clip(p, 0.0, 1.0))
    lab_t = rgb2lab(np.clip(t, 0.0, 1.0))
    return float(np.mean(deltaE_ciede2000(lab_p, lab_t)))


# --------------------------------------------------------------------------- mosaics


def pack(mosaic: Any, pattern: str) -> np.ndarray:
    """Pack a Bayer mosaic ``(..., H, W)`` into ``(..., H/2, W/2, 4)``, channels R, Gr, Gb, B.

    ``packed[..., i, j, k] = mosaic[..., 2i + a_k, 2j + b_k]`` where ``(a_k, b_k)``
    is the site of CFA channel k in the 2×2 cell of ``pattern``
    (:func:`ispengine.core.cfa.cfa_positions`).
    """
    array = _as_image(mosaic, "mosaic")
    _check_mosaic(array, "mosaic")
    return pack_cfa(array, _check_pattern(pattern), np)


def _histogram(x: np.ndarray, bins: int, lo: float, hi: float, eps: float) -> np.ndarray:
    counts, _ = np.histogram(np.clip(x, lo, hi), bins=bins, range=(lo, hi))
    p = counts / counts.sum()
    p = p + eps
    return p / p.sum()


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    return float(np.sum(p * np.log(p / q)))


def _symmetric_kl(
    p_values: np.ndarray, q_values: np.ndarray, bins: int, lo: float, hi: float, eps: float
) -> float:
    p = _histogram(p_values, bins, lo, hi, eps)
    q = _histogram(q_values, bins, lo, hi, eps)
    return 0.5 * (_kl(p, q) + _kl(q, p))


def histogram_kl(
    pred: Any,
    target: Any,
    bins: int = 256,
    value_range: tuple[float, float] = (0.0, 1.0),
    eps: float = 1e-7,
    *,
    pattern: str | None = None,
) -> float:
    """Symmetric Kullback–Leibler divergence between the value histograms (nats).

    ``D = ½ · (KL(p‖q) + KL(q‖p))`` with ``KL(p‖q) = Σ_i p_i · ln(p_i / q_i)``,
    where p and q are the ``bins``-bin histograms of ``pred`` and ``target``
    over ``value_range``: values outside the range are clipped into the end
    bins, the counts are normalised to sum 1, ``eps`` is added to every bin
    and the result renormalised (so empty bins stay finite). D is 0 for
    identical histograms and exactly symmetric in its arguments.

    With ``pattern`` given, both inputs are mosaics ``(..., H, W)``: D is
    computed per packed CFA channel (R, Gr, Gb, B) and the four are averaged.
    """
    p, t = _pair(pred, target)
    if int(bins) != bins or bins < 1:
        raise ParamError(f"bins must be a positive integer, got {bins!r}")
    lo, hi = (float(v) for v in value_range)
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        raise ParamError(f"value_range must be finite with high > low, got {value_range!r}")
    if not (math.isfinite(eps) and eps > 0):
        raise ParamError(f"eps must be a positive finite number, got {eps!r}")
    if pattern is None:
        return _symmetric_kl(p, t, int(bins), lo, hi, eps)
    packed_p, packed_t = pack(p, pattern), pack(t, pattern)
    return float(
        np.mean(
            [
                _symmetric_kl(packed_p[..., k], packed_t[..., k], int(bins), lo, hi, eps)
                for k in range(4)
            ]
        )
    )


def diversity(samples: Sequence[Any] | np.ndarray) -> float:
    """Mean over pixels of the standard deviation across samples.

    ``diversity = mean_x sqrt(Σ_n (s_n(x) − s̄(x))² / (N − 1))`` for N ≥ 2
    same-shaped samples ``s_n`` (the sample standard deviation, ``ddof=1``).
    0 for identical samples; for i.i.d. noise of standard deviation σ it
    tends to ``c4(N) · σ`` (``c4(2) ≈ 0.80``, ``c4(16) ≈ 0.98``).

    ``samples`` is a sequence of arrays or one array whose first axis indexes
    the samples.
    """
    if isinstance(samples, np.ndarray) and samples.ndim == 0:
        raise InputError("diversity needs a sequence of at least 2 samples, got a scalar")
    items = list(samples)
    if len(items) < 2:
        raise InputError(f"diversity needs at least 2 samples, got {len(items)}")
    arrays = [_as_image(item, f"sample {n}") for n, item in enumerate(items)]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise InputError(f"samples have different shapes: {sorted(shapes)}")
    stacked = np.stack(arrays)
    # The standard deviation is shift-invariant; shifting by the first sample makes
    # identical samples give exactly 0 (no rounding in the mean).
    return float(np.mean(np.std(stacked - stacked[0], axis=0, ddof=1)))


# --------------------------------------------------------------------------- summaries


def raw_metrics(pred_mosaic: Any, true_mosaic: Any, pattern: str) -> dict[str, float]:
    """All RAW metrics of a predicted normalised mosaic against the true one.

    Keys: ``psnr``, ``ssim``, ``mae`` on the ``(H, W)`` mosaic itself;
    ``psnr_packed`` — the mean over the four packed channels R, Gr, Gb, B of
    each channel's PSNR; ``ssim_packed`` — the SSIM of the packed
    ``(H/2, W/2, 4)`` image (mean over channels); ``kl`` — the symmetric
    histogram KL of each packed channel, averaged (:func:`histogram_kl`).
    ``data_range`` is 1 throughout.
    """
    p, t = _pair(pred_mosaic, true_mosaic)
    _check_mosaic(p, "pred_mosaic")
    name = _check_pattern(pattern)
    packed_p, packed_t = pack(p, name), pack(t, name)
    return {
        "psnr": _psnr(p, t, 1.0),
        "ssim": _ssim(p, t, 1.0, channels=False),
        "mae": float(np.mean(np.abs(p - t))),
        "psnr_packed": float(
            np.mean([_psnr(packed_p[..., k], packed_t[..., k], 1.0) for k in range(4)])
        ),
        "ssim_packed": _ssim(packed_p, packed_t, 1.0, channels=True),
        "kl": histogram_kl(p, t, pattern=name),
    }


def aim_psnr(
    pred_mosaic: Any,
    true_mosaic: Any,
    pattern: str,
    black_level: Any,
    white_level: float,
) -> float:
    """RAW PSNR scored the way of the AIM 2022 reverse-ISP challenge.

    The challenge (Conde et al., "Reversed Image Signal Processing and RAW
    Reconstruction. AIM 2022 Challenge Report", ECCV 2022 workshops) packs the
    RAW to 4 channels and divides the digital numbers by 1024, the range of
    its 10-bit cameras, without subtracting the black level; the score is
    ``10·log10(1 / mean((ref − res)²))`` over the whole packed image. Here the
    normalised mosaics are turned back into digital numbers with the true
    camera's ``black_level`` (per CFA channel R, Gr, Gb, B, or one number) and
    ``white_level``, and divided by ``2**bits``, ``bits = ⌈log2(white_level + 1)⌉``
    (1024 for a 10-bit RAW); levels of an already normalised RAW (white ≤ 1) are
    left as they are. The black level does not change the error, so the
    score differs from the packed PSNR of normalised mosaics by the constant
    ``20·log10(2**bits / (white − black))`` (per channel) and the averaging.
    """
    from ispengine.core.cfa import cfa_cell

    p, t = _pair(pred_mosaic, true_mosaic)
    _check_mosaic(p, "pred_mosaic")
    name = _check_pattern(pattern)
    try:
        black = np.broadcast_to(np.asarray(black_level, dtype=np.float64), (4,))
        white = float(white_level)
    except (TypeError, ValueError) as error:
        raise InputError(f"aim_psnr: levels: {error}") from None
    if not (np.all(np.isfinite(black)) and math.isfinite(white) and white > black.max()):
        raise InputError(
            f"aim_psnr: white level {white:g} must exceed every black level {black.tolist()}"
        )
    if white <= 1.0:  # levels of an already normalised RAW: nothing to convert
        return _psnr(pack(p, name), pack(t, name), 1.0)
    black_sites = np.tile(cfa_cell(black, name), (p.shape[0] // 2, p.shape[1] // 2))
    scale = (white - black_sites) / 2.0 ** math.ceil(math.log2(white + 1.0))
    return _psnr(pack(p * scale, name), pack(t * scale, name), 1.0)


def srgb_metrics(pred: Any, target: Any) -> dict[str, float]:
    """``psnr``, ``ssim`` and ``mae`` of an sRGB image in [0, 1] (``data_range`` 1).

    ``(H, W, 3)`` images get the channel-averaged SSIM; ``(H, W)`` images the
    grey-level one.
    """
    p, t = _pair(pred, target)
    return {
        "psnr": _psnr(p, t, 1.0),
        "ssim": _ssim(p, t, 1.0, channels=p.ndim >= 3),
        "mae": float(np.mean(np.abs(p - t))),
    }
