"""Colour-chart patches of a SynthCam camera: what a calibration shot would record.

A chart of measured reflectances ``R_k(λ)`` (a ColorChecker of colour-science's
datasets) under illuminant ``E(λ)`` gives, through the camera's spectral
sensitivities ``S(λ)``, the camera RGB

    c_k = ∫ R_k(λ) E(λ) S(λ) dλ / (∫ E(λ) S_G(λ) dλ)

normalised so a perfect white reflector has G = 1: the normalisation SynthCam's
spectral scenes use (:mod:`ispengine.synthcam.scenes`), so patches and scene
pixels of the same surface under the same light agree up to the exposure.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ispengine.core.errors import InputError
from ispengine.synthcam import spectra
from ispengine.synthcam.cameras import CAMERAS, get_camera
from ispengine.synthcam.scenes import SPECTRAL_ILLUMINANTS, camera_responses

#: The charts a calibration can be fitted on (keys of SynthCam's reflectance sets).
CHARTS = tuple(spectra.COLOURCHECKERS)


def synthcam_camera(name: str) -> object:
    """The SynthCam camera ``name``; a one-line error for a camera SynthCam does not
    simulate (chart calibrations need its spectral sensitivities)."""
    if name not in CAMERAS:
        raise InputError(
            f"camera {name!r} is not a SynthCam camera: a chart calibration needs the "
            "camera's spectral sensitivities (fit on paired anchors instead: source = "
            "'anchors')"
        )
    return get_camera(name)


def chart_patches(camera_name: str, chart: str, illuminants: Sequence[str]) -> np.ndarray:
    """Camera RGB ``(k · len(illuminants), 3)`` of the chart's patches under each
    illuminant in turn (see the module docstring)."""
    if chart not in CHARTS:
        raise InputError(f"chart {chart!r}: expected one of {', '.join(CHARTS)}")
    camera = synthcam_camera(camera_name)
    reflectances = spectra.reflectance_set(chart)
    return np.concatenate([camera_responses(camera, reflectances, name) for name in illuminants])


def scene_illuminants(scene: dict | None) -> tuple[str, ...]:
    """The illuminant names of a SynthCam scene description (``illuminants`` of a
    spectral scene, ``illuminant`` of a natural one)."""
    if not scene:
        raise InputError("this calibration needs the scene's illuminant, and none was given")
    names = scene.get("illuminants") or ([scene["illuminant"]] if scene.get("illuminant") else [])
    if not names:
        raise InputError("the scene description names no illuminant")
    return tuple(str(name) for name in names)


ALL_ILLUMINANTS = SPECTRAL_ILLUMINANTS
