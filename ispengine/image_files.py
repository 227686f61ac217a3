"""Image files for the CLI: lossless ``.npy`` arrays and 16-bit PNG/TIFF.

* ``.npy``: float32/float64 arrays of any layout, read and written losslessly.
* ``.png``: grey (mosaic) or RGB at any bit depth, read as float64 in [0, 1]
  (divided by ``2^bitdepth − 1``); written as 16-bit.
* ``.tif``/``.tiff``: 8/16-bit integer (scaled to [0, 1]) or float data;
  written as 16-bit.

Integer outputs clip to [0, 1] and quantise to 16 bits; :func:`write_image`
returns how many values were clipped so callers can warn. RAW camera files
come through rawpy in the IO plugin.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ispengine.atomic import atomic_output
from ispengine.errors import InputError

ARRAY_SUFFIXES = (".npy",)
PNG_SUFFIXES = (".png",)
TIFF_SUFFIXES = (".tif", ".tiff")
SUFFIXES = ARRAY_SUFFIXES + PNG_SUFFIXES + TIFF_SUFFIXES


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


def read_image(path: str | Path) -> np.ndarray:
    """Read an image as a float array; one-line :class:`InputError` on any problem."""
    path = Path(path)
    suffix = _suffix(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        if suffix in ARRAY_SUFFIXES:
            array = np.load(path, allow_pickle=False)
        elif suffix in PNG_SUFFIXES:
            array = _read_png(path)
        else:
            import tifffile

            array = tifffile.imread(path)
    except InputError:
        raise
    except Exception as error:  # any decoder failure is a bad file, not a crash
        raise InputError(f"{path}: cannot read image ({type(error).__name__}: {error})") from None
    return _to_float(array, path, lossless=suffix in ARRAY_SUFFIXES)


def _read_png(path: Path) -> np.ndarray:
    import png

    width, height, rows, info = png.Reader(filename=str(path)).asDirect()
    planes = info["planes"]
    array = np.vstack([np.asarray(row, dtype=np.float64) for row in rows])
    array = array.reshape(height, width, planes) / float((1 << info["bitdepth"]) - 1)
    if planes in (2, 4):  # drop alpha
        array = array[..., : planes - 1]
    return array[..., 0] if array.shape[-1] == 1 else array


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


def write_image(path: str | Path, image: np.ndarray) -> int:
    """Write ``image`` atomically; returns the number of values clipped to [0, 1].

    ``.npy`` keeps the array exactly (nothing is clipped). PNG takes
    ``(H, W)`` or ``(H, W, 3)``; TIFF any ``(H, W[, C])``.
    """
    path = Path(path)
    suffix = _suffix(path)
    image = np.asarray(image)
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
    if suffix in PNG_SUFFIXES and image.ndim == 3 and image.shape[-1] == 4:
        raise InputError(
            f"{path}: a 4-channel (packed RAW) image cannot be stored as PNG; use .npy or .tiff"
        )
    clipped = int(np.count_nonzero((image < 0) | (image > 1)))
    quantised = np.round(np.clip(image, 0.0, 1.0) * 65535).astype(np.uint16)
    with atomic_output(path) as temporary:
        if suffix in PNG_SUFFIXES:
            _write_png(temporary, quantised)
        else:
            import tifffile

            tifffile.imwrite(temporary, quantised)
    return clipped


def _write_png(path: Path, image: np.ndarray) -> None:
    import png

    height, width = image.shape[:2]
    planes = 1 if image.ndim == 2 else image.shape[-1]
    writer = png.Writer(width, height, greyscale=planes == 1, bitdepth=16)
    with open(path, "wb") as handle:
        writer.write(handle, image.reshape(height, width * planes))
