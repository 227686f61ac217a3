"""SynthCam: a deterministic, physically grounded camera simulator for paired RAW/sRGB data.

From a seed it renders scenes (scikit-image photographs and spectral scenes
of measured reflectances under CIE illuminants) through the measured
spectral sensitivities of real cameras, takes the picture (exposure from the
capture parameters, vignetting, blur, Bayer CFA, Poisson–Gaussian noise,
quantisation, clipping), develops it with a hidden, capture-dependent camera
ISP, and writes the RAW (DNG), the camera sRGB (8-bit PNG with EXIF), the
ground truth and a manifest with fixed train/val/test splits::

    from ispengine.synthcam import generate_dataset
    manifest = generate_dataset("data/synthcam", n=100, size=(256, 384), seed=0)

Modules: :mod:`.spectra` (spectral data), :mod:`.cameras`, :mod:`.scenes`,
:mod:`.capture`, :mod:`.camera_isp` (the hidden ISP), :mod:`.generate`, and
:mod:`.pairs` (the same scenes in several cameras, for raw-to-raw mapping).
colour-science, scikit-image and scipy are imported on first use only.
"""

from ispengine.synthcam.cameras import CAMERAS, DEFAULT_CAMERAS
from ispengine.synthcam.generate import generate_dataset, make_sample, write_sample
from ispengine.synthcam.pairs import CameraPairs, generate_pairs, open_pairs

__all__ = [
    "CAMERAS",
    "DEFAULT_CAMERAS",
    "CameraPairs",
    "generate_dataset",
    "generate_pairs",
    "make_sample",
    "open_pairs",
    "write_sample",
]
