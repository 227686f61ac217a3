"""Reading camera RAW files through rawpy (LibRaw) into a :class:`RawImage`.

Any format LibRaw decodes works (DNG, CR2/CR3, NEF, ARW, RAF with a Bayer
sensor, ...). What is read:

* the visible mosaic (``raw_image_visible``; an odd trailing row or column is
  dropped so the 2×2 pattern stays whole), as uint16 raw DNs;
* the Bayer pattern, from ``raw_pattern`` and ``color_desc`` (both greens are
  ``g``), and the black level per CFA channel R, Gr, Gb, B from
  ``black_level_per_channel`` (indexed by LibRaw's colour index);
* the white level, the as-shot white balance (``camera_whitebalance``,
  normalised to G = 1; daylight balance or unity when the file has none);
* colour: LibRaw's ``rgb_cam`` (``color_matrix``) as ``camera_to_srgb`` and
  ``rgb_xyz_matrix`` as ``xyz_to_camera`` (for DNGs, which LibRaw does not
  expose there, ``ColorMatrix1``/``2`` are read from the file with tifffile);
* :class:`CaptureParams` from ``raw.other`` (ISO, shutter, aperture, focal
  length, capture time), completed from EXIF by exifread (make, model, and any
  value LibRaw left at zero); EXIF's ``DateTimeOriginal`` wins over LibRaw's
  timestamp, which is the same local time when both exist. An unreadable EXIF
  block only loses those fallbacks.

Non-Bayer sensors (X-Trans, Foveon, linear/demosaiced DNG, four-colour CFAs)
raise :class:`InputError` ("not supported") instead of giving wrong colours.

Headerless sensor dumps (``.raw``, ``.bin``; :mod:`ispengine.io.raw.headerless`):
with a declared geometry (``read_raw(path, geometry)``) such a file is always
read as a dump, never by LibRaw. Without one, a ``.raw`` goes to LibRaw only when
it starts with a TIFF-family byte-order mark (``II`` or ``MM``), as Panasonic and
Leica ``.RAW`` files do; any other ``.raw``, and every ``.bin``, is refused with a
line saying the dump's geometry is needed. LibRaw is not simply tried first
because it guesses headerless files from their size alone (dcraw's table of
file sizes): it reads fast-openISP's 1920x1080 RGGB 10-bit dump as a GBRG frame
with white level 65535, without a word.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ispengine.core.cfa import CFA_CHANNELS, cfa_positions
from ispengine.core.errors import InputError
from ispengine.io.image_files import SUFFIXES, check_pixels, describe_error
from ispengine.io.raw.image import CaptureParams, RawImage, lenient_exif_datetime

NOT_RAW_SUFFIXES = {
    ".jpg": "a JPEG image",
    ".jpeg": "a JPEG image",
    ".png": "a PNG image",
    ".tif": "a TIFF image",
    ".tiff": "a TIFF image",
    ".npy": "a numpy array",
}
# Side-car and text files that sit beside RAW files and are never RAW data.
SIDECAR_SUFFIXES = (".json", ".toml", ".txt", ".md", ".xmp", ".csv", ".pp3", ".dop")


def is_sidecar_path(path: str | Path) -> bool:
    """Whether a file is a side-car (``.json``, ``.xmp``, ...), never an image or a RAW."""
    return Path(path).suffix.lower() in SIDECAR_SUFFIXES


def is_raw_path(path: str | Path) -> bool:
    """Whether a file is treated as camera RAW (any suffix but images and side-cars)."""
    suffix = Path(path).suffix.lower()
    return suffix not in SUFFIXES and suffix not in SIDECAR_SUFFIXES


def _pattern(raw, path: Path) -> tuple[str, np.ndarray]:
    """The Bayer pattern string and the 2×2 LibRaw colour indices of the visible cell."""
    import rawpy

    if raw.raw_type != rawpy.RawType.Flat:
        raise InputError(
            f"{path}: not supported: the file holds {raw.raw_type.name.lower()} (non-mosaic) "
            "data (Foveon or linear DNG); only Bayer RAW files can be read"
        )
    cell = np.asarray(raw.raw_pattern)
    if cell is None or cell.shape != (2, 2):
        shape = "x".join(map(str, cell.shape)) if cell is not None else "unknown"
        raise InputError(
            f"{path}: not supported: {shape} colour filter array (X-Trans or other non-Bayer "
            "sensor); only 2x2 Bayer patterns can be read"
        )
    desc = raw.color_desc.decode("ascii", "replace").lower()
    letters = "".join(desc[int(i)] for i in cell.ravel())
    if sorted(letters) != ["b", "g", "g", "r"]:
        raise InputError(
            f"{path}: not supported: colour filter array {letters.upper()!r} is not an RGB "
            "Bayer pattern"
        )
    return letters, cell


def _black_levels(raw, pattern: str, cell: np.ndarray) -> np.ndarray:
    per_index = np.asarray(raw.black_level_per_channel, dtype=np.float64)
    positions = cfa_positions(pattern)
    return np.array([per_index[int(cell[positions[c]])] for c in CFA_CHANNELS])


def _wb_gains(raw) -> np.ndarray:
    desc = raw.color_desc.decode("ascii", "replace").upper()
    for source in (raw.camera_whitebalance, raw.daylight_whitebalance):
        values = np.asarray(source, dtype=np.float64)
        red, green, blue = values[desc.index("R")], values[desc.index("G")], values[desc.index("B")]
        if red > 0 and green > 0 and blue > 0:
            return np.array([red, green, blue]) / green
    return np.ones(3)


def _dng_color_matrix(path: Path) -> np.ndarray | None:
    """``ColorMatrix1``/``2`` of a DNG (preferring the D65-calibrated one), or None."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            tags = tif.pages[0].tags
            choices = []
            for matrix_tag, illuminant_tag in ((50721, 50778), (50722, 50779)):
                if matrix_tag in tags:
                    values = np.asarray(tags[matrix_tag].value, dtype=np.float64).ravel()
                    if values.size == 18:  # rational pairs
                        values = values[0::2] / values[1::2]
                    if values.size != 9:
                        continue
                    illuminant = tags[illuminant_tag].value if illuminant_tag in tags else 0
                    choices.append((int(illuminant) != 21, values.reshape(3, 3)))
    except Exception:  # noqa: BLE001 - an unusual DNG: fall back to LibRaw's matrix only
        return None
    return min(choices, key=lambda c: c[0])[1] if choices else None


def _timestamp(value) -> str | None:
    """LibRaw's capture time (rawpy gives a local ``datetime``; 0 = unknown = 1970)."""
    if value is None or getattr(value, "year", 1970) <= 1970:
        return None
    return lenient_exif_datetime(value)


def _capture(raw, path: Path) -> CaptureParams:
    other = raw.other

    def positive(value: float) -> float | None:
        return float(value) if value and value > 0 else None

    libraw = CaptureParams(
        iso=positive(other.iso_speed),
        exposure_time=positive(other.shutter_speed),
        f_number=positive(other.aperture),
        focal_length=positive(other.focal_length),
        datetime=_timestamp(getattr(other, "timestamp", None)),
    )
    from ispengine.io.exif import read_exif_capture

    try:
        exif = read_exif_capture(str(path))
    except Exception as error:  # noqa: BLE001 - EXIF is only a fallback here
        warnings.warn(
            f"{path}: unreadable EXIF ({type(error).__name__}); make and model unknown",
            stacklevel=3,
        )
        return libraw
    return exif.merged(libraw)  # EXIF keeps exact rationals; LibRaw's are float32


def _open(path: Path):
    import rawpy

    suffix = path.suffix.lower()
    if suffix in NOT_RAW_SUFFIXES:
        raise InputError(f"{path}: expected a camera RAW file, got {NOT_RAW_SUFFIXES[suffix]}")
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty")
    try:
        raw = rawpy.imread(str(path))
    except rawpy.LibRawFileUnsupportedError:
        raise InputError(
            f"{path}: not a RAW file LibRaw can read (unsupported or unrecognised format)"
        ) from None
    except (rawpy.LibRawError, OSError) as error:
        raise InputError(
            f"{path}: not a readable RAW file (truncated, corrupt or not RAW data; "
            f"LibRaw: {type(error).__name__})"
        ) from None
    return raw


GEOMETRY_NEEDED = (
    "a headerless sensor dump needs its geometry: give --width, --height, --raw-bits and "
    "--pattern (and --packing, --byte-order, --black, --white when needed), or an [input] "
    "table in the spec"
)


def read_raw(path: str | Path, geometry=None) -> RawImage:
    """Read a Bayer RAW file; one-line :class:`InputError` for anything unreadable.

    ``geometry`` (a :class:`~ispengine.io.raw.headerless.SensorGeometry`): how a
    headerless ``.raw``/``.bin`` dump is laid out; ignored for other suffixes (see
    the module docstring)."""
    from ispengine.io.raw.headerless import is_headerless_path, read_headerless

    path = Path(path)
    if is_headerless_path(path):
        if geometry is not None:
            return read_headerless(path, geometry)
        if path.suffix.lower() == ".bin" or (path.is_file() and not _has_tiff_mark(path)):
            raise InputError(f"{path}: {GEOMETRY_NEEDED}")
        try:
            return _read_libraw(path)
        except InputError:
            if not path.is_file() or path.stat().st_size == 0:
                raise
            raise InputError(f"{path}: LibRaw cannot read it; {GEOMETRY_NEEDED}") from None
    return _read_libraw(path)


def _has_tiff_mark(path: Path) -> bool:
    """Whether a file starts with a TIFF-family byte-order mark (``II``/``MM``)."""
    with open(path, "rb") as handle:
        return handle.read(2) in (b"II", b"MM")


def _read_libraw(path: Path) -> RawImage:
    import rawpy

    with _open(path) as raw:
        sizes = raw.sizes  # from the header: refuse a huge claim before unpacking any data
        check_pixels(
            path, sizes.raw_width * sizes.raw_height, f"{sizes.raw_width}x{sizes.raw_height}"
        )
        try:
            pattern, cell = _pattern(raw, path)
            mosaic = np.array(raw.raw_image_visible, dtype=np.uint16)
            black = _black_levels(raw, pattern, cell)
            white = float(raw.white_level)
            gains = _wb_gains(raw)
            rgb_cam = np.asarray(raw.color_matrix, dtype=np.float64)[:, :3]
            xyz_cam = np.asarray(raw.rgb_xyz_matrix, dtype=np.float64)[:3]
            capture = _capture(raw, path)
        except rawpy.LibRawError as error:
            raise InputError(f"{path}: corrupt RAW data ({describe_error(error)})") from None
    height, width = mosaic.shape
    mosaic = mosaic[: height - height % 2, : width - width % 2]
    if mosaic.size == 0:
        raise InputError(f"{path}: the RAW image is empty")
    if not np.any(xyz_cam) and path.suffix.lower() == ".dng":
        xyz_cam = _dng_color_matrix(path)
    return RawImage(
        mosaic,
        pattern,
        black,
        white,
        gains,
        xyz_to_camera=xyz_cam if xyz_cam is not None and np.any(xyz_cam) else None,
        camera_to_srgb_matrix=rgb_cam if np.any(rgb_cam) else None,
        capture=capture,
    )
