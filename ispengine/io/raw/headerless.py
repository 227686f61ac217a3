"""Headerless sensor dumps: raw Bayer frames (``.raw``, ``.bin``) whose layout is declared.

A sensor dump is the frame a sensor sends, written as is, with no header: its
width, height, bit depth, Bayer pattern, packing, byte order and levels must be
given separately, as a :class:`SensorGeometry` (from the command line's
``--width --height --raw-bits --pattern ...`` flags or a pipeline spec's
``[input]`` table, see :mod:`ispengine.core.spec`). :func:`read_headerless`
reads one into a :class:`~ispengine.io.raw.image.RawImage`.

Packings (``packing``), row by row, top row first:

* ``unpacked``: one pixel per little- or big-endian (``byte_order``) word of
  ``ceil(bits / 8)`` bytes: one byte for 8-bit data, two bytes (uint16) for
  9- to 16-bit data, the value in the low ``bits`` bits (as fast-openISP's
  ``raw/test.RAW``: 1920x1080, 10-bit, little-endian uint16; Q. Qiu,
  fast-openISP, github.com/QiuJueqin/fast-openISP, ``configs/test.yaml``).
* ``unpacked16``: two bytes per pixel whatever ``bits`` (e.g. 8-bit data in
  uint16 words).
* ``mipi_raw10`` (aliases ``raw10``, ``mipi10``): MIPI CSI-2 RAW10, 4 pixels in
  5 bytes: bytes 0..3 hold bits 9..2 of pixels 0..3, byte 4 their two least
  significant bits, pixel ``i``'s in bits ``2i+1..2i`` (pixel 0 in bits 1..0,
  pixel 3 in bits 7..6). The width must be a multiple of 4.
* ``mipi_raw12`` (aliases ``raw12``, ``mipi12``): MIPI CSI-2 RAW12, 2 pixels in
  3 bytes: bytes 0 and 1 hold bits 11..4 of pixels 0 and 1, byte 2 their four
  least significant bits, pixel 0's in bits 3..0 and pixel 1's in bits 7..4.

Both MIPI layouts are those of the MIPI Alliance's CSI-2 specification (v1.01,
2005, §11.4.4 "RAW10" and §11.4.5 "RAW12"), as documented for Linux's
``V4L2_PIX_FMT_SRGGB10P`` / ``Y10P`` and ``V4L2_PIX_FMT_SRGGB12P`` formats (the
Linux kernel's V4L2 user-space API documentation, "10-bit packed Bayer
formats" and "12-bit packed Bayer formats") and Android's ``ImageFormat.RAW10``
/ ``RAW12``. The MIPI packings always hold 10 and 12 bits.

``stride``: bytes from the start of one row to the start of the next (rows
padded, e.g. to a multiple of 64 bytes), at least a row's bytes; the file
holds ``stride × height`` bytes, or ``stride × (height − 1)`` plus one row (no
padding after the last row). The padding is skipped.

Levels: ``black`` (one value, or four for the CFA channels R, Gr, Gb, B as in
:class:`RawImage`; default 0) and ``white`` (default ``2**bits − 1``) in raw
digital numbers. A dump carries no white balance or colour matrix: the
:class:`RawImage` has white balance 1, 1, 1 and camera RGB = linear sRGB.

What is refused, each with a one-line :class:`InputError`: an impossible
declaration (an odd or non-positive width or height, ``bits`` outside 8..16,
an unknown pattern, packing or byte order, a MIPI packing with another bit
depth, a RAW10 width that is not a multiple of 4, a black level outside
``[0, 2**bits − 1]``, ``white`` above ``2**bits − 1`` or not above every black
level, a stride shorter than a row); a frame over the pixel limit
(:func:`ispengine.io.image_files.check_pixels`); a file whose size is not the
declared frame's (the message gives both byte counts and the geometries that
size fits, e.g. ``4147200 bytes fit 1920x1080 16-bit unpacked``), refused
before anything is read (nothing beyond the declared frame is ever read); and
unpacked values above ``2**bits − 1`` (a wrong bit depth or byte order, or
data aligned to the high bits: declare ``bits = 16`` for that).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from attrs import field, frozen

from ispengine.core.cfa import PATTERNS
from ispengine.core.errors import InputError
from ispengine.io.image_files import check_pixels
from ispengine.io.raw.image import CaptureParams, RawImage

#: Suffixes of headerless sensor dumps (read with a declared :class:`SensorGeometry`).
HEADERLESS_SUFFIXES = (".raw", ".bin")
#: The keys of a geometry (a spec's ``[input]`` table, :meth:`SensorGeometry.from_mapping`).
GEOMETRY_KEYS = (
    "width",
    "height",
    "bits",
    "pattern",
    "packing",
    "byte_order",
    "black",
    "white",
    "stride",
)
PACKINGS = ("unpacked", "unpacked16", "mipi_raw10", "mipi_raw12")
PACKING_ALIASES = {"raw10": "mipi_raw10", "mipi10": "mipi_raw10"} | {
    "raw12": "mipi_raw12",
    "mipi12": "mipi_raw12",
}
BYTE_ORDERS = ("little", "big")
BYTE_ORDER_ALIASES = {"le": "little", "be": "big"}
# Bit depth a MIPI packing holds, and (pixels, bytes) of one packed group.
MIPI_BITS = {"mipi_raw10": 10, "mipi_raw12": 12}
MIPI_GROUP = {"mipi_raw10": (4, 5), "mipi_raw12": (2, 3)}
# Layouts offered when a file's size disagrees: (name, bytes per pixel as a fraction).
_FITS = (
    ("8-bit unpacked", 1, 1),
    ("16-bit unpacked", 2, 1),
    ("MIPI RAW10", 5, 4),
    ("MIPI RAW12", 3, 2),
)


def is_headerless_path(path: str | Path) -> bool:
    """Whether a file's suffix is a headerless dump's (``.raw``, ``.bin``; any case)."""
    return Path(path).suffix.lower() in HEADERLESS_SUFFIXES


def _whole(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise InputError(f"{name}: expected a whole number, got {value!r}")
    return int(value)


def _size(name: str) -> Any:
    def convert(value: Any) -> int:
        number = _whole(name, value)
        if number <= 0:
            raise InputError(f"{name}: must be positive, got {number}")
        if number % 2:
            raise InputError(
                f"{name}: {number} is odd; a Bayer mosaic needs an even width and height"
            )
        return number

    return convert


def _bits(value: Any) -> int:
    number = _whole("bits", value)
    if not 8 <= number <= 16:
        raise InputError(f"bits: {number} is outside 8..16")
    return number


def _choice(name: str, choices: tuple[str, ...], aliases: Mapping[str, str]) -> Any:
    def convert(value: Any) -> str:
        if not isinstance(value, str):
            raise InputError(f"{name}: expected text, got {value!r}")
        text = value.strip().lower()
        text = aliases.get(text, text)
        if text not in choices:
            raise InputError(f"{name}: unknown {name} {value!r} (known: {', '.join(choices)})")
        return text

    return convert


def _pattern(value: Any) -> str:
    if not isinstance(value, str) or value.strip().lower() not in PATTERNS:
        raise InputError(f"pattern: {value!r} is not a Bayer pattern ({', '.join(PATTERNS)})")
    return value.strip().lower()


def _level(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"{name}: expected a number, got {value!r}")
    if not math.isfinite(value):
        raise InputError(f"{name}: must be finite, got {value!r}")
    return float(value)


def _black(value: Any) -> tuple[float, ...]:
    values = list(value) if isinstance(value, (list, tuple, np.ndarray)) else [value]
    if len(values) not in (1, 4):
        raise InputError(
            f"black: expected one level or four (R, Gr, Gb, B), got {len(values)} values"
        )
    levels = tuple(_level("black", v) for v in values)
    return levels * 4 if len(levels) == 1 else levels


def _optional(convert: Any) -> Any:
    return lambda value: None if value is None else convert(value)


@frozen
class SensorGeometry:
    """How a headerless dump is laid out (see the module docstring); checked on construction.

    Attributes:
        width, height: the frame in pixels, each positive and even.
        bits: bit depth of the samples, 8..16 (10 for ``mipi_raw10``, 12 for ``mipi_raw12``).
        pattern: Bayer pattern of the top-left 2×2 cell (``rggb``, ``bggr``, ``grbg``,
            ``gbrg``).
        packing: ``unpacked`` (default), ``unpacked16``, ``mipi_raw10`` or ``mipi_raw12``.
        byte_order: ``little`` (default) or ``big``, for two-byte words.
        black: black level(s) in digital numbers, R, Gr, Gb, B (one value: all four),
            in ``[0, 2**bits − 1]``; default 0.
        white: white level in digital numbers, above every black level, at most
            ``2**bits − 1`` (the default).
        stride: bytes per row including padding (``None``: rows are not padded).
    """

    width: int = field(converter=_size("width"))
    height: int = field(converter=_size("height"))
    bits: int = field(converter=_bits)
    pattern: str = field(converter=_pattern)
    packing: str = field(
        default="unpacked", converter=_choice("packing", PACKINGS, PACKING_ALIASES)
    )
    byte_order: str = field(
        default="little", converter=_choice("byte_order", BYTE_ORDERS, BYTE_ORDER_ALIASES)
    )
    black: tuple[float, ...] = field(default=0.0, converter=_black)
    white: float | None = field(default=None, converter=_optional(lambda v: _level("white", v)))
    stride: int | None = field(default=None, converter=_optional(lambda v: _whole("stride", v)))

    def __attrs_post_init__(self) -> None:
        top = self.max_code
        if self.packing in MIPI_BITS and self.bits != MIPI_BITS[self.packing]:
            raise InputError(
                f"packing: {self.packing} holds {MIPI_BITS[self.packing]}-bit pixels, "
                f"but bits is {self.bits}"
            )
        if self.packing == "mipi_raw10" and self.width % 4:
            raise InputError(
                f"width: {self.width} is not a multiple of 4, which MIPI RAW10 packs "
                "(4 pixels in 5 bytes)"
            )
        if any(b < 0 or b > top for b in self.black):
            levels = self.black[:1] if len(set(self.black)) == 1 else self.black
            raise InputError(
                f"black: {', '.join(f'{b:g}' for b in levels)} is outside 0..{top} "
                f"({self.bits}-bit)"
            )
        if self.white is None:
            object.__setattr__(self, "white", float(top))
        if self.white > top:
            raise InputError(f"white: {self.white:g} exceeds the {self.bits}-bit maximum {top}")
        if self.white <= max(self.black):
            raise InputError(
                f"white: {self.white:g} must exceed the black level {max(self.black):g}"
            )
        if self.stride is not None and self.stride < self.row_bytes:
            raise InputError(
                f"stride: {self.stride} bytes is shorter than a row "
                f"({self.row_bytes} bytes: {self.width} pixels, {self.layout})"
            )

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> SensorGeometry:
        """A geometry from a table (a spec's ``[input]``, flags); ``None`` values are unset.

        ``width``, ``height`` and ``pattern`` are required, and ``bits`` unless the
        packing is a MIPI one (which fixes it)."""
        unknown = sorted(set(values) - set(GEOMETRY_KEYS))
        if unknown:
            raise InputError(
                f"headerless input: unknown key {unknown[0]!r} (known: {', '.join(GEOMETRY_KEYS)})"
            )
        given = {k: v for k, v in values.items() if v is not None}
        if "bits" not in given and "packing" in given:
            packing = _choice("packing", PACKINGS, PACKING_ALIASES)(given["packing"])
            if packing in MIPI_BITS:
                given["bits"] = MIPI_BITS[packing]
        for key in ("width", "height", "bits", "pattern"):
            if key not in given:
                flag = "--raw-bits" if key == "bits" else f"--{key}"
                raise InputError(
                    f"headerless input: missing {key} (give {flag} or {key} in the spec's "
                    "[input] table)"
                )
        return cls(**given)

    @property
    def max_code(self) -> int:
        """The largest value ``bits`` bits hold, ``2**bits − 1``."""
        return (1 << self.bits) - 1

    @property
    def word_bytes(self) -> int:
        """Bytes per pixel of an unpacked packing (1 or 2)."""
        if self.packing == "unpacked16":
            return 2
        return 1 if self.bits <= 8 else 2

    @property
    def row_bytes(self) -> int:
        """Bytes of one row's pixels (without padding)."""
        if self.packing in MIPI_GROUP:
            pixels, size = MIPI_GROUP[self.packing]
            return self.width // pixels * size
        return self.width * self.word_bytes

    @property
    def row_stride(self) -> int:
        return self.row_bytes if self.stride is None else self.stride

    @property
    def frame_bytes(self) -> int:
        """The bytes of the whole frame, padding included."""
        return self.row_stride * self.height

    @property
    def accepted_sizes(self) -> tuple[int, ...]:
        """File sizes read: the frame, or (padded rows) the frame without the last padding."""
        short = self.row_stride * (self.height - 1) + self.row_bytes
        return (self.frame_bytes,) if short == self.frame_bytes else (self.frame_bytes, short)

    @property
    def layout(self) -> str:
        """How pixels are stored, in words (``unpacked 16-bit little-endian``, ``MIPI RAW10``)."""
        if self.packing in MIPI_BITS:
            return f"MIPI RAW{MIPI_BITS[self.packing]}"
        if self.word_bytes == 1:
            return "unpacked 8-bit"
        return f"unpacked 16-bit {self.byte_order}-endian"

    def describe(self) -> str:
        """E.g. ``1920x1080 10-bit rggb, unpacked 16-bit little-endian``."""
        stride = "" if self.stride is None else f", stride {self.stride}"
        return f"{self.width}x{self.height} {self.bits}-bit {self.pattern}, {self.layout}{stride}"


def resolve_geometry(
    table: Mapping[str, Any] | None, overrides: Mapping[str, Any] | None = None
) -> SensorGeometry | None:
    """A spec's ``[input]`` values with ``overrides`` (flags; ``None`` = not given) on top;
    ``None`` when neither gives any value."""
    merged = {**(table or {}), **{k: v for k, v in (overrides or {}).items() if v is not None}}
    return SensorGeometry.from_mapping(merged) if merged else None


def _fits(size: int, geometry: SensorGeometry) -> list[str]:
    """Geometries (declared width and/or height, common layouts) ``size`` bytes hold exactly."""
    width, height = geometry.width, geometry.height
    found: list[str] = []
    for name, num, den in _FITS:
        if size * den == width * height * num:
            found.append(f"{width}x{height} {name}")
    for name, num, den in _FITS:
        if (width * num) % den == 0:
            row = width * num // den
            rows = size // row
            if size % row == 0 and rows % 2 == 0 and rows != height:
                found.append(f"{width}x{rows} {name}")
        if size % height == 0 and (size // height * den) % num == 0:
            columns = size // height * den // num
            if columns % 2 == 0 and columns != width and (name != "MIPI RAW10" or columns % 4 == 0):
                found.append(f"{columns}x{height} {name}")
    return list(dict.fromkeys(found))


def _size_error(path: Path, size: int, geometry: SensorGeometry) -> InputError:
    expected = " or ".join(str(s) for s in geometry.accepted_sizes)
    fits = _fits(size, geometry)
    hint = (
        f"{size} bytes fit {' or '.join(fits[:3])}"
        if fits
        else "no common layout with the declared width or height fits that size"
    )
    return InputError(
        f"{path}: size mismatch: {geometry.describe()} needs {expected} bytes, the file has "
        f"{size} bytes; {hint}"
    )


def unpack_mipi_raw10(data: np.ndarray) -> np.ndarray:
    """MIPI CSI-2 RAW10 bytes ``(..., 5n)`` → pixels ``(..., 4n)`` uint16 (module docstring)."""
    data = np.asarray(data, dtype=np.uint8)
    if data.shape[-1] % 5:
        raise InputError(f"MIPI RAW10: {data.shape[-1]} bytes per row is not a multiple of 5")
    groups = data.reshape(*data.shape[:-1], -1, 5).astype(np.uint16)
    low = groups[..., 4:5]
    shifts = np.arange(4, dtype=np.uint16) * 2
    pixels = (groups[..., :4] << 2) | ((low >> shifts) & 0x3)
    return pixels.reshape(*data.shape[:-1], -1)


def pack_mipi_raw10(pixels: np.ndarray) -> np.ndarray:
    """Pixels ``(..., 4n)`` in 0..1023 → MIPI CSI-2 RAW10 bytes ``(..., 5n)`` uint8."""
    pixels = np.asarray(pixels)
    if pixels.shape[-1] % 4:
        raise InputError(f"MIPI RAW10: a row of {pixels.shape[-1]} pixels is not a multiple of 4")
    if pixels.size and (pixels.min() < 0 or pixels.max() > 1023):
        raise InputError("MIPI RAW10: values must lie in 0..1023")
    groups = pixels.astype(np.uint16).reshape(*pixels.shape[:-1], -1, 4)
    out = np.empty((*groups.shape[:-1], 5), dtype=np.uint8)
    out[..., :4] = groups >> 2
    shifts = np.arange(4, dtype=np.uint16) * 2
    out[..., 4] = np.bitwise_or.reduce((groups & 0x3) << shifts, axis=-1)
    return out.reshape(*pixels.shape[:-1], -1)


def unpack_mipi_raw12(data: np.ndarray) -> np.ndarray:
    """MIPI CSI-2 RAW12 bytes ``(..., 3n)`` → pixels ``(..., 2n)`` uint16 (module docstring)."""
    data = np.asarray(data, dtype=np.uint8)
    if data.shape[-1] % 3:
        raise InputError(f"MIPI RAW12: {data.shape[-1]} bytes per row is not a multiple of 3")
    groups = data.reshape(*data.shape[:-1], -1, 3).astype(np.uint16)
    pixels = np.empty((*groups.shape[:-1], 2), dtype=np.uint16)
    pixels[..., 0] = (groups[..., 0] << 4) | (groups[..., 2] & 0xF)
    pixels[..., 1] = (groups[..., 1] << 4) | (groups[..., 2] >> 4)
    return pixels.reshape(*data.shape[:-1], -1)


def pack_mipi_raw12(pixels: np.ndarray) -> np.ndarray:
    """Pixels ``(..., 2n)`` in 0..4095 → MIPI CSI-2 RAW12 bytes ``(..., 3n)`` uint8."""
    pixels = np.asarray(pixels)
    if pixels.shape[-1] % 2:
        raise InputError(f"MIPI RAW12: a row of {pixels.shape[-1]} pixels is not even")
    if pixels.size and (pixels.min() < 0 or pixels.max() > 4095):
        raise InputError("MIPI RAW12: values must lie in 0..4095")
    groups = pixels.astype(np.uint16).reshape(*pixels.shape[:-1], -1, 2)
    out = np.empty((*groups.shape[:-1], 3), dtype=np.uint8)
    out[..., :2] = groups >> 4
    out[..., 2] = (groups[..., 0] & 0xF) | ((groups[..., 1] & 0xF) << 4)
    return out.reshape(*pixels.shape[:-1], -1)


def encode_headerless(mosaic: np.ndarray, geometry: SensorGeometry) -> bytes:
    """The bytes of a dump of ``mosaic`` (H, W digital numbers) laid out as ``geometry``
    says (padding rows to ``stride`` with zeros); for tests and for writing dumps."""
    mosaic = np.asarray(mosaic)
    if mosaic.shape != (geometry.height, geometry.width):
        raise InputError(
            f"mosaic: shape {mosaic.shape} is not the geometry's "
            f"{geometry.height}x{geometry.width} (height x width)"
        )
    if mosaic.size and (mosaic.min() < 0 or mosaic.max() > geometry.max_code):
        raise InputError(f"mosaic: values must lie in 0..{geometry.max_code}")
    if geometry.packing == "mipi_raw10":
        rows = pack_mipi_raw10(mosaic)
    elif geometry.packing == "mipi_raw12":
        rows = pack_mipi_raw12(mosaic)
    elif geometry.word_bytes == 1:
        rows = mosaic.astype(np.uint8)
    else:
        order = "<" if geometry.byte_order == "little" else ">"
        rows = mosaic.astype(f"{order}u2").view(np.uint8).reshape(geometry.height, -1)
    if geometry.row_stride > geometry.row_bytes:
        padded = np.zeros((geometry.height, geometry.row_stride), dtype=np.uint8)
        padded[:, : geometry.row_bytes] = rows
        rows = padded
    return np.ascontiguousarray(rows).tobytes()


def _rows(data: np.ndarray, geometry: SensorGeometry) -> np.ndarray:
    """The (height, row_bytes) pixel bytes of a frame, padding skipped (a view)."""
    return np.lib.stride_tricks.as_strided(
        data,
        shape=(geometry.height, geometry.row_bytes),
        strides=(geometry.row_stride, 1),
        writeable=False,
    )


def decode_headerless(data: np.ndarray, geometry: SensorGeometry) -> np.ndarray:
    """The (H, W) uint16 mosaic of a frame's bytes (``data``: uint8, an accepted size)."""
    rows = _rows(np.ascontiguousarray(data, dtype=np.uint8), geometry)
    if geometry.packing == "mipi_raw10":
        return unpack_mipi_raw10(rows)
    if geometry.packing == "mipi_raw12":
        return unpack_mipi_raw12(rows)
    if geometry.word_bytes == 1:
        return rows.astype(np.uint16)
    order = "<" if geometry.byte_order == "little" else ">"
    return np.ascontiguousarray(rows).view(f"{order}u2").astype(np.uint16)


def read_headerless(path: str | Path, geometry: SensorGeometry) -> RawImage:
    """Read a headerless dump laid out as ``geometry`` into a :class:`RawImage` of raw DNs.

    One-line :class:`InputError` for a missing or non-regular file, a frame over the
    pixel limit, a size that is not the declared frame's (checked before reading) and
    values above ``2**bits − 1``."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a regular file")
    check_pixels(path, geometry.width * geometry.height, f"{geometry.width}x{geometry.height}")
    size = path.stat().st_size
    if size not in geometry.accepted_sizes:
        raise _size_error(path, size, geometry)
    with open(path, "rb") as handle:
        data = np.fromfile(handle, dtype=np.uint8, count=size)
    if data.size != size:
        raise InputError(f"{path}: read {data.size} of {size} bytes (the file changed?)")
    mosaic = decode_headerless(data, geometry)
    top = int(mosaic.max())
    if top > geometry.max_code:
        over = int(np.count_nonzero(mosaic > geometry.max_code))
        raise InputError(
            f"{path}: {over} values exceed the {geometry.bits}-bit maximum {geometry.max_code} "
            f"(largest {top}): wrong bits or byte order? (data aligned to the high bits: "
            "declare bits 16)"
        )
    return RawImage(
        mosaic,
        geometry.pattern,
        np.asarray(geometry.black),
        geometry.white,
        1.0,
        capture=CaptureParams(),
    )
