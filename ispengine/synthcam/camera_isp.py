"""The hidden camera ISP of SynthCam: RAW → 8-bit sRGB, tuned by the capture parameters.

It stands for the camera's own (unknown to a method) image processing. Its
chain of stages is the pipeline spec ``camera_isp.toml`` beside this module,
run through :class:`ispengine.Pipeline` with stages resolved by name through
the plugin registry:

1. ``black_level`` — DN to [0, 1] with the file's black and white levels;
2. ``white_balance`` (``mosaic_white_balance``) — the as-shot gains;
3. ``demosaic`` (``demosaic_malvar``) — Malvar–He–Cutler 2004;
   ``clip_highlights`` to [-1, 1] (saturated regions stay neutral instead of
   turning magenta; negative noise is kept until after denoising, so blacks
   are not lifted);
4. ``camera_matrix`` (``camera_to_srgb``) — the file's colour matrix ``M``
   (LibRaw's derivation from ``ColorMatrix1``); a matrix with entries beyond
   the stage's declared range is applied as its principal square root twice
   (``M = √M · √M``; Higham 1987, "Computing real square roots of a real
   matrix", Linear Algebra Appl. 88);
5. ``denoise`` (``local_wiener_denoise``) — ISO-dependent: the camera knows
   its noise profile (``S``, ``O`` at the ISO, :meth:`Camera.noise_profile`)
   and carries it through white balance and the matrix,
   ``S'_c = Σ_j M_cj² gain_j S``, ``O'_c = Σ_j M_cj² gain_j² O``
   (mis-calibrated by a per-image factor ``2^N(0, 0.25²)``); strength
   ``0.55 + 0.45 q``, window ``1 + q`` pixels, with ``q = log2(ISO / 100) / 6``
   in [0, 1];
6. ``chroma_denoise`` — σ ``min(0.5 + n / 0.006, 8)`` pixels with ``n`` the
   mid-grey noise (std) of 5., strength ``0.6 + 0.4 q``; ``clip_negatives``
   to [0, 64];
7. ``local_tone_map`` — exposure-dependent: strength ``0.15 + 0.3 e``
   (brighter scenes have more dynamic range to compress), base radius 5 % of
   the short side, anchor 0.18, gain limit 4, with ``e = (EV100 − 2) / 13`` in
   [0, 1] and ``EV100 = log2(N² / t) − log2(ISO / 100)`` from the capture
   parameters;
8. ``tone_curve`` — exposure-dependent: exposure ``+0.3 + 0.3 e`` EV
   (low-light scenes kept darker), white point ``2^(1.5 + e)``, contrast
   ``1.05 + 0.35 e``, pivot 0.18;
9. ``srgb_oetf`` (IEC 61966-2-1);
10. ``sharpen`` (``unsharp_mask``) — weaker and wider at high ISO: amount
    ``0.9 (1 − 0.75 q)``, radius ``0.8 + 0.4 q`` pixels;
11. ``quantize`` to 8 bits (the values of the 8-bit file, on [0, 1]).

The spec holds the chain, its fixed values and its ``from_metadata``
bindings; :func:`isp_parameters` fills in the file's metadata and the tuned
values by stage label. Every tuned value gets a per-image random jitter from
the sample's generator (log-normal factors or additive normal offsets, listed
in the returned ``jitter``), so images with the same capture parameters are
not rendered identically, and is clipped into the parameter's declared
range. The filled ``stages`` (``{"type", "params"}`` in order) are the
``[[stage]]`` tables of a complete pipeline spec, and :func:`run_isp` runs
exactly that, stage by stage.

No sRGB-to-RAW method may import this module: it is the camera that makes
their test data.
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from ispengine.core.json_values import json_ready
from ispengine.core.params import ParamSpec
from ispengine.core.pipeline import Pipeline
from ispengine.core.plugins import get_registry
from ispengine.core.spec import PipelineSpec, load_spec_file, parse_spec
from ispengine.io.raw import RawImage
from ispengine.synthcam.cameras import Camera
from ispengine.synthcam.capture import EV100_RANGE

SPEC_PATH = Path(__file__).with_name("camera_isp.toml")
ISO_SPAN = (100.0, 6400.0)
MID_GREY = 0.18
# Mid-grey noise (linear sRGB std) per pixel of chroma blur sigma.
CHROMA_NOISE_UNIT = 0.006
CHROMA_SIGMA_MAX = 8.0


@cache
def isp_spec() -> PipelineSpec:
    """The ISP's pipeline spec, ``camera_isp.toml`` (read once)."""
    return parse_spec(load_spec_file(SPEC_PATH), str(SPEC_PATH))


def _declared(stage_type: str, name: str) -> ParamSpec:
    """The declaration of parameter ``name`` of the registered stage or filter ``stage_type``."""
    registry = get_registry()
    kind = "stage" if stage_type in registry.names("stage") else "filter"
    return registry.get(kind, stage_type).cls.param_spec(name)


def capture_ev100(raw: RawImage) -> float:
    """``log2(N² / t) − log2(ISO / 100)``: the scene brightness the capture exposed for."""
    capture = raw.capture
    return math.log2(capture.f_number**2 / capture.exposure_time) - math.log2(capture.iso / 100)


def _unit(value: float, span: tuple[float, float]) -> float:
    return float(np.clip((value - span[0]) / (span[1] - span[0]), 0.0, 1.0))


def _within(stage_type: str, name: str, value: Any) -> Any:
    """``value`` clipped into the declared range of parameter ``name`` of ``stage_type``."""
    spec = _declared(stage_type, name)
    clipped = np.clip(np.asarray(value, dtype=np.float64), spec.low, spec.high)
    return clipped.tolist()


def _matrix_factors(matrix: np.ndarray) -> list[np.ndarray]:
    """``[M]``, or ``[√M, √M]`` when an entry of ``M`` is outside ``camera_to_srgb``'s range."""
    spec = _declared("camera_to_srgb", "matrix")
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


def fill_stages(
    spec: PipelineSpec, metadata: dict[str, Any], tuned: dict[str, Any]
) -> list[dict[str, Any]]:
    """The ``[[stage]]`` tables of ``spec`` with every value filled in, JSON-ready.

    A stage's values are its constants, then its ``from_metadata`` values from
    ``metadata``, then ``tuned[label]`` (each replacing the one before). When
    ``tuned[label]`` is a list of tables, the stage runs once per table, in order.
    """
    unknown = sorted(set(tuned) - {entry.label for entry in spec.stages})
    if unknown:
        raise ValueError(f"{spec.source}: no stage is labelled {unknown[0]!r}")
    stages = []
    for entry in spec.stages:
        base = dict(entry.params)
        base.update({name: metadata[key] for name, key in entry.from_metadata.items()})
        tables = tuned.get(entry.label, {})
        for table in tables if isinstance(tables, list) else [tables]:
            stages.append({"type": entry.type, "params": json_ready({**base, **table})})
    return stages


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
    wiener, chroma = "local_wiener_denoise", "chroma_denoise"
    tone_map, tone_curve, sharpen = "local_tone_map", "tone_curve", "unsharp_mask"
    tuned: dict[str, Any] = {
        "camera_matrix": [{"matrix": factor} for factor in _matrix_factors(matrix)],
        "denoise": {
            "noise_scale": _within(wiener, "noise_scale", noise_scale),
            "noise_offset": _within(wiener, "noise_offset", noise_offset),
            "radius": _within(
                wiener, "radius", (1.0 + iso_level) * 2.0 ** jitter["denoise_radius_log2"]
            ),
            "strength": _within(
                wiener, "strength", 0.55 + 0.45 * iso_level + jitter["denoise_strength"]
            ),
        },
        "chroma_denoise": {
            "sigma": _within(
                chroma,
                "sigma",
                min(0.5 + mid_grey_noise / CHROMA_NOISE_UNIT, CHROMA_SIGMA_MAX)
                * 2.0 ** jitter["chroma_sigma_log2"],
            ),
            "strength": _within(
                chroma, "strength", 0.6 + 0.4 * iso_level + jitter["chroma_strength"]
            ),
        },
        "local_tone_map": {
            "strength": _within(
                tone_map, "strength", 0.15 + 0.3 * brightness + jitter["local_tone_strength"]
            ),
            "radius": _within(
                tone_map,
                "radius",
                0.05 * min(height, width) * 2.0 ** jitter["local_tone_radius_log2"],
            ),
        },
        "tone_curve": {
            "exposure": _within(
                tone_curve, "exposure", 0.3 + 0.3 * brightness + jitter["exposure"]
            ),
            "white": _within(tone_curve, "white", 2.0 ** (1.5 + brightness + jitter["white_log2"])),
            "contrast": _within(
                tone_curve, "contrast", 1.05 + 0.35 * brightness + jitter["contrast"]
            ),
        },
        "sharpen": {
            "amount": _within(
                sharpen,
                "amount",
                0.9 * (1 - 0.75 * iso_level) * 2.0 ** jitter["sharpen_amount_log2"],
            ),
            "radius": _within(sharpen, "radius", 0.8 + 0.4 * iso_level + jitter["sharpen_radius"]),
        },
    }
    return {
        "ev100": ev100,
        "brightness": brightness,
        "iso_level": iso_level,
        "jitter": jitter,
        "stages": fill_stages(isp_spec(), raw.metadata(), tuned),
    }


def isp_pipeline(parameters: dict[str, Any]) -> Pipeline:
    """The pipeline of :func:`isp_parameters`' filled ``stages`` (types from the registry)."""
    spec = isp_spec()
    return Pipeline.from_dict(
        {
            "name": spec.name,
            "input": spec.input,
            "output": spec.output,
            "stage": parameters["stages"],
        },
        source=spec.source,
    )


def run_isp(raw: RawImage, parameters: dict[str, Any]) -> np.ndarray:
    """Develop ``raw``: 8-bit sRGB values on [0, 1], ``(H, W, 3)`` float32.

    The stages run one by one (``fuse=False``): the camera's rendering is
    defined stage by stage, which fused runs match only to rounding.
    """
    return isp_pipeline(parameters)(np.asarray(raw.mosaic, dtype=np.float32), fuse=False)


def render_srgb(
    raw: RawImage, camera: Camera, rng: np.random.Generator
) -> tuple[np.ndarray, dict[str, Any]]:
    """The camera's sRGB rendering of ``raw`` and the ISP parameters it used."""
    parameters = isp_parameters(raw, camera, rng)
    return run_isp(raw, parameters), parameters
