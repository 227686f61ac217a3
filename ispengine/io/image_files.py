"""Image files: lossless ``.npy`` arrays, PNG, JPEG and TIFF, with EXIF capture parameters.

* ``.npy``: float32/float64 arrays of any layout, read and written losslessly.
* ``.png``: grey (mosaic) or RGB at any bit depth, read as float64 in [0, 1]
  (divided by ``2^bitdepth − 1``); written as 16-bit (pypng) or 8-bit (Pillow).
* ``.jpg``/``.jpeg``: 8-bit RGB or grey (Pillow, quality 95, 4:4:4).
* ``.tif``/``.tiff``: 8/16-bit integer (scaled to [0, 1]) or float data;
  written as 16-bit or 8-bit (tifffile).

Integer outputs clip to [0, 1] and quantise to the bit depth; :func:`write_image`
returns how many values were clipped so callers can warn. Capture parameters
(:class:`~ispengine.io.raw.CaptureParams`) travel as EXIF: a PNG ``eXIf`` chunk,
a JPEG APP1 segment, TIFF tags with an EXIF IFD; :func:`read_capture` reads
them back. RAW camera files are read by :mod:`ispengine.io.raw.reader`.

Pixel limit: readers refuse an image of more than :func:`max_pixels` pixels
(default :data:`DEFAULT_MAX_PIXELS`, 200 million: a 100 MP photograph fits
twice) with a one-line :class:`InputError`, *before* decoding it, from the size
its header claims: PNG (IHDR), JPEG (SOF), TIFF (every page of the series
read), ``.npy`` (the array header; channels of a trailing axis of up to 4 do
not count) and camera RAW files (LibRaw's raw size). An ``.npy`` whose header
claims more bytes than the file holds is refused too. Raise or lower the limit
with the environment variable ``ISPENGINE_MAX_PIXELS`` (a whole number of
pixels), :func:`set_max_pixels`, or ``read_image(path, max_pixels=N)``. Pillow's
own decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``) is raised to at
least ours when a JPEG is read, so it never refuses an image this limit allows.
"""

from __future__ import annotations

import io
import math
import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np

from ispengine.core.errors import InputError
from ispengine.core.settings import IntegerSetting
from ispengine.io.atomic import atomic_output
from ispengine.io.exif import capture_from_pillow, exif_bytes
from ispengine.io.raw.image import CaptureParams

ARRAY_SUFFIXES = (".npy",)
PNG_SUFFIXES = (".png",)
JPEG_SUFFIXES = (".jpg", ".jpeg")
TIFF_SUFFIXES = (".tif", ".tiff")
SUFFIXES = ARRAY_SUFFIXES + PNG_SUFFIXES + JPEG_SUFFIXES + TIFF_SUFFIXES
JPEG_QUALITY = 95

#: The largest image, in pixels, the readers accept unless told otherwise.
DEFAULT_MAX_PIXELS = 200_000_000
#: The environment variable that sets the pixel limit (a whole number of pixels).
MAX_PIXELS_VARIABLE = "ISPENGINE_MAX_PIXELS"
MAX_PIXELS = IntegerSetting(
    MAX_PIXELS_VARIABLE,
    default=DEFAULT_MAX_PIXELS,
    low=1,
    description="the largest image, in pixels, that image and RAW readers accept",
)
_max_pixels_override: int | None = None


def max_pixels() -> int:
    """The pixel limit in force: :func:`set_max_pixels`'s, else ``$ISPENGINE_MAX_PIXELS``,
    else :data:`DEFAULT_MAX_PIXELS`. A malformed variable is a one-line ``ParamError``."""
    if _max_pixels_override is not None:
        return _max_pixels_override
    text = os.environ.get(MAX_PIXELS_VARIABLE, "").strip()
    if not text:
        return DEFAULT_MAX_PIXELS
    try:
        value: object = int(text)
    except ValueError:
        value = text
    return MAX_PIXELS.coerce(value)


def set_max_pixels(limit: int | None) -> None:
    """Set the pixel limit of this process (``None``: back to the variable or default)."""
    global _max_pixels_override
    _max_pixels_override = None if limit is None else MAX_PIXELS.coerce(limit)


def check_pixels(path: str | Path, pixels: int, claimed: str, *, limit: int | None = None) -> None:
    """Refuse, in one line naming ``path``, an image of more than ``limit`` pixels
    (default :func:`max_pixels`). ``claimed`` says what the file claims, e.g. ``60000x60000``."""
    limit = _resolve_limit(limit)
    if pixels > limit:
        raise InputError(
            f"{path}: image of {claimed} ({_megapixels(pixels)}) is over the limit of "
            f"{limit} pixels ({_megapixels(limit)}); refused before decoding (raise the "
            f"limit with {MAX_PIXELS_VARIABLE}=N)"
        )


def _resolve_limit(limit: int | None) -> int:
    return max_pixels() if limit is None else MAX_PIXELS.coerce(limit)


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:.4g} MP"


def _array_pixels(shape: tuple[int, ...]) -> int:
    """Pixels of an array: every element, but a trailing axis of up to 4 (channels)."""
    if len(shape) >= 3 and shape[-1] <= 4:
        shape = shape[:-1]
    return math.prod(shape)


def output_depth(path: str | Path, bits: int | None = None) -> int:
    """The bit depth an image file gets: ``bits``, else 8 for JPEG and 16 otherwise."""
    if bits is not None:
        return bits
    return 8 if Path(path).suffix.lower() in JPEG_SUFFIXES else 16


def describe_error(error: BaseException) -> str:
    """``Type: message`` of a decoder's exception, once: some libraries (pypng's
    ``FormatError``) already start their message with their type's name."""
    name, message = type(error).__name__, str(error).strip()
    if not message:
        return name
    return message if message.startswith(f"{name}:") else f"{name}: {message}"


def check_output_path(path: str | Path) -> None:
    """Fail early, before any work, on an output name of an unsupported type."""
    _suffix(Path(path))


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(
            f"{path}: unsupported file type {suffix or '(none)'!r} "
            f"(supported: {', '.join(SUFFIXES)})"
        )
    return suffix


def read_image(path: str | Path, *, max_pixels: int | None = None) -> np.ndarray:
    """Read an image as a float array; one-line :class:`InputError` on any problem.

    An image of more than ``max_pixels`` pixels (default: :func:`max_pixels`) is
    refused from its header, before it is decoded.
    """
    path = Path(path)
    suffix = _suffix(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    limit = _resolve_limit(max_pixels)
    try:
        if suffix in ARRAY_SUFFIXES:
            array = _read_npy(path, limit)
        elif suffix in PNG_SUFFIXES:
            array = _read_png(path, limit)
        elif suffix in JPEG_SUFFIXES:
            array = _read_jpeg(path, limit)
        else:
            array = _read_tiff(path, limit)
    except InputError:
        raise
    except Exception as error:  # any decoder failure is a bad file, not a crash
        raise InputError(f"{path}: cannot read image ({describe_error(error)})") from None
    return _to_float(array, path, lossless=suffix in ARRAY_SUFFIXES)


def _read_npy(path: Path, limit: int) -> np.ndarray:
    with open(path, "rb") as handle:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
        else:  # 2.0, and 3.0 (utf-8 field names) with the same layout
            shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
        claimed = f"shape {tuple(shape)}"
        check_pixels(path, _array_pixels(tuple(shape)), claimed, limit=limit)
        if dtype.hasobject:
            raise InputError(f"{path}: holds Python objects (dtype {dtype}), not numbers")
        needed = math.prod(shape) * dtype.itemsize
        held = os.fstat(handle.fileno()).st_size - handle.tell()
        if needed > held:
            raise InputError(
                f"{path}: truncated: its header claims {claimed} {dtype} ({needed} bytes) "
                f"but the file holds {held} bytes of data"
            )
        handle.seek(0)
        return np.lib.format.read_array(handle, allow_pickle=False)


def _read_png(path: Path, limit: int) -> np.ndarray:
    import png

    reader = png.Reader(filename=str(path))
    reader.preamble()  # the chunks before the image data: IHDR gives the size
    check_pixels(path, reader.width * reader.height, f"{reader.width}x{reader.height}", limit=limit)
    width, height, rows, info = reader.asDirect()
    planes = info["planes"]
    values = np.empty(
        (height, width * planes), dtype=np.uint16 if info["bitdepth"] > 8 else np.uint8
    )
    count = 0
    for count, row in enumerate(rows, start=1):  # filled row by row: no float64 rows
        values[count - 1] = row
    if count != height:
        raise InputError(f"{path}: truncated: {count} of {height} rows of image data")
    array = values.reshape(height, width, planes)
    if planes in (2, 4):  # drop alpha
        array = array[..., : planes - 1]
    if array.shape[-1] == 1:
        array = array[..., 0]
    out = array.astype(np.float64)
    out /= float((1 << info["bitdepth"]) - 1)
    return out


def _read_jpeg(path: Path, limit: int) -> np.ndarray:
    from PIL import Image

    if Image.MAX_IMAGE_PIXELS is not None and limit > Image.MAX_IMAGE_PIXELS:
        Image.MAX_IMAGE_PIXELS = limit  # Pillow's bomb check never refuses what ours allows
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # ours is below
            image = Image.open(path)
    except Image.DecompressionBombError:  # over twice Pillow's limit: read the size alone
        from PIL import JpegImagePlugin

        with JpegImagePlugin.JpegImageFile(str(path)) as header:
            size = header.size
        check_pixels(path, size[0] * size[1], f"{size[0]}x{size[1]}", limit=limit)
        raise
    with image:
        if image.format != "JPEG":
            raise InputError(f"{path}: not a JPEG file (it is {image.format or 'unknown'})")
        width, height = image.size
        check_pixels(path, width * height, f"{width}x{height}", limit=limit)
        image = image.convert("L" if image.mode in ("L", "I;16") else "RGB")
        return np.asarray(image)


def _read_tiff(path: Path, limit: int) -> np.ndarray:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        if not tif.series:
            return np.array([])
        series = tif.series[0]  # what tifffile.imread reads: every page of the first series
        pixels = math.prod(
            n for n, axis in zip(series.shape, series.axes, strict=True) if axis != "S"
        )
        shape = series.shape
        if series.axes in ("YX", "YXS"):  # one page: width x height, as for PNG and JPEG
            claimed = f"{shape[1]}x{shape[0]}"
        else:
            claimed = f"shape {'x'.join(map(str, shape))} (axes {series.axes})"
        check_pixels(path, pixels, claimed, limit=limit)
        return tif.asarray(series=0)


def read_capture(path: str | Path) -> CaptureParams:
    """The EXIF capture parameters of an image file (all ``None`` when it has none).

    Raises :class:`InputError` when the file's EXIF block exists but cannot be
    parsed, naming the file.
    """
    path = Path(path)
    suffix = _suffix(path)
    if suffix in ARRAY_SUFFIXES:
        return CaptureParams()
    try:
        if suffix in TIFF_SUFFIXES:
            return _tiff_capture(path)
        from PIL import Image

        with Image.open(path) as image:
            block = image.info.get("exif")
            if not block:
                return CaptureParams()
            header = block[6:10] if block.startswith(b"Exif\0\0") else block[:4]
            exif = image.getexif()
            if header not in (b"II*\0", b"MM\0*") or not (len(exif) or exif.get_ifd(0x8769)):
                raise ValueError("the EXIF block is not a valid TIFF structure")
            return capture_from_pillow(exif)
    except InputError:
        raise
    except Exception as error:
        raise InputError(
            f"{path}: unreadable EXIF ({describe_error(error)}); "
            "capture parameters cannot be taken from it"
        ) from None


def _tiff_capture(path: Path) -> CaptureParams:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        tags = tif.pages[0].tags
        exif = tags["ExifTag"].value if "ExifTag" in tags else {}
        if not isinstance(exif, dict):
            raise ValueError("EXIF IFD is not a directory")

        def text(name: str) -> str | None:
            return tags[name].value if name in tags else None

        def number(name: str) -> float | None:
            value = exif.get(name)
            if isinstance(value, tuple) and len(value) == 2:
                value = value[0] / value[1] if value[1] else None
            return float(value) if value else None

        from ispengine.io.raw.image import lenient_exif_datetime

        times = (exif.get("DateTimeOriginal"), exif.get("DateTimeDigitized"), text("DateTime"))
        return CaptureParams(
            iso=number("ISOSpeedRatings"),
            exposure_time=number("ExposureTime"),
            f_number=number("FNumber"),
            focal_length=number("FocalLength"),
            make=text("Make"),
            model=text("Model"),
            datetime=next((t for t in map(lenient_exif_datetime, times) if t is not None), None),
        )


def _to_float(array: np.ndarray, path: Path, *, lossless: bool) -> np.ndarray:
    if array.dtype in (np.float32, np.float64):
        out = array
    elif not lossless and array.dtype in (np.uint8, np.uint16):
        out = array.astype(np.float64) / np.iinfo(array.dtype).max
    elif lossless:
        raise InputError(f"{path}: expected a float32 or float64 array, got dtype {array.dtype}")
    else:
        raise InputError(
            f"{path}: unsupported sample type {array.dtype} (8/16-bit, float32 or float64)"
        )
    if out.size == 0:
        raise InputError(f"{path}: image is empty (shape {out.shape})")
    if not np.all(np.isfinite(out)):
        raise InputError(f"{path}: contains NaN or Inf values")
    return out


def write_image(
    path: str | Path,
    image: np.ndarray,
    *,
    capture: CaptureParams | None = None,
    bits: int | None = None,
    clipped: int | None = None,
) -> int:
    """Write ``image`` atomically; returns the number of values clipped to [0, 1].

    ``.npy`` keeps the array exactly (nothing is clipped). PNG and JPEG take
    ``(H, W)`` or ``(H, W, 3)``; TIFF any ``(H, W[, C])``.

    ``image`` may also be already quantised: uint8 for 8 bits, uint16 for 16 (e.g.
    ``Pipeline.render(x, np.uint16)``, quantised inside a fused pass); it is written
    as it is, and ``clipped`` (the count its producer reports, default 0) is returned.

    Args:
        capture: capture parameters stored as EXIF (PNG, JPEG, TIFF).
        bits: 8 or 16 (default 16; JPEG is always 8; for integer data, its depth).
        clipped: for integer data, how many values its quantisation clipped.
    """
    path = Path(path)
    suffix = _suffix(path)
    image = np.asarray(image)
    quantised_input = image.dtype in (np.uint8, np.uint16) and suffix not in ARRAY_SUFFIXES
    if bits is None:
        bits = 8 if image.dtype == np.uint8 else output_depth(path)
    if quantised_input and image.dtype != (np.uint8 if bits == 8 else np.uint16):
        raise InputError(f"{path}: {image.dtype} data cannot be written as {bits}-bit")
    if bits not in (8, 16) or (suffix in JPEG_SUFFIXES and bits != 8):
        raise InputError(f"{path}: cannot write {bits}-bit {suffix} (8 or 16; JPEG 8 only)")
    if suffix in ARRAY_SUFFIXES:
        if image.dtype not in (np.float32, np.float64):
            raise InputError(f"{path}: expected float32 or float64 data, got {image.dtype}")
        with atomic_output(path) as temporary, open(temporary, "wb") as handle:
            np.save(handle, image, allow_pickle=False)
        return 0
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (1, 3, 4)):
        raise InputError(
            f"{path}: cannot store an array of shape {image.shape} as {suffix}; use .npy"
        )
    if suffix not in TIFF_SUFFIXES and image.ndim == 3 and image.shape[-1] == 4:
        raise InputError(
            f"{path}: a 4-channel (packed RAW) image cannot be stored as {suffix}; "
            "use .npy or .tiff"
        )
    if image.size == 0:
        raise InputError(f"{path}: image is empty (shape {image.shape})")
    if quantised_input:
        quantised, clipped = image, int(clipped or 0)
    else:
        from ispengine.kernels.output import quantise

        if not np.all(np.isfinite(image)):
            raise InputError(f"{path}: image contains NaN or Inf values")
        quantised, clipped = quantise(image, np.uint8 if bits == 8 else np.uint16)
    if quantised.ndim == 3 and quantised.shape[-1] == 1:
        quantised = quantised[..., 0]
    with atomic_output(path) as temporary:
        if suffix in PNG_SUFFIXES and bits == 16:
            _write_png16(temporary, quantised, capture)
        elif suffix in PNG_SUFFIXES + JPEG_SUFFIXES:
            _write_pillow(temporary, quantised, capture, jpeg=suffix in JPEG_SUFFIXES)
        else:
            _write_tiff(temporary, quantised, capture)
    return clipped


def _write_pillow(path: Path, image: np.ndarray, capture: CaptureParams | None, *, jpeg: bool):
    from PIL import Image

    options: dict = {"exif": exif_bytes(capture)} if capture is not None else {}
    if jpeg:
        options.update(quality=JPEG_QUALITY, subsampling=0)
    Image.fromarray(image).save(path, format="JPEG" if jpeg else "PNG", **options)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def _write_png16(path: Path, image: np.ndarray, capture: CaptureParams | None) -> None:
    import png

    height, width = image.shape[:2]
    planes = 1 if image.ndim == 2 else image.shape[-1]
    writer = png.Writer(width, height, greyscale=planes == 1, bitdepth=16)
    buffer = io.BytesIO()
    writer.write(buffer, image.reshape(height, width * planes))
    data = buffer.getvalue()
    if capture is not None:  # an eXIf chunk right after IHDR (PNG 3rd edition, 11.3.6)
        end_of_header = 8 + 8 + 13 + 4
        block = exif_bytes(capture).removeprefix(b"Exif\0\0")  # eXIf holds the TIFF part only
        data = data[:end_of_header] + _png_chunk(b"eXIf", block) + data[end_of_header:]
    path.write_bytes(data)


def _write_tiff(path: Path, image: np.ndarray, capture: CaptureParams | None) -> None:
    import tifffile

    from ispengine.io.raw.exif_ifd import PLACEHOLDER_TAG, append_exif_ifd

    tags = []
    if capture is not None:
        if capture.make:
            tags.append((271, 2, 0, capture.make, True))
        if capture.model:
            tags.append((272, 2, 0, capture.model, True))
        tags.append((PLACEHOLDER_TAG, 4, 1, 0, True))
    photometric = "rgb" if image.ndim == 3 and image.shape[-1] == 3 else None
    tifffile.imwrite(path, image, photometric=photometric, extratags=tags, metadata=None)
    if capture is not None:
        append_exif_ifd(path, capture)
