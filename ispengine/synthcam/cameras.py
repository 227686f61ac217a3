"""SynthCam's cameras: measured spectral sensitivities, sensor levels, noise and colour matrix.

Two cameras whose R, G, B spectral sensitivities were measured by the UK
National Physical Laboratory and ship with colour-science
(``colour.MSDS_CAMERA_SENSITIVITIES``): the Nikon D5100 (a Bayer CMOS sensor)
and the Sigma SD Merrill (a Foveon stack, whose broad, overlapping responses
give a very different camera RGB space and a much stronger colour matrix).
Both are simulated as Bayer sensors with different CFA patterns and bit
depths. Levels and noise constants are plausible values for sensors of this
class (14-bit / 12-bit, full wells of tens of thousands of electrons, read
noise of a few electrons), not measurements of these bodies.

The files are marked ``Make = "SynthCam"``: LibRaw replaces a DNG's colour
matrix with its own table entry when it knows the make and model, so the real
names would make rawpy develop the files with another matrix than SynthCam's.

Colour matrix (DNG ``ColorMatrix1``, CIE XYZ under D65 → camera RGB): the
sensitivities are scaled so the camera's response to a perfect white under
D65 has its largest channel equal to 1 (DNG 1.6, chapter 6). ``xyz_to_camera``
is the 3×3 least-squares fit ``C ≈ M X`` over the 72 ColorChecker patches
(three measurement sets) under D65, with the white point preserved exactly
(``M x_w = c_w``; Finlayson & Drew 1997, "White-point preserving color
correction", Proc. IS&T/SID CIC 5)::

    M₀ = C Xᵀ (X Xᵀ)⁻¹,   M = M₀ + (c_w − M₀ x_w) x_wᵀ (X Xᵀ)⁻¹ / (x_wᵀ (X Xᵀ)⁻¹ x_w)

Noise (in linear units normalised to the black–white range, ``y`` in [0, 1]):
a Poisson–Gaussian model (Foi et al. 2008, "Practical Poissonian-Gaussian
noise modeling and fitting for single-image raw-data", IEEE TIP 17(10)) with
``g = (ISO / base_iso) / full_well`` normalised units per electron::

    y_noisy = g · Poisson(y / g) + N(0, (g · read_noise)² + (adc_noise / (white − black))²)

so the variance is ``g · y + O(ISO)``: shot noise and pre-amplifier read
noise grow with the ISO gain, the ADC noise does not.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from attrs import field, frozen

from ispengine.core.errors import InputError
from ispengine.synthcam import spectra


@frozen
class NoiseModel:
    """Sensor noise constants (see the module docstring).

    Attributes:
        full_well: electrons that fill the black–white range at the base ISO (> 0).
        base_iso: ISO at unity gain (> 0).
        read_noise: pre-amplifier read noise, electrons RMS (>= 0).
        adc_noise: post-amplifier (ADC) noise, raw DN RMS (>= 0).
    """

    full_well: float = field(converter=float)
    base_iso: float = field(converter=float)
    read_noise: float = field(converter=float)
    adc_noise: float = field(converter=float)

    def gain(self, iso: float) -> float:
        """Normalised units per photo-electron at ``iso``."""
        return (iso / self.base_iso) / self.full_well

    def profile(self, iso: float, dn_range: float) -> tuple[float, float]:
        """``(S, O)``: the variance ``S · y + O`` of a normalised value ``y`` (DNG NoiseProfile)."""
        g = self.gain(iso)
        return g, (g * self.read_noise) ** 2 + (self.adc_noise / dn_range) ** 2


@frozen
class Camera:
    """One simulated camera.

    Attributes:
        name: lower-case id (``nikon_5100``).
        make, model: EXIF/DNG ``Make`` and ``Model``.
        sensitivities: key of ``colour.MSDS_CAMERA_SENSITIVITIES``.
        cfa_pattern: Bayer pattern of the top-left 2×2 cell.
        black_level, white_level: raw DN.
        noise: the sensor's :class:`NoiseModel`.
        sensor_size: width, height in mm (vignetting and blur in pixels).
    """

    name: str
    make: str
    model: str
    sensitivities: str
    cfa_pattern: str
    black_level: int
    white_level: int
    noise: NoiseModel
    sensor_size: tuple[float, float]

    @property
    def dn_range(self) -> float:
        return float(self.white_level - self.black_level)

    @property
    def spectral_response(self) -> np.ndarray:
        """Sensitivities ``(31, 3)`` scaled so a perfect white under D65 (at Y = 1) gives
        a largest channel of 1."""
        return _scaled_sensitivities(self.sensitivities)

    @property
    def xyz_to_camera(self) -> np.ndarray:
        """DNG ``ColorMatrix1`` (XYZ under D65 → camera RGB), white-point preserving fit."""
        return _fit_xyz_to_camera(self.sensitivities)

    def white(self, spd: np.ndarray) -> np.ndarray:
        """Camera RGB of a perfect white under the illuminant ``spd``, normalised to G = 1."""
        response = spd @ self.spectral_response
        return response / response[1]

    def noise_profile(self, iso: float) -> tuple[float, float]:
        """``(S, O)`` of the normalised RAW at ``iso`` (see :meth:`NoiseModel.profile`)."""
        return self.noise.profile(iso, self.dn_range)


def _d65() -> np.ndarray:
    """The D65 spectral power scaled so a perfect white has Y = 1."""
    d65 = spectra.illuminant("D65")
    return d65 / (d65 @ spectra.cmfs()[:, 1])


@cache
def _scaled_sensitivities(key: str) -> np.ndarray:
    raw = spectra.camera_sensitivities(key)
    scaled = raw / np.max(_d65() @ raw)
    scaled.setflags(write=False)
    return scaled


@cache
def _fit_xyz_to_camera(key: str) -> np.ndarray:
    d65 = _d65()
    patches = np.concatenate([spectra.reflectance_set(name) for name in spectra.COLOURCHECKERS])
    response = _scaled_sensitivities(key)
    xyz = spectra.xyz_of(patches, d65).T  # (3, n)
    camera = ((patches * d65) @ response).T  # (3, n)
    white_xyz = spectra.xyz_of(np.ones(spectra.WAVELENGTHS.size), d65)
    white_camera = d65 @ response
    gram_inverse = np.linalg.inv(xyz @ xyz.T)
    unconstrained = camera @ xyz.T @ gram_inverse
    direction = gram_inverse @ white_xyz
    matrix = unconstrained + np.outer(white_camera - unconstrained @ white_xyz, direction) / (
        white_xyz @ direction
    )
    matrix.setflags(write=False)
    return matrix


CAMERA_LIST = (
    Camera(
        name="nikon_5100",
        make="SynthCam",
        model="Nikon D5100 (NPL)",
        sensitivities="Nikon 5100 (NPL)",
        cfa_pattern="rggb",
        black_level=600,
        white_level=16383,
        noise=NoiseModel(full_well=38000, base_iso=100, read_noise=2.5, adc_noise=3.0),
        sensor_size=(23.6, 15.6),
    ),
    Camera(
        name="sigma_sdmerrill",
        make="SynthCam",
        model="Sigma SD Merrill (NPL)",
        sensitivities="Sigma SDMerill (NPL)",
        cfa_pattern="bggr",
        black_level=256,
        white_level=4095,
        noise=NoiseModel(full_well=28000, base_iso=100, read_noise=4.0, adc_noise=1.0),
        sensor_size=(24.0, 16.0),
    ),
)
CAMERAS_BY_NAME = {camera.name: camera for camera in CAMERA_LIST}
CAMERAS = tuple(CAMERAS_BY_NAME)


def get_camera(name: str) -> Camera:
    """The camera with id ``name``; :class:`InputError` naming the known ids otherwise."""
    try:
        return CAMERAS_BY_NAME[name]
    except KeyError:
        raise InputError(
            f"unknown SynthCam camera {name!r} (known: {', '.join(CAMERAS)})"
        ) from None
