"""SynthCam's cameras: spectral sensitivities, optics, sensor levels, noise and colour matrix.

Two cameras whose R, G, B spectral sensitivities were measured by the UK
National Physical Laboratory and ship with colour-science
(``colour.MSDS_CAMERA_SENSITIVITIES``): the Nikon D5100 (a Bayer CMOS sensor)
and the Sigma SD Merrill (a Foveon stack, whose broad, overlapping responses
give a very different camera RGB space and a much stronger colour matrix).
Both are simulated as Bayer sensors with different CFA patterns and bit
depths. Levels and noise constants are plausible values for sensors of this
class (14-bit / 12-bit, full wells of tens of thousands of electrons, read
noise of a few electrons), not measurements of these bodies.

Three more cameras are invented, with parametric sensitivities
(:class:`ParametricSensitivity`: sums of skewed Gaussian lobes) chosen to be
physically different from the measured two and from each other:

* ``synthcam_phone`` — a smartphone main camera: a 1/1.7" sensor (7.6 ×
  5.7 mm) behind a 4–16 mm lens set at f/1.8–2.8, 10-bit, GRBG, a small full
  well; a weak IR-cut filter, so the red channel is broad and still high at
  the grid's 700 nm end, and green and blue leak there too;
* ``synthcam_compact`` — a 1" compact (13.2 × 8.8 mm, 9–37 mm, f/1.8–11),
  12-bit, GBRG, typical skewed dye responses with a small blue leak of the
  red filter;
* ``synthcam_narrowband`` — a full-frame body (36 × 24 mm, 24–200 mm,
  f/2.8–16), 14-bit, BGGR, narrow-band filters with little overlap (a
  different kind of colour error: the ColorChecker fit is looser).

Their levels and noise are again plausible for their class, not
measurements. The default camera list of a dataset stays the two measured
cameras (:data:`DEFAULT_CAMERAS`), so datasets and benchmarks generated before
the others existed are reproduced unchanged; name the others to use them.

Optics (:class:`Optics`): each camera draws focal lengths in its own range,
plausible for its sensor size (35 mm equivalents, by the diagonal, from about
18–28 mm to 70–300 mm: the phone's 4–16 mm is 18–73 mm equivalent) and
f-numbers in its own range; vignetting and blur then follow from the sensor
size (:mod:`.capture`). Where the capture parameters change the pictures:
vignetting depends on the focal length, f-number and sensor size, blur on the
focal length, f-number, focus and pixel pitch (:mod:`.capture`); the noise on
the ISO (:class:`NoiseModel`); the hidden ISP's denoising and sharpening on
the ISO, and its tone mapping on the exposure value from f-number, exposure
time and ISO (:func:`ispengine.synthcam.camera_isp.isp_parameters`).

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
from attrs import Attribute, field, frozen

from ispengine.core.errors import InputError
from ispengine.synthcam import spectra


@frozen
class MeasuredSensitivity:
    """Measured R, G, B sensitivities: a key of ``colour.MSDS_CAMERA_SENSITIVITIES``."""

    key: str

    def curves(self) -> np.ndarray:
        """The sensitivities on :data:`~ispengine.synthcam.spectra.WAVELENGTHS`, ``(31, 3)``."""
        return spectra.camera_sensitivities(self.key)


def _positive(instance: object, attribute: Attribute, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{attribute.name} must be positive, got {value}")


@frozen
class Lobe:
    """One skewed (split) Gaussian of a sensitivity curve::

        s(λ) = weight · exp(−(λ − peak)² / (2 w²)),  w = short below the peak, long above

    Attributes:
        peak: wavelength of the maximum, nm.
        short, long: standard deviations below and above the peak, nm (> 0).
        weight: height of the maximum (> 0).
    """

    peak: float = field(converter=float)
    short: float = field(converter=float, validator=_positive)
    long: float = field(converter=float, validator=_positive)
    weight: float = field(default=1.0, converter=float, validator=_positive)

    def __call__(self, wavelengths: np.ndarray) -> np.ndarray:
        width = np.where(wavelengths < self.peak, self.short, self.long)
        return self.weight * np.exp(-0.5 * ((wavelengths - self.peak) / width) ** 2)


def _lobes(value: object) -> tuple[Lobe, ...]:
    lobes = tuple(value)  # type: ignore[arg-type]
    if not lobes:
        raise ValueError("a sensitivity curve needs at least one lobe")
    return lobes


@frozen
class ParametricSensitivity:
    """R, G, B sensitivities as sums of :class:`Lobe` values: ``S_c(λ) = Σ_k lobe_k(λ)``."""

    red: tuple[Lobe, ...] = field(converter=_lobes)
    green: tuple[Lobe, ...] = field(converter=_lobes)
    blue: tuple[Lobe, ...] = field(converter=_lobes)

    def curves(self) -> np.ndarray:
        """The sensitivities on :data:`~ispengine.synthcam.spectra.WAVELENGTHS`, ``(31, 3)``."""
        grid = spectra.WAVELENGTHS
        values = np.stack(
            [sum(lobe(grid) for lobe in channel) for channel in (self.red, self.green, self.blue)],
            axis=-1,
        )
        values.setflags(write=False)
        return values


SpectralSensitivity = MeasuredSensitivity | ParametricSensitivity


def _sensitivity(value: str | SpectralSensitivity) -> SpectralSensitivity:
    return MeasuredSensitivity(value) if isinstance(value, str) else value


@frozen
class Optics:
    """The lens range a camera is drawn with (see :mod:`.capture`).

    Attributes:
        focal_range: shortest and longest focal length, mm (log-uniform, whole mm).
        aperture_range: widest and narrowest f-number; the 1/3-stop f-numbers in it are used.
        exit_pupil_offset: exit pupil distance beyond the focal length, mm
            (weakens the cos⁴ fall-off; retrofocus SLR lenses ≈ 20, phone lenses ≈ 2).
    """

    focal_range: tuple[float, float] = (18.0, 200.0)
    aperture_range: tuple[float, float] = (1.4, 16.0)
    exit_pupil_offset: float = 20.0


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
        sensitivities: a :class:`MeasuredSensitivity` or :class:`ParametricSensitivity`
            (a string is taken as a colour-science key).
        cfa_pattern: Bayer pattern of the top-left 2×2 cell.
        black_level, white_level: raw DN.
        noise: the sensor's :class:`NoiseModel`.
        sensor_size: width, height in mm (vignetting and blur in pixels).
        optics: the lens range of the captures (:class:`Optics`).
    """

    name: str
    make: str
    model: str
    sensitivities: SpectralSensitivity = field(converter=_sensitivity)
    cfa_pattern: str
    black_level: int
    white_level: int
    noise: NoiseModel
    sensor_size: tuple[float, float]
    optics: Optics = Optics()

    @property
    def dn_range(self) -> float:
        return float(self.white_level - self.black_level)

    @property
    def bit_depth(self) -> int:
        """Bits needed for the white level."""
        return int(self.white_level).bit_length()

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
def _scaled_sensitivities(sensitivity: SpectralSensitivity) -> np.ndarray:
    raw = sensitivity.curves()
    scaled = raw / np.max(_d65() @ raw)
    scaled.setflags(write=False)
    return scaled


@cache
def _fit_xyz_to_camera(sensitivity: SpectralSensitivity) -> np.ndarray:
    d65 = _d65()
    patches = np.concatenate([spectra.reflectance_set(name) for name in spectra.COLOURCHECKERS])
    response = _scaled_sensitivities(sensitivity)
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
    Camera(
        name="synthcam_phone",
        make="SynthCam",
        model="P1 Phone",
        sensitivities=ParametricSensitivity(
            red=(Lobe(600, 25, 60, 0.85), Lobe(700, 50, 50, 0.45)),
            green=(Lobe(530, 35, 45), Lobe(720, 30, 30, 0.1)),
            blue=(Lobe(455, 22, 32, 0.8), Lobe(720, 30, 30, 0.1)),
        ),
        cfa_pattern="grbg",
        black_level=64,
        white_level=1023,
        noise=NoiseModel(full_well=6000, base_iso=50, read_noise=2.0, adc_noise=0.4),
        sensor_size=(7.6, 5.7),
        optics=Optics(focal_range=(4.0, 16.0), aperture_range=(1.8, 2.8), exit_pupil_offset=2.5),
    ),
    Camera(
        name="synthcam_compact",
        make="SynthCam",
        model="C1 Compact",
        sensitivities=ParametricSensitivity(
            red=(Lobe(605, 20, 32, 0.9), Lobe(445, 20, 20, 0.06)),
            green=(Lobe(540, 30, 35),),
            blue=(Lobe(465, 20, 35, 0.85),),
        ),
        cfa_pattern="gbrg",
        black_level=200,
        white_level=4095,
        noise=NoiseModel(full_well=15000, base_iso=125, read_noise=3.0, adc_noise=0.8),
        sensor_size=(13.2, 8.8),
        optics=Optics(focal_range=(9.0, 37.0), aperture_range=(1.8, 11.0), exit_pupil_offset=8.0),
    ),
    Camera(
        name="synthcam_narrowband",
        make="SynthCam",
        model="N1 Narrowband",
        sensitivities=ParametricSensitivity(
            red=(Lobe(615, 14, 18, 0.8),),
            green=(Lobe(545, 17, 17),),
            blue=(Lobe(450, 15, 15, 0.7),),
        ),
        cfa_pattern="bggr",
        black_level=1024,
        white_level=16383,
        noise=NoiseModel(full_well=60000, base_iso=100, read_noise=1.8, adc_noise=2.0),
        sensor_size=(36.0, 24.0),
        optics=Optics(focal_range=(24.0, 200.0), aperture_range=(2.8, 16.0)),
    ),
)
CAMERAS_BY_NAME = {camera.name: camera for camera in CAMERA_LIST}
CAMERAS = tuple(CAMERAS_BY_NAME)
# A dataset's cameras when none are named: the two measured ones (see the module docstring).
DEFAULT_CAMERAS = ("nikon_5100", "sigma_sdmerrill")


def get_camera(name: str) -> Camera:
    """The camera with id ``name``; :class:`InputError` naming the known ids otherwise."""
    try:
        return CAMERAS_BY_NAME[name]
    except KeyError:
        raise InputError(
            f"unknown SynthCam camera {name!r} (known: {', '.join(CAMERAS)})"
        ) from None
