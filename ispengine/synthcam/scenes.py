"""SynthCam scenes: what is in front of the camera, in its RGB space and as ground truth.

A :class:`Scene` holds, for the same H×W view, scene-referred (before
exposure) linear values in two colour spaces:

* ``camera_rgb``: the camera's linear RGB. Every illuminant is scaled so a
  perfect white reflector under it gives camera G = 1.
* ``linear_srgb``: the ground truth, linear sRGB of the scene's surfaces
  seen under D65 (the white-balanced, colour-accurate rendering): a perfect
  white is (1, 1, 1). An ideal ISP (white balance by ``1 / illuminant_white``
  then the camera→sRGB matrix) maps one to the other for neutral surfaces.

and ``illuminant_white``, the camera RGB (G = 1) of a perfect white under the
scene's illuminant (for mixed light, under its spatial mean): the as-shot
white balance is ``1 / illuminant_white``.

Two kinds:

* ``natural``: a photograph shipped with scikit-image (no download),
  linearised with the sRGB EOTF (IEC 61966-2-1), randomly cropped, flipped
  and resized (in linear light), and taken as the scene's D65 appearance;
  camera RGB under D65 is ``xyz_to_camera · M_sRGB→XYZ`` applied to it, and another illuminant E is
  imposed by a von Kries diagonal in camera space, ``c_E = c_D65 · w_E / w_D65``
  with ``w`` the camera whites (Fairchild, "Color Appearance Models", 3rd ed.,
  on von Kries adaptation).
* ``spectral``: a layout of measured reflectances (a ColorChecker chart, or a
  dead-leaves collage of all reflectance sets: discs with radii drawn from
  the ``r⁻³`` law of Lee, Mumford & Huang 2001, "Occlusion models for natural
  images", IJCV 41) rendered spectrally through the camera's sensitivities,
  ``c = ∫ R(λ) E(λ) S(λ) dλ``, under a CIE illuminant, or under a smooth
  spatial blend of two (``E(x) = (1 − a(x)) E₁ + a(x) E₂``, window light and
  lamp), and through the CIE 1931 observer under D65 for the ground truth.
  A smooth shading ramp multiplies both.

Both kinds get synthetic highlights: Gaussian blobs of peak 3–12 times the
diffuse white (specular reflections of the local illuminant, so illuminant-
coloured in camera RGB and neutral in the ground truth) that clip in the RAW.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
from attrs import field, frozen

from ispengine.core.colour import SRGB_TO_XYZ, XYZ_TO_LINEAR_SRGB, srgb_decode
from ispengine.synthcam import spectra
from ispengine.synthcam.cameras import Camera

SCENE_KINDS = ("natural", "spectral")
NATURAL_IMAGES = ("astronaut", "chelsea", "coffee", "rocket")
NATURAL_ILLUMINANTS = ("D65", "D50", "D75", "A", "FL2", "FL11", "LED-B3")
SPECTRAL_ILLUMINANTS = ("D65", "D50", "A", "FL2", "FL11", "LED-B3", "LED-B5")
LAYOUTS = ("chart", "dead_leaves")
CHART_SETS = tuple(spectra.COLOURCHECKERS)
MIXED_PROBABILITY = 0.5
CROP_SCALE = (0.5, 1.0)
SHADING_MIN = (0.3, 1.0)
HIGHLIGHT_COUNT = (1, 4)
HIGHLIGHT_PEAK = (3.0, 12.0)
HIGHLIGHT_SIGMA = (0.01, 0.04)  # of min(H, W)
DEAD_LEAVES_RADIUS = (0.01, 0.3)  # of min(H, W)
DEAD_LEAVES_MAX_DISCS = 3000


def _as_image(value: Any) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ValueError(f"expected an (H, W, 3) image, got {array.shape}")
    return array


@frozen(eq=False)
class Scene:
    """One scene (see the module docstring); ``info`` describes it for the manifest."""

    camera_rgb: np.ndarray = field(converter=_as_image)
    linear_srgb: np.ndarray = field(converter=_as_image)
    illuminant_white: np.ndarray = field(converter=lambda v: np.asarray(v, dtype=np.float64))
    info: dict


# -- shared pieces ---------------------------------------------------------


def _illuminant_white(camera: Camera, name: str) -> np.ndarray:
    return camera.white(spectra.illuminant(name))


def _direction_ramp(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A linear ramp over the image in [0, 1] along a random direction, ``(H, W)``."""
    height, width = size
    angle = rng.uniform(0.0, 2 * np.pi)
    rows, cols = np.mgrid[0:height, 0:width]
    projection = np.cos(angle) * cols / max(width - 1, 1) + np.sin(angle) * rows / max(
        height - 1, 1
    )
    low, high = projection.min(), projection.max()
    return (projection - low) / (high - low) if high > low else np.zeros(size)


def _shading(rng: np.random.Generator, size: tuple[int, int]) -> tuple[np.ndarray, float]:
    """Smooth light fall-off: ``s = s_min^ramp`` (1 at one side, ``s_min`` at the other)."""
    lowest = float(rng.uniform(*SHADING_MIN))
    return lowest ** _direction_ramp(rng, size), lowest


def _highlights(
    rng: np.random.Generator, size: tuple[int, int]
) -> tuple[np.ndarray, list[list[float]]]:
    """Sum of Gaussian blobs ``peak · exp(−r² / 2σ²)``, ``(H, W)``, and their parameters."""
    height, width = size
    count = int(rng.integers(HIGHLIGHT_COUNT[0], HIGHLIGHT_COUNT[1] + 1))
    rows, cols = np.mgrid[0:height, 0:width]
    total = np.zeros(size)
    described = []
    for _ in range(count):
        y, x = rng.uniform(0, height), rng.uniform(0, width)
        sigma = max(1.0, rng.uniform(*HIGHLIGHT_SIGMA) * min(size))
        peak = rng.uniform(*HIGHLIGHT_PEAK)
        total += peak * np.exp(-((rows - y) ** 2 + (cols - x) ** 2) / (2 * sigma**2))
        described.append([round(y, 3), round(x, 3), round(sigma, 3), round(peak, 4)])
    return total, described


def _add_highlights(
    rng: np.random.Generator,
    camera_rgb: np.ndarray,
    linear_srgb: np.ndarray,
    local_white: np.ndarray,
) -> list[list[float]]:
    blobs, described = _highlights(rng, camera_rgb.shape[:2])
    camera_rgb += blobs[..., None] * local_white
    linear_srgb += blobs[..., None]
    return described


# -- natural scenes ----------------------------------------------------------


@cache
def _natural_image(name: str) -> np.ndarray:
    """A scikit-image sample photograph, linearised by the sRGB EOTF, ``(H, W, 3)`` in [0, 1]."""
    from skimage import data

    codes = np.asarray(getattr(data, name)())[..., :3]
    linear = srgb_decode(np.arange(256) / 255.0, np)[codes]
    linear.setflags(write=False)
    return linear


def _crop_and_resize(
    rng: np.random.Generator, image: np.ndarray, size: tuple[int, int]
) -> tuple[np.ndarray, dict]:
    from skimage.transform import resize

    height, width = size
    source_h, source_w = image.shape[:2]
    aspect = width / height
    full_h = min(source_h, source_w / aspect)
    scale = rng.uniform(*CROP_SCALE)
    crop_h = max(2, int(round(full_h * scale)))
    crop_w = max(2, min(source_w, int(round(crop_h * aspect))))
    top = int(rng.integers(0, source_h - crop_h + 1))
    left = int(rng.integers(0, source_w - crop_w + 1))
    flip = bool(rng.integers(0, 2))
    crop = image[top : top + crop_h, left : left + crop_w]
    if flip:
        crop = crop[:, ::-1]
    resized = resize(crop, size, order=1, mode="reflect", anti_aliasing=True)
    return np.clip(resized, 0.0, 1.0), {"crop": [top, left, crop_h, crop_w], "flip": flip}


def natural_scene(rng: np.random.Generator, camera: Camera, size: tuple[int, int]) -> Scene:
    """A scikit-image photograph, linearised, in the camera's RGB under a random illuminant."""
    name = NATURAL_IMAGES[int(rng.integers(len(NATURAL_IMAGES)))]
    linear_srgb, placement = _crop_and_resize(rng, _natural_image(name), size)
    illuminant = NATURAL_ILLUMINANTS[int(rng.integers(len(NATURAL_ILLUMINANTS)))]
    d65_white = _illuminant_white(camera, "D65")
    white = _illuminant_white(camera, illuminant)
    srgb_to_camera = camera.xyz_to_camera @ SRGB_TO_XYZ
    d65_camera = linear_srgb @ srgb_to_camera.T / (srgb_to_camera @ np.ones(3))[1]
    camera_rgb = np.maximum(d65_camera * (white / d65_white), 0.0)
    highlights = _add_highlights(rng, camera_rgb, linear_srgb, white)
    info = {
        "kind": "natural",
        "image": f"skimage.data.{name}",
        **placement,
        "illuminant": illuminant,
        "highlights": highlights,
    }
    return Scene(camera_rgb, linear_srgb, white, info)


# -- spectral scenes ---------------------------------------------------------


def camera_responses(camera: Camera, reflectances: np.ndarray, name: str) -> np.ndarray:
    """Camera RGB ``(k, 3)`` of reflectances under illuminant ``name`` (white: G = 1)."""
    spd = spectra.illuminant(name)
    return (reflectances * spd) @ camera.spectral_response / (spd @ camera.spectral_response)[1]


def _ground_truth(reflectances: np.ndarray) -> np.ndarray:
    """Linear sRGB ``(k, 3)`` of reflectances under D65 (white: (1, 1, 1))."""
    return spectra.xyz_of(reflectances, spectra.illuminant("D65")) @ XYZ_TO_LINEAR_SRGB.T


def _chart_layout(
    rng: np.random.Generator, size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, dict]:
    """A 4×6 ColorChecker on a flat grey surround: palette ``(25, 31)``, index map ``(H, W)``."""
    height, width = size
    chart = CHART_SETS[int(rng.integers(len(CHART_SETS)))]
    surround = float(rng.uniform(0.05, 0.4))
    palette = np.concatenate(
        [spectra.reflectance_set(chart), np.full((1, spectra.WAVELENGTHS.size), surround)]
    )
    fill = rng.uniform(0.6, 0.95)
    cell = fill * min(height / 4, width / 6)
    top = rng.uniform(0, height - 4 * cell)
    left = rng.uniform(0, width - 6 * cell)
    rows, cols = np.mgrid[0:height, 0:width]
    row_f, col_f = (rows + 0.5 - top) / cell, (cols + 0.5 - left) / cell
    row_i, col_i = np.floor(row_f).astype(int), np.floor(col_f).astype(int)
    inside = (row_i >= 0) & (row_i < 4) & (col_i >= 0) & (col_i < 6)
    # Each patch covers 80 % of its cell; the rest is the surround.
    margin = (np.abs(row_f - row_i - 0.5) < 0.4) & (np.abs(col_f - col_i - 0.5) < 0.4)
    index = np.where(inside & margin, row_i.clip(0, 3) * 6 + col_i.clip(0, 5), 24)
    info = {
        "layout": "chart",
        "chart": chart,
        "surround": round(surround, 4),
        "chart_box": [round(top, 3), round(left, 3), round(4 * cell, 3), round(6 * cell, 3)],
    }
    return palette, index, info


def _dead_leaves_layout(
    rng: np.random.Generator, size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Occluding discs of random reflectances: palette ``(k, 31)``, index map ``(H, W)``."""
    height, width = size
    palette = spectra.all_reflectances()
    low = max(1.0, DEAD_LEAVES_RADIUS[0] * min(size))
    high = max(low + 1.0, DEAD_LEAVES_RADIUS[1] * min(size))
    # Mean disc area for the density r^-3 on [low, high]: π · 2 ln(high/low) / (low⁻² − high⁻²).
    mean_area = np.pi * 2 * np.log(high / low) / (low**-2 - high**-2)
    count = int(min(DEAD_LEAVES_MAX_DISCS, np.ceil(4 * height * width / mean_area)))
    uniform = rng.uniform(size=count)
    radii = (low**-2 - uniform * (low**-2 - high**-2)) ** -0.5
    centres_y = rng.uniform(-high, height + high, size=count)
    centres_x = rng.uniform(-high, width + high, size=count)
    colours = rng.integers(0, len(palette), size=count)
    index = np.full(size, int(rng.integers(len(palette))))
    for r, cy, cx, colour in zip(radii, centres_y, centres_x, colours, strict=True):
        y0, y1 = max(0, int(cy - r)), min(height, int(np.ceil(cy + r)) + 1)
        x0, x1 = max(0, int(cx - r)), min(width, int(np.ceil(cx + r)) + 1)
        if y0 >= y1 or x0 >= x1:
            continue
        yy, xx = np.ogrid[y0:y1, x0:x1]
        disc = (yy + 0.5 - cy) ** 2 + (xx + 0.5 - cx) ** 2 <= r * r
        index[y0:y1, x0:x1][disc] = colour
    info = {
        "layout": "dead_leaves",
        "reflectance_sets": list(spectra.reflectance_set_names()),
        "discs": count,
        "radius_range": [round(low, 3), round(high, 3)],
    }
    return palette, index, info


def spectral_scene(rng: np.random.Generator, camera: Camera, size: tuple[int, int]) -> Scene:
    """Measured reflectances rendered through the camera's sensitivities under CIE light."""
    layout = LAYOUTS[int(rng.integers(len(LAYOUTS)))]
    build = _chart_layout if layout == "chart" else _dead_leaves_layout
    palette, index, layout_info = build(rng, size)
    first = SPECTRAL_ILLUMINANTS[int(rng.integers(len(SPECTRAL_ILLUMINANTS)))]
    names = [first]
    weight = np.zeros(size)
    mix: dict[str, Any] = {}
    if rng.uniform() < MIXED_PROBABILITY:
        others = [n for n in SPECTRAL_ILLUMINANTS if n != first]
        names.append(others[int(rng.integers(len(others)))])
        centre, width = rng.uniform(0.3, 0.7), rng.uniform(0.05, 0.3)
        weight = 1 / (1 + np.exp(-(_direction_ramp(rng, size) - centre) / width))
        mix = {"centre": round(centre, 4), "width": round(width, 4)}
    shading, lowest = _shading(rng, size)
    responses = [camera_responses(camera, palette, name) for name in names]
    blend = weight[..., None]
    camera_rgb = responses[0][index] * (1 - blend)
    if len(names) > 1:
        camera_rgb = camera_rgb + responses[1][index] * blend
    camera_rgb *= shading[..., None]
    linear_srgb = _ground_truth(palette)[index] * shading[..., None]
    whites = [_illuminant_white(camera, name) for name in names]
    local_white = whites[0] * (1 - blend)
    if len(names) > 1:
        local_white = local_white + whites[1] * blend
    highlights = _add_highlights(rng, camera_rgb, linear_srgb, local_white)
    mean_white = local_white.reshape(-1, 3).mean(axis=0)
    info = {
        "kind": "spectral",
        **layout_info,
        "illuminants": names,
        "mix": mix,
        "shading_min": round(lowest, 4),
        "highlights": highlights,
    }
    return Scene(camera_rgb, linear_srgb, mean_white / mean_white[1], info)


def make_scene(kind: str, rng: np.random.Generator, camera: Camera, size: tuple[int, int]) -> Scene:
    """A scene of ``kind`` (one of :data:`SCENE_KINDS`) for ``camera``, ``size = (H, W)``."""
    if kind == "natural":
        return natural_scene(rng, camera, size)
    if kind == "spectral":
        return spectral_scene(rng, camera, size)
    raise ValueError(f"unknown scene kind {kind!r} (known: {', '.join(SCENE_KINDS)})")
