"""Writing a :class:`RawImage` as a DNG file that LibRaw (rawpy) reads back.

Written with tifffile (already a dependency for TIFF images) rather than
pidng: tifffile writes arbitrary typed tags through ``extratags``, writes no
timestamp unless asked (so the same image gives the same bytes), and is
actively maintained; pidng would add a dependency for the same tag list.

The file is an uncompressed 16-bit CFA image in IFD 0 (DNG 1.4, chapter 4),
with the tags LibRaw needs to develop it:

* ``CFARepeatPatternDim`` 2×2 and ``CFAPattern`` (0 = R, 1 = G, 2 = B);
* ``BlackLevelRepeatDim`` 2×2 and ``BlackLevel`` per position of the cell,
  ``WhiteLevel``;
* ``ColorMatrix1`` (XYZ → camera) with ``CalibrationIlluminant1`` = D65 (21),
  ``AsShotNeutral`` (1 / white-balance gains);
* ``Make``, ``Model``, ``UniqueCameraModel``, and an EXIF IFD with the
  optical tags (``ExposureTime``, ``FNumber``, ``ISOSpeedRatings``,
  ``FocalLength``; see :mod:`ispengine.io.raw.exif_ifd`).

Writes are atomic. Mosaic values must be integers in [0, 65535] (raw DNs), or
normalised floats in [0, 1] that are mapped back through the black and white
levels; anything else is an :class:`InputError`, and nothing is written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ispengine.core.cfa import cfa_cell
from ispengine.core.colour import SRGB_TO_XYZ
from ispengine.core.errors import InputError
from ispengine.io.atomic import atomic_output
from ispengine.io.raw.exif_ifd import PLACEHOLDER_TAG, append_exif_ifd, rational
from ispengine.io.raw.image import RawImage

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


def dng_tags(raw: RawImage) -> list[tuple[int, int, int, object, bool]]:
    """The tifffile ``extratags`` for ``raw``'s metadata."""
    pattern = raw.cfa_pattern
    cell_black = cfa_cell(raw.black_level, pattern).ravel()  # row-major, as BlackLevel wants
    xyz_to_camera = raw.xyz_to_camera
    if xyz_to_camera is None:  # a camera whose RGB is linear sRGB
        xyz_to_camera = np.linalg.inv(SRGB_TO_XYZ)
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
        (50728, RATIONAL, 3, _rationals(raw.as_shot_neutral), True),
        (274, SHORT, 1, 1, True),
    ]
    if capture.make:
        tags.append((271, ASCII, 0, capture.make, True))
    tags.append((272, ASCII, 0, model, True))
    tags.append((PLACEHOLDER_TAG, LONG, 1, 0, True))  # filled in by append_exif_ifd
    return tags


def write_dng(path: str | Path, raw: RawImage) -> None:
    """Write ``raw`` as a DNG file atomically (see the module docstring)."""
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
