"""An EXIF sub-IFD appended to a little-endian TIFF/DNG file written by tifffile.

LibRaw takes the ISO speed of a DNG only from its EXIF IFD (tag 34665), which
tifffile cannot write. The file is written with a placeholder entry in IFD 0 (tag 34664, which
sorts to the same place); :func:`append_exif_ifd` then appends the EXIF directory at
the end of the file (TIFF 6.0 section 2 layout: entry count, 12-byte entries
sorted by tag, next-IFD offset 0, then the values longer than 4 bytes) and
points the placeholder at it.
"""

from __future__ import annotations

import struct
from pathlib import Path

from ispengine.io.raw.image import CaptureParams

EXIF_IFD_TAG = 34665
# tifffile refuses to write tag 34665 itself; this unused tag number sorts to the
# same place in IFD 0 and is renamed to 34665 when the pointer is filled in.
PLACEHOLDER_TAG = 34664
ASCII, SHORT, RATIONAL, UNDEFINED = 2, 3, 5, 7
EXIF_VERSION = b"0231"
# EXIF 2.32 §4.6.5: when the picture was taken, and when it was stored digitally.
DATETIME_ORIGINAL, DATETIME_DIGITIZED = 36867, 36868


def rational(value: float, *, exposure: bool = False, signed: bool = False) -> tuple[int, int]:
    """``value`` as a TIFF (S)RATIONAL numerator, denominator pair.

    Exposure times below a second are written as ``1/n`` when they are one, as
    cameras do; other values take the nearest fraction with a denominator up
    to 10^6, halved until it fits 32 bits (31 bits and a sign when ``signed``).
    """
    from fractions import Fraction

    if exposure and 0 < value < 1 and abs(1 / value - round(1 / value)) < 1e-6 / value:
        return (1, int(round(1 / value)))
    fraction = Fraction(float(value)).limit_denominator(1_000_000)
    if not signed and fraction < 0:
        raise ValueError(f"{value:g} must not be negative")
    numerator, denominator = fraction.numerator, fraction.denominator
    limit = 2**31 - 1 if signed else 2**32 - 1
    while abs(numerator) > limit:
        numerator, denominator = numerator // 2, max(1, denominator // 2)
    return (numerator, denominator)


def exif_entries(capture: CaptureParams) -> list[tuple[int, int, int, bytes]]:
    """(tag, type, count, little-endian value bytes) for the optical parameters and,
    when known, the capture time (``DateTimeOriginal`` and ``DateTimeDigitized``)."""
    entries = [(36864, UNDEFINED, 4, EXIF_VERSION)]
    if capture.datetime is not None:
        text = capture.datetime.encode("ascii") + b"\0"  # 20 bytes, NUL-terminated
        entries += [
            (tag, ASCII, len(text), text) for tag in (DATETIME_ORIGINAL, DATETIME_DIGITIZED)
        ]
    if capture.exposure_time is not None:
        entries.append(
            (
                33434,
                RATIONAL,
                1,
                struct.pack("<2I", *rational(capture.exposure_time, exposure=True)),
            )
        )
    if capture.f_number is not None:
        entries.append((33437, RATIONAL, 1, struct.pack("<2I", *rational(capture.f_number))))
    if capture.iso is not None:
        entries.append((34855, SHORT, 1, struct.pack("<H", int(min(65535, round(capture.iso))))))
    if capture.focal_length is not None:
        entries.append((37386, RATIONAL, 1, struct.pack("<2I", *rational(capture.focal_length))))
    return sorted(entries)


def encode_ifd(entries: list[tuple[int, int, int, bytes]], offset: int) -> bytes:
    """One IFD placed at file ``offset`` (even), its long values right after it."""
    head = struct.pack("<H", len(entries))
    data_start = offset + 2 + 12 * len(entries) + 4
    body, data = b"", b""
    for tag, kind, count, value in entries:
        if len(value) <= 4:
            body += struct.pack("<HHI", tag, kind, count) + value.ljust(4, b"\0")
        else:
            body += struct.pack("<HHII", tag, kind, count, data_start + len(data))
            data += value + b"\0" * (len(value) % 2)
    return head + body + struct.pack("<I", 0) + data


def append_exif_ifd(path: str | Path, capture: CaptureParams) -> None:
    """Append the EXIF IFD of ``capture`` to ``path`` and point IFD 0's placeholder at it."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        if tif.byteorder != "<" or tif.is_bigtiff:
            raise ValueError("expected a little-endian classic TIFF")
        pointer = tif.pages[0].tags[PLACEHOLDER_TAG].valueoffset
    with open(path, "r+b") as handle:
        handle.seek(0, 2)
        end = handle.tell()
        if end % 2:
            handle.write(b"\0")
            end += 1
        handle.write(encode_ifd(exif_entries(capture), end))
        handle.seek(pointer - 8)  # the entry: tag, type, count, then the value
        handle.write(struct.pack("<HHII", EXIF_IFD_TAG, 4, 1, end))
