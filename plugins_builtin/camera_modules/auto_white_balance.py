"""Automatic white balance: gains estimated from the image, then applied.

For each image, an estimate ``e = (e_R, e_G, e_B)`` of the illuminant's colour
is made by one of three methods, and the gains are ``g_c = e_G / e_c``
(normalised to G = 1; a channel whose estimate, or the green one, is 0 keeps
gain 1), clipped to ``[min_gain, max_gain]``::

    grey_world:  e_c = mean(x_c)                       (the scene averages to grey)
    white_patch: e_c = percentile(x_c, percentile)     (the brightest patch is white;
                                                        percentile = 100: the maximum)
    grey_edge:   e_c = (mean |∇(G_σ * x_c)|^p)^(1/p)   (the mean edge is grey)

Grey-edge is the first-order instance of van de Weijer et al.'s framework:
the gradient of each channel is taken with Gaussian derivative filters of
scale σ (``scipy.ndimage.gaussian_filter`` with ``order = 1`` along H and along
W), its magnitude ``sqrt(∂x² + ∂y²)`` is pooled with the Minkowski norm p
(p = 1: the mean edge; large p approaches the maximum edge). Grey world and
white patch are the zeroth-order members (``p = 1`` and ``p = ∞`` on the
pixel values, no smoothing).

The stages apply ``y_c = g_c · x_c``: ``auto_white_balance`` on RGB
``(..., H, W, 3)``; ``mosaic_auto_white_balance`` on a Bayer mosaic ``(..., H, W)``,
estimating from the quarter-size RGB image of the CFA planes (R, the mean of
Gr and Gb, B) and applying each site the gain of its colour, as
``mosaic_white_balance`` does (this is where fast-openISP's awb, which takes
fixed gains, sits in its pipeline). Values are not clipped. Both are filters:
the gains depend on the image, so no fixed inverse exists. Use
:func:`estimate_gains` / :func:`estimate_mosaic_gains` to get the estimate
without applying it.

Reporting: the engine has no channel for stages to report values, so each
call logs its estimate on the ``logging`` logger ``"ispengine.camera_modules"``
at INFO level (one line per image: ``auto_white_balance (grey_world): image 0
gains R=… G=1 B=…``) and keeps it in the stage's ``last_gains`` attribute
(float64, shape ``batch + (3,)``).

Options (constant per pipeline):
    method: ``grey_world`` (default), ``white_patch`` or ``grey_edge``.
    percentile: [90, 100], default 99 (white_patch).
    sigma: [0.5, 10] pixels, default 1 (grey_edge Gaussian scale).
    p: [1, 20], default 6 (grey_edge Minkowski norm).
    min_gain: [0.05, 1], default 0.25; max_gain: [1, 20], default 4 (gain clip;
        within ``white_balance``'s range [0.05, 20]).
    pattern: Bayer pattern (``mosaic_auto_white_balance`` only).
Input: linear (black-levelled) data. numpy arrays only (the estimate uses
numpy and scipy); other array types raise an InputError.

Sources: G. Buchsbaum, "A spatial processor model for object colour perception",
Journal of the Franklin Institute 310(1), 1980 (grey world); E. H. Land, J. J. McCann,
"Lightness and retinex theory", JOSA 61(1), 1971 (white patch); J. van de Weijer,
T. Gevers, A. Gijsenij, "Edge-based color constancy", IEEE Transactions on Image
Processing 16(9), 2007 (the grey-edge hypothesis and its Minkowski-norm framework);
Q. Qiu, fast-openISP, github.com/QiuJueqin/fast-openISP, modules/awb.py (the gains'
place in the pipeline).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from ispengine.core.arrays import as_param, to_host
from ispengine.core.cfa import split_cfa
from ispengine.core.errors import InputError
from ispengine.core.params import OptionSpec
from ispengine.core.settings import FloatSetting
from ispengine.core.stage import Stage
from plugins_builtin.canonical_stages.cfa import PATTERN_OPTION
from plugins_builtin.canonical_stages.white_balance import scale_mosaic

LOGGER = logging.getLogger("ispengine.camera_modules")

METHODS = ("grey_world", "white_patch", "grey_edge")

AWB_OPTIONS = (
    OptionSpec("method", METHODS, default="grey_world", description="illuminant estimate"),
    FloatSetting("percentile", 99.0, "white_patch percentile per channel", low=90.0, high=100.0),
    FloatSetting("sigma", 1.0, "grey_edge Gaussian scale, pixels", low=0.5, high=10.0),
    FloatSetting("p", 6.0, "grey_edge Minkowski norm", low=1.0, high=20.0),
    FloatSetting("min_gain", 0.25, "smallest gain", low=0.05, high=1.0),
    FloatSetting("max_gain", 4.0, "largest gain", low=1.0, high=20.0),
)


def _require_numpy(x: Any, where: str) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise InputError(
            f"{where}: the estimate runs in numpy; got {type(x).__name__} (convert it to numpy)"
        )
    return x


def _illuminant(rgb: np.ndarray, method: str, percentile: float, sigma: float, p: float):
    """The illuminant estimate ``batch + (3,)`` of images ``batch + (H, W, 3)`` (float64;
    the Gaussian derivatives run in the image's dtype, the pooling in float64)."""
    axes = (-3, -2)
    if method == "grey_world":
        return rgb.mean(axis=axes, dtype=np.float64)
    if method == "white_patch":
        flat = rgb.reshape(rgb.shape[:-3] + (-1, 3))
        return np.percentile(flat, percentile, axis=-2).astype(np.float64)
    from scipy import ndimage

    lead = (0,) * (rgb.ndim - 3)
    sigmas = lead + (sigma, sigma, 0)
    dy = ndimage.gaussian_filter(rgb, sigmas, order=lead + (1, 0, 0))
    dx = ndimage.gaussian_filter(rgb, sigmas, order=lead + (0, 1, 0))
    magnitude = np.hypot(dx, dy).astype(np.float64, copy=False)
    return np.mean(magnitude**p, axis=axes) ** (1.0 / p)


def gains_from_illuminant(estimate: np.ndarray, min_gain: float, max_gain: float) -> np.ndarray:
    """``e_G / e_c`` per channel (1 where ``e_c`` or ``e_G`` is not positive), clipped."""
    green = estimate[..., 1:2]
    valid = (estimate > 0) & (green > 0)
    ratio = np.where(valid, green / np.where(valid, estimate, 1.0), 1.0)
    return np.clip(ratio, min_gain, max_gain)


def estimate_gains(
    image: Any,
    method: str = "grey_world",
    *,
    percentile: float = 99.0,
    sigma: float = 1.0,
    p: float = 6.0,
    min_gain: float = 0.25,
    max_gain: float = 4.0,
) -> np.ndarray:
    """White-balance gains (R, G, B), G = 1, of RGB images ``(..., H, W, 3)``.

    Returns float64 of shape ``batch + (3,)``; see the module docstring for the methods.
    """
    rgb = _require_numpy(image, "auto_white_balance")
    if rgb.ndim < 3 or rgb.shape[-1] != 3:
        raise InputError(f"auto_white_balance: expected (..., H, W, 3), got {rgb.shape}")
    if method not in METHODS:
        raise InputError(f"auto_white_balance: unknown method {method!r} ({', '.join(METHODS)})")
    estimate = _illuminant(rgb, method, percentile, sigma, p)
    return gains_from_illuminant(estimate, min_gain, max_gain)


def cfa_rgb(mosaic: np.ndarray, pattern: str) -> np.ndarray:
    """The quarter-size RGB image ``(..., H/2, W/2, 3)`` of a mosaic's planes (R, mean G, B)."""
    red, green_r, green_b, blue = split_cfa(mosaic, pattern)
    return np.stack([red, (green_r + green_b) / 2, blue], axis=-1)


def estimate_mosaic_gains(mosaic: Any, pattern: str = "rggb", method: str = "grey_world", **kw):
    """:func:`estimate_gains` of a Bayer mosaic ``(..., H, W)``, from its CFA planes."""
    return estimate_gains(
        cfa_rgb(_require_numpy(mosaic, "mosaic_auto_white_balance"), pattern), method, **kw
    )


def report(name: str, method: str, gains: np.ndarray) -> None:
    """Log each image's gains at INFO on ``ispengine.camera_modules``."""
    for index, (r, g, b) in enumerate(np.reshape(gains, (-1, 3))):
        LOGGER.info("%s (%s): image %d gains R=%.6g G=%.6g B=%.6g", name, method, index, r, g, b)


class AutoWhiteBalance(Stage):
    """Estimate white-balance gains from an RGB image and apply them, ``(..., H, W, 3)``."""

    name = "auto_white_balance"
    options = AWB_OPTIONS
    last_gains: np.ndarray | None = None

    def _estimate(self, x: Any) -> np.ndarray:
        settings = {k: v for k, v in self.config.items() if k not in ("method", "pattern")}
        return estimate_gains(x, self.config["method"], **settings)

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        """The gains are estimated on the host (a device image is copied there once) and
        applied on the image's device."""
        gains = self._estimate(to_host(x))
        self.last_gains = gains
        report(self.name, self.config["method"], gains)
        return x * as_param(gains[..., None, None, :], x, xp)


class MosaicAutoWhiteBalance(AutoWhiteBalance):
    """Estimate white-balance gains from a Bayer mosaic's planes and apply them, ``(..., H, W)``."""

    name = "mosaic_auto_white_balance"
    options = (*AWB_OPTIONS, PATTERN_OPTION)
    input_layout = "mosaic"
    output_layout = "mosaic"
    needs_even_size = True

    def _estimate(self, x: Any) -> np.ndarray:
        mosaic = _require_numpy(x, self.name)
        return super()._estimate(cfa_rgb(mosaic, self.config["pattern"]))

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        gains = self._estimate(to_host(x))
        self.last_gains = gains
        report(self.name, self.config["method"], gains)
        gains = as_param(gains[..., None, None, :], x, xp)
        return scale_mosaic(x, gains, self.config["pattern"], xp)


FILTERS = (AutoWhiteBalance, MosaicAutoWhiteBalance)
