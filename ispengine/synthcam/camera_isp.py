"""The hidden camera ISP of SynthCam: RAW → 8-bit sRGB, tuned by the capture parameters.

It stands for the camera's own (unknown to a method) image processing, built
from engine stages and filters, in this order:

1. ``black_level`` — DN to [0, 1] with the file's black and white levels;
2. ``mosaic_white_balance`` — the as-shot gains;
3. ``demosaic_malvar`` — Malvar–He–Cutler 2004; ``clip`` to [-1, 1] (saturated
   regions stay neutral instead of turning magenta; negative noise is kept
   until after denoising, so blacks are not lifted);
4. ``camera_to_srgb`` — the file's colour matrix ``M`` (LibRaw's derivation
   from ``ColorMatrix1``); a matrix with entries beyond the stage's declared
   range is applied as its principal square root twice (``M = √M · √M``;
   Higham 1987, "Computing real square roots of a real matrix", Linear
   Algebra Appl. 88);
5. ``local_wiener_denoise`` — ISO-dependent: the camera knows its noise
   profile (``S``, ``O`` at the ISO, :meth:`Camera.noise_profile`) and
   carries it through white balance and the matrix, ``S'_c = Σ_j M_cj² gain_j S``,
   ``O'_c = Σ_j M_cj² gain_j² O`` (mis-calibrated by a per-image factor
   ``2^N(0, 0.25²)``); strength ``0.55 + 0.45 q``, window ``1 + q`` pixels, with
   ``q = log2(ISO / 100) / 6`` in [0, 1];
6. ``chroma_denoise`` — σ ``min(0.5 + n / 0.006, 8)`` pixels with ``n`` the
   mid-grey noise (std) of 5., strength ``0.6 + 0.4 q``; ``clip`` negatives to 0;
7. ``local_tone_map`` — exposure-dependent: strength ``0.15 + 0.3 e`` (brighter
   scenes have more dynamic range to compress), base radius 5 % of the short
   side, anchor 0.18, gain limit 4, with ``e = (EV100 − 2) / 13`` in [0, 1] and
   ``EV100 = log2(N² / t) − log2(ISO / 100)`` from the capture parameters;
8. ``tone_curve`` — exposure-dependent: exposure ``+0.3 + 0.3 e`` EV (low-light
   scenes kept darker), white point ``2^(1.5 + e)``, contrast ``1.05 + 0.35 e``,
   pivot 0.18;
9. ``srgb_oetf`` (IEC 61966-2-1);
10. ``unsharp_mask`` — weaker and wider at high ISO: amount
    ``0.9 (1 − 0.75 q)``, radius ``0.8 + 0.4 q`` pixels;
11. ``quantize`` to 8 bits (the values of the 8-bit file, on [0, 1]).

Every tuned value gets a per-image random jitter from the sample's generator
(log-normal factors or additive normal offsets, listed in the returned
``jitter``), so images with the same capture parameters are not rendered
identically. :func:`isp_parameters` returns everything as a JSON-ready dict
(``stages``: ``{"type", "params"}`` in order, the schema of a pipeline spec's
``[[stage]]`` tables), and :func:`run_isp` runs exactly that.

No sRGB-to-RAW method may import this module: it is the camera that makes
their test data.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ispengine.core.stage import Stage
from ispengine.io.raw import RawImage
from ispengine.synthcam.cameras import Camera
from ispengine.synthcam.capture import EV100_RANGE
from plugins_builtin.canonical_stages.black_level import BlackLevel
from plugins_builtin.canonical_stages.clip import Clip
from plugins_builtin.canonical_stages.color_matrix import CameraToSRGB
from plugins_builtin.canonical_stages.demosaic import DemosaicMalvar
from plugins_builtin.canonical_stages.quantize import Quantize
from plugins_builtin.canonical_stages.srgb_transfer import SRGBOETF
from plugins_builtin.canonical_stages.white_balance import MosaicWhiteBalance
from plugins_builtin.filters.chroma_denoise import ChromaDenoise
from plugins_builtin.filters.local_tone_map import LocalToneMap
from plugins_builtin.filters.local_wiener_denoise import LocalWienerDenoise
from plugins_builtin.filters.tone_curve import ToneCurve
from plugins_builtin.filters.unsharp_mask import UnsharpMask

STAGE_TYPES: dict[str, type[Stage]] = {
    cls.name: cls
    for cls in (
        BlackLevel,
        MosaicWhiteBalance,
        Clip,
        DemosaicMalvar,
        LocalWienerDenoise,
        ChromaDenoise,
        CameraToSRGB,
        LocalToneMap,
        ToneCurve,
        SRGBOETF,
        UnsharpMask,
        Quantize,
    )
}
ISO_SPAN = (100.0, 6400.0)
HIGHEST_LINEAR = 64.0
MID_GREY = 0.18
# Mid-grey noise (linear sRGB std) per pixel of chroma blur sigma.
CHROMA_NOISE_UNIT = 0.006
CHROMA_SIGMA_MAX = 8.0


def capture_ev100(raw: RawImage) -> float:
    """``log2(N² / t) − log2(ISO / 100)``: the scene brightness the capture exposed for."""
    capture = raw.capture
    return math.log2(capture.f_number**2 / capture.exposure_time) - math.log2(capture.iso / 100)


def _unit(value: float, span: tuple[float, float]) -> float:
    return float(np.clip((value - span[0]) / (span[1] - span[0]), 0.0, 1.0))


def _within(spec_owner: type[Stage], name: str, value: Any) -> Any:
    """``value`` clipped into the declared range of parameter ``name``."""
    spec = spec_owner.param_spec(name)
    clipped = np.clip(np.asarray(value, dtype=np.float64), spec.low, spec.high)
    return clipped.tolist()


def _matrix_factors(matrix: np.ndarray) -> list[np.ndarray]:
    """``[M]``, or ``[√M, √M]`` when an entry of ``M`` is outside ``camera_to_srgb``'s range."""
    spec = CameraToSRGB.param_spec("matrix")
    if np.all((matrix >= spec.low) & (matrix <= spec.high)):
        return [matrix]
    from scipy.linalg import sqrtm

    root = sqrtm(matrix)
    if np.iscomplexobj(root):
        if np.max(np.abs(root.imag)) > 1e-9:
            raise ValueError("camera_to_srgb matrix has no real square root")
        root = root.real
    if not np.all((root >= spec.low) & (root <= spec.high)):
        raise ValueError("camera_to_srgb matrix is out of range even as two square-root factors")
    return [root, root]


def isp_parameters(raw: RawImage, camera: Camera, rng: np.random.Generator) -> dict[str, Any]:
    """The ISP's stages and values for ``raw`` (see the module docstring), JSON-ready."""
    capture = raw.capture
    ev100 = capture_ev100(raw)
    brightness = _unit(ev100, EV100_RANGE)
    iso_level = float(np.clip(math.log2(capture.iso / ISO_SPAN[0]) / 6.0, 0.0, 1.0))
    height, width = raw.shape
    jitter = {
        "noise_profile_log2": float(rng.normal(0.0, 0.25)),
        "denoise_strength": float(rng.normal(0.0, 0.05)),
        "denoise_radius_log2": float(rng.normal(0.0, 0.1)),
        "chroma_sigma_log2": float(rng.normal(0.0, 0.15)),
        "chroma_strength": float(rng.normal(0.0, 0.05)),
        "local_tone_strength": float(rng.normal(0.0, 0.04)),
        "local_tone_radius_log2": float(rng.normal(0.0, 0.2)),
        "exposure": float(rng.normal(0.0, 0.1)),
        "white_log2": float(rng.normal(0.0, 0.2)),
        "contrast": float(rng.normal(0.0, 0.05)),
        "sharpen_amount_log2": float(rng.normal(0.0, 0.15)),
        "sharpen_radius": float(rng.normal(0.0, 0.05)),
    }
    gains = np.asarray(raw.wb_gains, dtype=np.float64)
    matrix = np.asarray(raw.camera_to_srgb, dtype=np.float64)
    scale, offset = camera.noise_profile(capture.iso)
    calibration = 2.0 ** jitter["noise_profile_log2"]
    # Noise variance S·x + O per camera channel after white balance, through the matrix.
    spread = matrix**2
    noise_scale = spread @ (gains * scale) * calibration
    noise_offset = spread @ (gains**2 * offset) * calibration
    mid_grey_noise = float(np.mean(np.sqrt(noise_scale * MID_GREY + noise_offset)))
    wiener = LocalWienerDenoise
    stages: list[dict[str, Any]] = [
        {
            "type": "black_level",
            "params": {
                "black": np.asarray(raw.black_level).tolist(),
                "white": float(raw.white_level),
                "pattern": raw.cfa_pattern,
            },
        },
        {
            "type": "mosaic_white_balance",
            "params": {"gains": gains.tolist(), "pattern": raw.cfa_pattern},
        },
        {"type": "demosaic_malvar", "params": {"pattern": raw.cfa_pattern}},
        {"type": "clip", "params": {"low": -1.0, "high": 1.0}},
    ]
    stages += [
        {"type": "camera_to_srgb", "params": {"matrix": factor.tolist()}}
        for factor in _matrix_factors(matrix)
    ]
    stages += [
        {
            "type": "local_wiener_denoise",
            "params": {
                "noise_scale": _within(wiener, "noise_scale", noise_scale),
                "noise_offset": _within(wiener, "noise_offset", noise_offset),
                "radius": _within(
                    wiener, "radius", (1.0 + iso_level) * 2.0 ** jitter["denoise_radius_log2"]
                ),
                "strength": _within(
                    wiener, "strength", 0.55 + 0.45 * iso_level + jitter["denoise_strength"]
                ),
            },
        },
        {
            "type": "chroma_denoise",
            "params": {
                "sigma": _within(
                    ChromaDenoise,
                    "sigma",
                    min(0.5 + mid_grey_noise / CHROMA_NOISE_UNIT, CHROMA_SIGMA_MAX)
                    * 2.0 ** jitter["chroma_sigma_log2"],
                ),
                "strength": _within(
                    ChromaDenoise, "strength", 0.6 + 0.4 * iso_level + jitter["chroma_strength"]
                ),
            },
        },
        {"type": "clip", "params": {"low": 0.0, "high": HIGHEST_LINEAR}},
        {
            "type": "local_tone_map",
            "params": {
                "strength": _within(
                    LocalToneMap,
                    "strength",
                    0.15 + 0.3 * brightness + jitter["local_tone_strength"],
                ),
                "radius": _within(
                    LocalToneMap,
                    "radius",
                    0.05 * min(height, width) * 2.0 ** jitter["local_tone_radius_log2"],
                ),
                "anchor": 0.18,
                "max_gain": 4.0,
            },
        },
        {
            "type": "tone_curve",
            "params": {
                "exposure": _within(
                    ToneCurve, "exposure", 0.3 + 0.3 * brightness + jitter["exposure"]
                ),
                "white": _within(
                    ToneCurve, "white", 2.0 ** (1.5 + brightness + jitter["white_log2"])
                ),
                "contrast": _within(
                    ToneCurve, "contrast", 1.05 + 0.35 * brightness + jitter["contrast"]
                ),
                "pivot": 0.18,
            },
        },
        {"type": "srgb_oetf", "params": {}},
        {
            "type": "unsharp_mask",
            "params": {
                "amount": _within(
                    UnsharpMask,
                    "amount",
                    0.9 * (1 - 0.75 * iso_level) * 2.0 ** jitter["sharpen_amount_log2"],
                ),
                "radius": _within(
                    UnsharpMask, "radius", 0.8 + 0.4 * iso_level + jitter["sharpen_radius"]
                ),
            },
        },
        {"type": "quantize", "params": {"bits": 8}},
    ]
    return {
        "ev100": ev100,
        "brightness": brightness,
        "iso_level": iso_level,
        "jitter": jitter,
        "stages": stages,
    }


def build_isp(parameters: dict[str, Any]) -> list[Stage]:
    """The configured stage instances of :func:`isp_parameters`' ``stages``, in order."""
    return [STAGE_TYPES[entry["type"]](**entry["params"]) for entry in parameters["stages"]]


def run_isp(raw: RawImage, parameters: dict[str, Any]) -> np.ndarray:
    """Develop ``raw``: 8-bit sRGB values on [0, 1], ``(H, W, 3)`` float32."""
    image = np.asarray(raw.mosaic, dtype=np.float32)
    for stage in build_isp(parameters):
        image = stage(image)
    return image


def render_srgb(
    raw: RawImage, camera: Camera, rng: np.random.Generator
) -> tuple[np.ndarray, dict[str, Any]]:
    """The camera's sRGB rendering of ``raw`` and the ISP parameters it used."""
    parameters = isp_parameters(raw, camera, rng)
    return run_isp(raw, parameters), parameters
