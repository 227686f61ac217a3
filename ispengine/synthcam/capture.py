"""Taking the picture: capture parameters, optics, exposure, the Bayer sensor and its noise.

Drawing the capture (:func:`draw_capture`), per image:

* scene brightness ``EV100`` uniform in [2, 15] (dim interior to sunlight);
* ISO log-uniform over the 1/3-stop series 100 … 6400;
* focal length log-uniform in the camera's range, whole mm
  (:class:`~ispengine.synthcam.cameras.Optics`; [18, 200] mm, a zoom range,
  for the measured cameras, 4–16 mm for the phone);
* the camera meters the scene with an error ``m ~ N(0, 0.3²)`` EV (clipped to
  ±1) and picks, uniformly among the 1/3-stop f-numbers of its lens
  (f/1.4 … f/16 for the measured cameras) that allow it, a shutter speed in
  [1/8000, 1] s on the 1/3-stop series with
  ``N² / t = 2^(EV100 + m) · ISO / 100`` (the exposure equation; ISO 2720
  reflected-light metering). When none allows it the speed is clamped.
  The exposure error is ``ε = EV100 − EV_set``, with
  ``EV_set = log2(N² / t) − log2(ISO / 100)``: what the settings expose for.
* focus at ``s`` log-uniform in [1, 20] m, with the subject off by a relative
  depth ``δ ~ N(0, 0.15²)`` (clipped to ±0.5): mostly sharp, while telephoto
  shots at wide apertures blur.

Simulating the RAW (:func:`simulate_raw`), on linear camera RGB:

1. Exposure. The sensor signal is ``∝ L t ISO / N²`` (camera equation). With
   an averaging meter, the settings put the scene's mean green at
   ``RAW_MID_GREY`` (12 %, about 3 stops below clipping) of the raw range
   when ``ε = 0``, so the exposure gain is
   ``k = RAW_MID_GREY · 2^ε / mean(G_scene)``.
2. Vignetting, with ``ρ`` the distance from the centre over the half diagonal
   and ``r = ρ · d/2`` on the sensor (mm): natural fall-off ``cos⁴ θ``,
   ``tan θ = r / (f + p)`` (the cos⁴ law; Ray, "Applied Photographic
   Optics", 3rd ed.); SLR lenses keep their exit pupil further from the
   sensor than ``f`` (retrofocus wide angles), which weakens the fall-off, and
   the offset ``p`` models that (a modelling choice, not a lens measurement:
   20 mm for the SLR-type cameras, 2.5 mm for the phone, whose short lens
   gives strong corner fall-off).
   Times mechanical vignetting ``1 − 0.5 (1.4 / N)² ρ²``, which fades as the
   lens is stopped down.
3. Blur: a Gaussian PSF with ``σ² = σ_defocus² + σ_diffraction²`` pixels; the
   defocus blur circle ``c = f² |δ| / (N (s − f) (1 + δ))`` (thin lens) as
   ``σ = c / 4``, diffraction ``σ = 0.42 λ N`` at λ = 550 nm (Gaussian fit to
   the Airy disc; Zhang, Zerubia & Olivo-Marin 2007, Applied Optics 46(10)),
   both divided by the pixel pitch (sensor width / W).
4. The CFA keeps one colour per pixel; Poisson–Gaussian noise of the
   camera's :class:`~ispengine.synthcam.cameras.NoiseModel` at the ISO (the
   shot noise of ``y / g`` electrons, read and ADC noise); black level added,
   rounded to integer DN, clipped to [0, white] (saturation).

As-shot white balance: ``1 / illuminant_white`` (G = 1), the illuminant's
camera white, as an ideal auto white balance would find.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from attrs import frozen

from ispengine.core.cfa import mosaic
from ispengine.io.raw import CaptureParams, RawImage
from ispengine.synthcam.cameras import Camera, Optics
from ispengine.synthcam.scenes import Scene

ISO_SERIES = (
    100,
    125,
    160,
    200,
    250,
    320,
    400,
    500,
    640,
    800,
    1000,
    1250,
    1600,
    2000,
    2500,
    3200,
    4000,
    5000,
    6400,
)
F_NUMBERS = (
    1.4,
    1.6,
    1.8,
    2.0,
    2.2,
    2.5,
    2.8,
    3.2,
    3.5,
    4.0,
    4.5,
    5.0,
    5.6,
    6.3,
    7.1,
    8.0,
    9.0,
    10.0,
    11.0,
    13.0,
    14.0,
    16.0,
)
# Nominal 1/3-stop shutter speeds, seconds.
SHUTTER_SPEEDS = tuple(
    [
        1 / d
        for d in (
            8000,
            6400,
            5000,
            4000,
            3200,
            2500,
            2000,
            1600,
            1250,
            1000,
            800,
            640,
            500,
            400,
            320,
            250,
            200,
            160,
            125,
            100,
            80,
            60,
            50,
            40,
            30,
            25,
            20,
            15,
            13,
            10,
            8,
            6,
            5,
            4,
        )
    ]
    + [0.3, 0.4, 0.5, 0.6, 0.8, 1.0]
)
EV100_RANGE = (2.0, 15.0)
FOCUS_DISTANCE_M = (1.0, 20.0)
FOCUS_ERROR_SD = 0.15
FOCUS_ERROR_MAX = 0.5
METERING_ERROR_SD = 0.3
METERING_ERROR_MAX = 1.0
RAW_MID_GREY = 0.12
MECHANICAL_VIGNETTING = 0.5
WAVELENGTH_MM = 550e-6
MIN_BLUR_SIGMA = 0.05  # pixels; below this no blur is applied


@frozen
class CaptureDraw:
    """The random choices of one capture (see the module docstring)."""

    iso: float
    exposure_time: float
    f_number: float
    focal_length: float
    ev100: float
    metering_error: float
    focus_distance: float
    focus_error: float

    @property
    def ev_set(self) -> float:
        """The EV100 the settings expose for: ``log2(N² / t) − log2(ISO / 100)``."""
        return math.log2(self.f_number**2 / self.exposure_time) - math.log2(self.iso / 100)

    @property
    def exposure_error(self) -> float:
        """``EV100 − EV_set`` in stops: positive is over-exposed."""
        return self.ev100 - self.ev_set

    def params(self, camera: Camera) -> CaptureParams:
        return CaptureParams(
            iso=self.iso,
            exposure_time=self.exposure_time,
            f_number=self.f_number,
            focal_length=self.focal_length,
            make=camera.make,
            model=camera.model,
        )


@frozen(eq=False)
class Capture:
    """A simulated RAW and its clean intermediates.

    Attributes:
        raw: the RAW (uint16 mosaic and full metadata).
        camera_rgb: clean linear camera RGB on the RAW's scale (0 black, 1
            white level) after exposure, vignetting and blur, before the CFA,
            noise and clipping, ``(H, W, 3)`` float32.
        linear_srgb: the ground-truth linear sRGB (D65 white-balanced) with the
            same exposure, vignetting and blur, ``(H, W, 3)`` float32.
        info: the simulation's values for the manifest.
    """

    raw: RawImage
    camera_rgb: np.ndarray
    linear_srgb: np.ndarray
    info: dict


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _nearest(series: tuple[float, ...], value: float) -> float:
    logs = np.log(np.asarray(series))
    return float(series[int(np.argmin(np.abs(logs - np.log(value))))])


def draw_capture(rng: np.random.Generator, optics: Optics | None = None) -> CaptureDraw:
    """Draw scene brightness, ISO, focal length, metering, aperture, shutter and focus
    with the lens range ``optics`` (default: the measured cameras' zoom, :class:`Optics`)."""
    optics = Optics() if optics is None else optics
    ev100 = float(rng.uniform(*EV100_RANGE))
    iso = float(ISO_SERIES[int(rng.integers(len(ISO_SERIES)))])
    focal_length = float(round(_log_uniform(rng, *optics.focal_range)))
    metering_error = float(
        np.clip(rng.normal(0.0, METERING_ERROR_SD), -METERING_ERROR_MAX, METERING_ERROR_MAX)
    )
    metered = ev100 + metering_error
    low, high = optics.aperture_range
    f_numbers = np.asarray([n for n in F_NUMBERS if low <= n <= high])
    times = f_numbers**2 * 100 / (iso * 2**metered)
    allowed = np.flatnonzero((times >= SHUTTER_SPEEDS[0]) & (times <= SHUTTER_SPEEDS[-1]))
    if allowed.size:
        choice = int(allowed[int(rng.integers(allowed.size))])
    else:
        misses = np.abs(np.log(np.clip(times, SHUTTER_SPEEDS[0], SHUTTER_SPEEDS[-1]) / times))
        choice = int(np.argmin(misses))
    wanted = float(np.clip(times[choice], SHUTTER_SPEEDS[0], SHUTTER_SPEEDS[-1]))
    focus_distance = _log_uniform(rng, *FOCUS_DISTANCE_M)
    focus_error = float(np.clip(rng.normal(0.0, FOCUS_ERROR_SD), -FOCUS_ERROR_MAX, FOCUS_ERROR_MAX))
    return CaptureDraw(
        iso=iso,
        exposure_time=_nearest(SHUTTER_SPEEDS, wanted),
        f_number=float(f_numbers[choice]),
        focal_length=focal_length,
        ev100=ev100,
        metering_error=metering_error,
        focus_distance=focus_distance,
        focus_error=focus_error,
    )


def _radius(size: tuple[int, int]) -> np.ndarray:
    """Distance from the image centre over the half diagonal, ``(H, W)`` in [0, 1]."""
    height, width = size
    rows = (np.arange(height) + 0.5 - height / 2)[:, None]
    cols = (np.arange(width) + 0.5 - width / 2)[None, :]
    return np.sqrt(rows**2 + cols**2) / math.hypot(height / 2, width / 2)


def relative_illumination(draw: CaptureDraw, camera: Camera, rho: np.ndarray | float) -> Any:
    """Natural cos⁴ fall-off times mechanical vignetting at normalised radius ``rho``."""
    half_diagonal = math.hypot(*camera.sensor_size) / 2
    tangent = (
        np.asarray(rho) * half_diagonal / (draw.focal_length + camera.optics.exit_pupil_offset)
    )
    natural = 1.0 / (1.0 + tangent**2) ** 2
    mechanical = 1.0 - MECHANICAL_VIGNETTING * (F_NUMBERS[0] / draw.f_number) ** 2 * rho**2
    return natural * mechanical


def vignetting(draw: CaptureDraw, camera: Camera, size: tuple[int, int]) -> np.ndarray:
    """Relative illumination ``(H, W)`` of an image of ``size`` covering the sensor."""
    return relative_illumination(draw, camera, _radius(size))


def blur_sigma(draw: CaptureDraw, camera: Camera, width: int) -> tuple[float, float]:
    """Defocus and diffraction Gaussian σ in pixels of an image ``width`` pixels wide."""
    pitch = camera.sensor_size[0] / width
    focal, distance = draw.focal_length, draw.focus_distance * 1000.0
    circle = (
        focal**2
        * abs(draw.focus_error)
        / (draw.f_number * (distance - focal) * (1.0 + draw.focus_error))
    )
    return circle / 4 / pitch, 0.42 * WAVELENGTH_MM * draw.f_number / pitch


def _cfa_sample(rgb: np.ndarray, pattern: str) -> np.ndarray:
    return mosaic(rgb, pattern, np)


def simulate_raw(
    scene: Scene, camera: Camera, draw: CaptureDraw, rng: np.random.Generator
) -> Capture:
    """Expose, vignette, blur, mosaic and digitise ``scene`` (``rng`` draws only the noise)."""
    from scipy import ndimage

    size = scene.camera_rgb.shape[:2]
    metered = max(float(scene.camera_rgb[..., 1].mean()), 1e-6)
    gain = RAW_MID_GREY * 2.0**draw.exposure_error / metered
    falloff = gain * vignetting(draw, camera, size)[..., None]
    camera_rgb = scene.camera_rgb * falloff
    linear_srgb = scene.linear_srgb * falloff
    defocus, diffraction = blur_sigma(draw, camera, size[1])
    sigma = math.hypot(defocus, diffraction)
    if sigma >= MIN_BLUR_SIGMA:
        spread = (sigma, sigma, 0.0)
        camera_rgb = ndimage.gaussian_filter(camera_rgb, spread, mode="reflect")
        linear_srgb = ndimage.gaussian_filter(linear_srgb, spread, mode="reflect")
    clean = _cfa_sample(camera_rgb, camera.cfa_pattern)
    electron = camera.noise.gain(draw.iso)
    # Saturated sites clip anyway; bounding them keeps Poisson counts small.
    electrons = rng.poisson(np.clip(clean, 0.0, 2.0) / electron)
    read = math.hypot(electron * camera.noise.read_noise, camera.noise.adc_noise / camera.dn_range)
    signal = electron * electrons + rng.normal(0.0, read, size=clean.shape)
    digital = np.rint(camera.black_level + signal * camera.dn_range)
    mosaic = np.clip(digital, 0, camera.white_level).astype(np.uint16)
    wb_gains = 1.0 / scene.illuminant_white
    raw = RawImage(
        mosaic,
        camera.cfa_pattern,
        black_level=float(camera.black_level),
        white_level=float(camera.white_level),
        wb_gains=wb_gains / wb_gains[1],
        xyz_to_camera=camera.xyz_to_camera,
        capture=draw.params(camera),
    )
    scale, offset = camera.noise_profile(draw.iso)
    info = {
        "ev100": draw.ev100,
        "ev_set": draw.ev_set,
        "metering_error_ev": draw.metering_error,
        "exposure_error_ev": draw.exposure_error,
        "exposure_gain": gain,
        "focus_distance_m": draw.focus_distance,
        "focus_error": draw.focus_error,
        "blur_sigma_px": {"defocus": defocus, "diffraction": diffraction, "total": sigma},
        "vignetting_corner": float(relative_illumination(draw, camera, 1.0)),
        "noise_profile": {"scale": scale, "offset": offset},
        "saturated_fraction": float(np.mean(mosaic >= camera.white_level)),
    }
    return Capture(raw, camera_rgb.astype(np.float32), linear_srgb.astype(np.float32), info)
