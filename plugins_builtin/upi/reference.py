"""The published UPI unprocessing, formula for formula.

Source: T. Brooks, B. Mildenhall, T. Xue, J. Chen, D. Sharlet, J. T. Barron,
"Unprocessing Images for Learned Raw Denoising", CVPR 2019 (UPI), §3, as in the
authors' released code (the constants and the four XYZ→camera matrices). Every
function here is the published step, in float64:

1. ``inverse_smoothstep(y) = 0.5 − sin(asin(1 − 2y)/3)``, y clipped to [0, 1];
2. ``gamma_expansion(y) = max(y, 1e-8)^2.2``;
3. ``rgb2cam``: a random convex combination of XYZ→camera matrices (weights
   U(1e-8, 1e8), normalised to sum 1) times sRGB→XYZ, each row normalised to
   sum 1; ``cam2rgb = inv(rgb2cam)``; applied per pixel as ``p' = rgb2cam · p``;
4. safe inverse gains: ``rgb_gain = 1/N(0.8, 0.1)``, ``red_gain ~ U(1.9, 2.4)``,
   ``blue_gain ~ U(1.5, 1.9)``; ``g = [1/red, 1, 1/blue] / rgb_gain``;
   ``mask = (max(mean_c(img) − 0.9, 0)/0.1)²``; ``gains = max(mask + (1−mask)·g, g)``;
   then clip to [0, 1];
5. mosaic (RGGB in the paper; any Bayer pattern here).

Random draws happen in this order from one ``numpy.random.Generator``: the
matrix weights (one uniform per bank matrix), then ``N(0.8, 0.1)``, then the
red gain, then the blue gain.

The reference forward (``process``) is WB ``[r, 1, 1, b]`` → clip → bilinear
demosaic → ``cam2rgb`` → clip → ``max(x, 1e-8)^(1/2.2)``. It applies neither
``rgb_gain`` nor the smoothstep, so ``process(unprocess(s)) ≠ s``: for a flat
colour without highlights it returns ``inverse_smoothstep(s) · rgb_gain^(−1/2.2)``.
That is the upstream behaviour, kept here on purpose; the ``exact`` mode of the
``upi`` method is the invertible pair.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from attrs import frozen

from ispengine.io.raw.image import SRGB_TO_XYZ

# The four XYZ→camera matrices of the reference code (rows of each 3×3).
PUBLISHED_XYZ_TO_CAMERA = np.array(
    [
        [[1.0234, -0.2969, -0.2266], [-0.5625, 1.6328, -0.0469], [-0.0703, 0.2188, 0.6406]],
        [[0.4913, -0.0541, -0.0202], [-0.613, 1.3513, 0.2906], [-0.1564, 0.2151, 0.7183]],
        [[0.838, -0.263, -0.0639], [-0.2887, 1.0725, 0.2496], [-0.0627, 0.1427, 0.5438]],
        [[0.6596, -0.2079, -0.0562], [-0.4782, 1.3016, 0.1933], [-0.097, 0.1581, 0.5181]],
    ]
)
WEIGHT_RANGE = (1e-8, 1e8)
RGB_GAIN_NORMAL = (0.8, 0.1)  # mean and standard deviation of 1 / rgb_gain
RED_GAIN_RANGE = (1.9, 2.4)
BLUE_GAIN_RANGE = (1.5, 1.9)
HIGHLIGHT_INFLECTION = 0.9
GAMMA = 2.2
FLOOR = 1e-8


@frozen
class UnprocessDraw:
    """The random values of one unprocessing (the reference's metadata)."""

    cam2rgb: np.ndarray
    rgb_gain: float
    red_gain: float
    blue_gain: float

    @property
    def rgb2cam(self) -> np.ndarray:
        return np.linalg.inv(self.cam2rgb)

    def as_metadata(self) -> dict[str, Any]:
        return {
            "cam2rgb": self.cam2rgb.tolist(),
            "rgb_gain": self.rgb_gain,
            "red_gain": self.red_gain,
            "blue_gain": self.blue_gain,
        }


def random_rgb2cam(
    rng: np.random.Generator, bank: np.ndarray = PUBLISHED_XYZ_TO_CAMERA
) -> np.ndarray:
    """A random sRGB→camera matrix from a bank of XYZ→camera matrices (step 3)."""
    bank = np.asarray(bank, dtype=np.float64)
    weights = rng.uniform(*WEIGHT_RANGE, size=(len(bank), 1, 1))
    xyz2cam = np.sum(bank * weights, axis=0) / np.sum(weights, axis=0)
    return normalize_rows(xyz2cam @ SRGB_TO_XYZ)


def normalize_rows(rgb2cam: np.ndarray) -> np.ndarray:
    """Rows scaled to sum 1, so sRGB white maps to camera white."""
    return rgb2cam / np.sum(rgb2cam, axis=-1, keepdims=True)


def random_gains(rng: np.random.Generator) -> tuple[float, float, float]:
    """``(rgb_gain, red_gain, blue_gain)`` with the published distributions (step 4)."""
    rgb_gain = 1.0 / rng.normal(*RGB_GAIN_NORMAL)
    red_gain = rng.uniform(*RED_GAIN_RANGE)
    blue_gain = rng.uniform(*BLUE_GAIN_RANGE)
    return float(rgb_gain), float(red_gain), float(blue_gain)


def random_draw(
    rng: np.random.Generator, bank: np.ndarray = PUBLISHED_XYZ_TO_CAMERA
) -> UnprocessDraw:
    """One unprocessing's random values, in the reference's order."""
    rgb2cam = random_rgb2cam(rng, bank)
    return UnprocessDraw(np.linalg.inv(rgb2cam), *random_gains(rng))


def inverse_smoothstep(image: np.ndarray) -> np.ndarray:
    """Step 1: the inverse of ``3x² − 2x³`` on [0, 1] (published closed form)."""
    image = np.clip(image, 0.0, 1.0)
    return 0.5 - np.sin(np.arcsin(1.0 - 2.0 * image) / 3.0)


def gamma_expansion(image: np.ndarray) -> np.ndarray:
    """Step 2: ``max(y, 1e-8)^2.2``."""
    return np.maximum(image, FLOOR) ** GAMMA


def apply_ccm(image: np.ndarray, ccm: np.ndarray) -> np.ndarray:
    """``p' = ccm · p`` for every pixel of ``(H, W, 3)``."""
    return np.einsum("ij,hwj->hwi", ccm, image)


def safe_invert_gains(
    image: np.ndarray, rgb_gain: float, red_gain: float, blue_gain: float
) -> np.ndarray:
    """Step 4: inverse white balance and brightness, easing off towards highlights."""
    gains = np.array([1.0 / red_gain, 1.0, 1.0 / blue_gain]) / rgb_gain
    gray = np.mean(image, axis=-1, keepdims=True)
    mask = (np.maximum(gray - HIGHLIGHT_INFLECTION, 0.0) / (1.0 - HIGHLIGHT_INFLECTION)) ** 2.0
    safe_gains = np.maximum(mask + (1.0 - mask) * gains, gains)
    return image * safe_gains


def mosaic(image: np.ndarray, pattern: str = "rggb") -> np.ndarray:
    """Step 5: keep each site's colour of the Bayer ``pattern``, ``(H, W, 3) -> (H, W)``."""
    from plugins_builtin.canonical_stages.demosaic import mosaic as bayer_mosaic

    return bayer_mosaic(image, pattern, np)


def unprocess(srgb: np.ndarray, draw: UnprocessDraw, pattern: str = "rggb") -> np.ndarray:
    """Steps 1–5 with the given random values: sRGB ``(H, W, 3)`` → RAW mosaic in [0, 1]."""
    image = inverse_smoothstep(np.asarray(srgb, dtype=np.float64))
    image = gamma_expansion(image)
    image = apply_ccm(image, draw.rgb2cam)
    image = safe_invert_gains(image, draw.rgb_gain, draw.red_gain, draw.blue_gain)
    return mosaic(np.clip(image, 0.0, 1.0), pattern)


def process(mosaic_image: np.ndarray, draw: UnprocessDraw, pattern: str = "rggb") -> np.ndarray:
    """The reference forward: WB → clip → bilinear demosaic → cam2rgb → clip → gamma 1/2.2.

    Not the inverse of :func:`unprocess` (see the module docstring).
    """
    from plugins_builtin.canonical_stages.demosaic import DemosaicBilinear
    from plugins_builtin.canonical_stages.white_balance import scale_mosaic

    gains = np.array([draw.red_gain, 1.0, draw.blue_gain])
    balanced = np.clip(scale_mosaic(np.asarray(mosaic_image, float), gains, pattern, np), 0.0, 1.0)
    rgb = DemosaicBilinear(pattern=pattern)(balanced)
    rgb = np.clip(apply_ccm(rgb, draw.cam2rgb), 0.0, 1.0)
    return np.maximum(rgb, FLOOR) ** (1.0 / GAMMA)
