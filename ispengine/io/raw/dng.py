"""Writing a :class:`RawImage` as a DNG file that LibRaw (rawpy) reads back.

Written with tifffile (already a dependency for TIFF images) rather than
pidng: tifffile writes arbitrary typed tags through ``extratags`` and is
actively maintained; pidng would add a dependency for the same tag list.

The file is an uncompressed 16-bit CFA image in IFD 0 (DNG 1.4, chapter 4),
with the tags LibRaw needs to develop it:

* ``CFARepeatPatternDim`` 2×2 and ``CFAPattern`` (0 = R, 1 = G, 2 = B);
* ``BlackLevelRepeatDim`` 2×2 and ``BlackLevel`` per position of the cell,
  ``WhiteLevel``;
* ``ColorMatrix1`` (XYZ → camera) with ``CalibrationIlluminant1`` = D65 (21),
  ``AsShotNeutral`` (1 / white-balance gains);
* ``Make``, ``Model``, ``UniqueCameraModel``, ``DateTime``, and an EXIF IFD with
  the optical tags (``ExposureTime``, ``FNumber``, ``ISOSpeedRatings``,
  ``FocalLength``) and ``DateTimeOriginal`` / ``DateTimeDigitized`` (see
  :mod:`ispengine.io.raw.exif_ifd`).

Colour. The image's own development matrix is written, so that LibRaw (and
dcraw, darktable, RawTherapee) develop the file as the engine's
``camera_default`` pipeline develops the :class:`RawImage`: the image's
``camera_to_srgb`` (given, e.g. an sRGB-to-RAW method's drawn matrix, or derived
from ``xyz_to_camera``) decides, and ``ColorMatrix1`` is the image's
``xyz_to_camera`` only when LibRaw's rule derives that same matrix from it; otherwise
it is ``camera_to_srgb⁻¹ · XYZ→sRGB``, from which LibRaw derives ``camera_to_srgb``
exactly whenever it maps white to white (DNG 1.6 §6.3). A matrix that does not
map white to white is written with its column scale moved into ``AsShotNeutral``
(:func:`ispengine.io.raw.image.dng_colour`): same colours, a brightness off by
a factor that is reported in a warning. An image with neither matrix is taken
as camera RGB = linear sRGB.

Time. ``DateTime`` (IFD 0) and ``DateTimeOriginal`` / ``DateTimeDigitized`` (EXIF
IFD) are the capture's ``datetime`` (the source's). Without one they are the
time of writing (local time), or, when the ``SOURCE_DATE_EPOCH`` environment
variable holds whole seconds since 1970 (the reproducible-builds convention,
https://reproducible-builds.org/specs/source-date-epoch/), that time in UTC.
So the same image gives the same bytes when it carries a capture time, or
under one ``SOURCE_DATE_EPOCH``; otherwise files written in different seconds
differ in those tags only.

Writes are atomic. Mosaic values must be integers in [0, 65535] (raw DNs), or
normalised floats in [0, 1] that are mapped back through the black and white
levels; anything else is an :class:`InputError`, and nothing is written.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import warnings
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from ispengine.core.cfa import cfa_cell
from ispengine.core.colour import SRGB_TO_XYZ
from ispengine.core.errors import InputError
from ispengine.io.atomic import atomic_output
from ispengine.io.raw.exif_ifd import PLACEHOLDER_TAG, append_exif_ifd, rational
from ispengine.io.raw.image import RawImage, dng_colour, exif_datetime

CFA_CODES = {"r": 0, "g": 1, "b": 2}
D65_ILLUMINANT = 21
DNG_VERSION = (1, 4, 0, 0)
DNG_BACKWARD_VERSION = (1, 1, 0, 0)
SOFTWARE = "ispengine"

# TIFF field types (TIFF 6.0, section 2).
BYTE, ASCII, SHORT, LONG, RATIONAL, SRATIONAL = 1, 2, 3, 4, 5, 10
# LibRaw (like dcraw) refuses images narrower or shorter than this.
MIN_SIDE = 22


def _rationals(values: np.ndarray, *, signed: bool = False) -> tuple[int, ...]:
    """Flat numerator, denominator pairs for TIFF (S)RATIONAL tags."""
    out: list[int] = []
    for value in np.ravel(values):
        try:
            out += rational(float(value), signed=signed)
        except ValueError as error:
            raise InputError(f"DNG: value {error}") from None
    return tuple(out)


def raw_digital_numbers(raw: RawImage) -> np.ndarray:
    """The mosaic as uint16 raw DNs, checked: no value may leave [0, 65535]."""
    mosaic = raw.mosaic
    if raw.normalized:
        from ispengine.io.raw.levels import denormalize

        mosaic = denormalize(raw)
    if mosaic.dtype.kind in "ui":
        low, high = int(mosaic.min()), int(mosaic.max())
        if low < 0 or high > 65535:
            raise InputError(f"DNG: mosaic values {low}..{high} overflow 16 bits (0..65535)")
        return mosaic.astype(np.uint16)
    if not np.all(np.isfinite(mosaic)):
        raise InputError("DNG: mosaic contains NaN or Inf values")
    low, high = float(mosaic.min()), float(mosaic.max())
    if low < -0.5 or high > 65535.5:
        raise InputError(f"DNG: mosaic values {low:g}..{high:g} overflow 16 bits (0..65535)")
    return np.round(mosaic).astype(np.uint16)


SOURCE_DATE_EPOCH = "SOURCE_DATE_EPOCH"


def dng_datetime(raw: RawImage, when: Any = None) -> str:
    """The ``DateTime`` a DNG of ``raw`` carries (EXIF form ``YYYY:MM:DD HH:MM:SS``).

    ``when`` (a :class:`datetime.datetime` or EXIF/ISO text) if given, else the
    capture's ``datetime``, else ``SOURCE_DATE_EPOCH`` (UTC) when set, else now
    (local time). A ``SOURCE_DATE_EPOCH`` that is not a whole number of seconds is
    an :class:`InputError`.
    """
    for value in (when, raw.capture.datetime):
        text = exif_datetime(value)
        if text is not None:
            return text
    epoch = os.environ.get(SOURCE_DATE_EPOCH, "").strip()
    if epoch:
        try:
            moment = _dt.datetime.fromtimestamp(int(epoch), _dt.timezone.utc)
        except (ValueError, OverflowError, OSError):
            raise InputError(
                f"{SOURCE_DATE_EPOCH}={epoch!r}: expected whole seconds since 1970-01-01 UTC"
            ) from None
        return exif_datetime(moment)
    return exif_datetime(_dt.datetime.now())


def colour_tags(raw: RawImage) -> tuple[np.ndarray, np.ndarray]:
    """``(ColorMatrix1, AsShotNeutral)`` for ``raw`` (see the module docstring); warns
    when LibRaw cannot develop it exactly as the engine does."""
    if raw.camera_to_srgb_matrix is None:
        # LibRaw derives the engine's matrix from the image's own ColorMatrix1.
        xyz_to_camera = raw.xyz_to_camera
        if xyz_to_camera is None:  # a camera whose RGB is linear sRGB
            xyz_to_camera = np.linalg.inv(SRGB_TO_XYZ)
        return np.asarray(xyz_to_camera, dtype=np.float64), raw.as_shot_neutral
    matrix, neutral, scale = dng_colour(raw.camera_to_srgb, raw.wb_gains, raw.xyz_to_camera)
    if math.isnan(scale):
        warnings.warn(
            "DNG: camera_to_srgb does not map white to white and no white balance makes up "
            "for it (camera_to_srgb^-1 . 1 has a non-positive entry); LibRaw will develop "
            "other colours than the engine",
            stacklevel=4,
        )
    elif abs(scale - 1.0) > 1e-3:
        warnings.warn(
            f"DNG: camera_to_srgb does not map white to white; its column scale is written "
            f"into AsShotNeutral, so LibRaw develops the same colours {scale:.4g}x "
            f"{'brighter' if scale > 1 else 'darker'} than the engine",
            stacklevel=4,
        )
    return matrix, neutral


def dng_tags(raw: RawImage, when: Any = None) -> list[tuple[int, int, int, object, bool]]:
    """The tifffile ``extratags`` for ``raw``'s metadata (``when``: :func:`dng_datetime`)."""
    pattern = raw.cfa_pattern
    cell_black = cfa_cell(raw.black_level, pattern).ravel()  # row-major, as BlackLevel wants
    xyz_to_camera, neutral = colour_tags(raw)
    capture = raw.capture
    model = capture.model or "ispengine camera"
    tags: list[tuple[int, int, int, object, bool]] = [
        (50706, BYTE, 4, DNG_VERSION, True),
        (50707, BYTE, 4, DNG_BACKWARD_VERSION, True),
        (50708, ASCII, 0, f"{capture.make or 'ispengine'} {model}", True),
        (33421, SHORT, 2, (2, 2), True),
        (33422, BYTE, 4, tuple(CFA_CODES[c] for c in pattern), True),
        (50710, BYTE, 3, (0, 1, 2), True),
        (50711, SHORT, 1, 1, True),
        (50713, SHORT, 2, (2, 2), True),
        (50714, RATIONAL, 4, _rationals(cell_black), True),
        (50717, LONG, 1, int(round(raw.white_level)), True),
        (50721, SRATIONAL, 9, _rationals(xyz_to_camera, signed=True), True),
        (50778, SHORT, 1, D65_ILLUMINANT, True),
        (50728, RATIONAL, 3, _rationals(neutral), True),
        (274, SHORT, 1, 1, True),
        (306, ASCII, 0, dng_datetime(raw, when), True),
    ]
    if capture.make:
        tags.append((271, ASCII, 0, capture.make, True))
    tags.append((272, ASCII, 0, model, True))
    tags.append((PLACEHOLDER_TAG, LONG, 1, 0, True))  # filled in by append_exif_ifd
    return tags


def write_dng(path: str | Path, raw: RawImage, *, when: Any = None) -> None:
    """Write ``raw`` as a DNG file atomically (see the module docstring).

    ``when``: the ``DateTime`` / ``DateTimeOriginal`` to write instead of the
    capture's (a :class:`datetime.datetime` or ``YYYY:MM:DD HH:MM:SS`` text).
    """
    import tifffile

    path = Path(path)
    if path.suffix.lower() != ".dng":
        raise InputError(f"{path}: a DNG file name must end in .dng")
    if min(raw.shape) < MIN_SIDE:
        raise InputError(
            f"{path}: a {raw.shape[0]}x{raw.shape[1]} mosaic is too small for a DNG that LibRaw "
            f"reads (at least {MIN_SIDE}x{MIN_SIDE})"
        )
    data = raw_digital_numbers(raw)
    if raw.white_level > 65535:
        raise InputError(f"DNG: white level {raw.white_level:g} overflows 16 bits")
    capture = attrs.evolve(raw.capture, datetime=dng_datetime(raw, when))
    raw = raw.evolve(capture=capture)
    tags = dng_tags(raw)
    with atomic_output(path) as temporary:
        tifffile.imwrite(
            temporary,
            data,
            photometric=32803,
            planarconfig=None,
            compression=None,
            software=SOFTWARE,
            subfiletype=0,
            extratags=tags,
            metadata=None,
        )
        append_exif_ifd(temporary, raw.capture)
