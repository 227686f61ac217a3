"""Capture parameters ↔ EXIF (CIPA DC-008, EXIF 2.32), through Pillow and exifread.

* :func:`exif_bytes` encodes :class:`~ispengine.io.raw.CaptureParams` as an EXIF
  block (``Make``/``Model`` in IFD 0, ``ExposureTime``, ``FNumber``,
  ``ISOSpeedRatings``, ``FocalLength`` in the EXIF IFD; a known capture time as
  ``DateTime`` in IFD 0 and ``DateTimeOriginal``/``DateTimeDigitized`` in the
  EXIF IFD) for PNG ``eXIf`` chunks and JPEG APP1 segments.
* :func:`capture_from_pillow` and :func:`capture_from_exifread` decode the
  same fields from Pillow's ``Image.Exif`` and exifread's tag dict; the capture
  time is ``DateTimeOriginal``, else ``DateTimeDigitized``, else IFD 0's
  ``DateTime``.

Zero or missing values mean "unknown" (``None``), and so does a date that is
not a valid ``YYYY:MM:DD HH:MM:SS`` (EXIF 2.32 §4.6.5).
"""

from __future__ import annotations

from typing import Any

from ispengine.io.raw.exif_ifd import rational
from ispengine.io.raw.image import CaptureParams, lenient_exif_datetime

MAKE, MODEL, EXIF_IFD = 0x010F, 0x0110, 0x8769
EXPOSURE_TIME, F_NUMBER, ISO, FOCAL_LENGTH = 0x829A, 0x829D, 0x8827, 0x920A
EXIF_VERSION = 0x9000
DATETIME, DATETIME_ORIGINAL, DATETIME_DIGITIZED = 0x0132, 0x9003, 0x9004


def _rational(value: float, *, exposure: bool = False) -> Any:
    from PIL.TiffImagePlugin import IFDRational

    return IFDRational(*rational(value, exposure=exposure))


def exif_bytes(capture: CaptureParams) -> bytes:
    """The EXIF block of ``capture``, with the ``Exif\\0\\0`` prefix of a JPEG APP1 segment."""
    from PIL import Image

    exif = Image.Exif()
    if capture.make:
        exif[MAKE] = capture.make
    if capture.model:
        exif[MODEL] = capture.model
    if capture.datetime:
        exif[DATETIME] = capture.datetime
    ifd = exif.get_ifd(EXIF_IFD)
    ifd[EXIF_VERSION] = b"0232"
    if capture.exposure_time is not None:
        ifd[EXPOSURE_TIME] = _rational(capture.exposure_time, exposure=True)
    if capture.f_number is not None:
        ifd[F_NUMBER] = _rational(capture.f_number)
    if capture.iso is not None:
        ifd[ISO] = int(min(65535, round(capture.iso)))
    if capture.focal_length is not None:
        ifd[FOCAL_LENGTH] = _rational(capture.focal_length)
    if capture.datetime:
        ifd[DATETIME_ORIGINAL] = ifd[DATETIME_DIGITIZED] = capture.datetime
    return exif.tobytes()


def _first_datetime(*values: Any) -> str | None:
    """The first of ``values`` that is a valid EXIF date and time, or None."""
    for value in values:
        text = lenient_exif_datetime(value)
        if text is not None:
            return text
    return None


def _number(value: Any) -> float | None:
    """A positive float from an EXIF value (rational, int, tuple), or None."""
    if isinstance(value, (tuple, list)):
        if not value:
            return None
        value = value[0]
    if hasattr(value, "num") and hasattr(value, "den"):  # exifread Ratio
        value = value.num / value.den if value.den else 0
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if number > 0 and number == number and number != float("inf") else None


def capture_from_pillow(exif: Any) -> CaptureParams:
    """Capture parameters from a Pillow ``Image.Exif`` (IFD 0 and the EXIF IFD)."""
    ifd = exif.get_ifd(EXIF_IFD)

    def get(tag: int) -> Any:
        return ifd.get(tag, exif.get(tag))

    return CaptureParams(
        iso=_number(get(ISO)),
        exposure_time=_number(get(EXPOSURE_TIME)),
        f_number=_number(get(F_NUMBER)),
        focal_length=_number(get(FOCAL_LENGTH)),
        make=exif.get(MAKE),
        model=exif.get(MODEL),
        datetime=_first_datetime(
            get(DATETIME_ORIGINAL), get(DATETIME_DIGITIZED), exif.get(DATETIME)
        ),
    )


def capture_from_exifread(tags: dict[str, Any]) -> CaptureParams:
    """Capture parameters from exifread's ``process_file`` result."""

    def get(*names: str) -> Any:
        for name in names:
            if name in tags:
                return tags[name].values
        return None

    def text(*names: str) -> str | None:
        value = get(*names)
        return str(value) if value else None

    return CaptureParams(
        iso=_number(get("EXIF ISOSpeedRatings", "Image ISOSpeedRatings")),
        exposure_time=_number(get("EXIF ExposureTime", "Image ExposureTime")),
        f_number=_number(get("EXIF FNumber", "Image FNumber")),
        focal_length=_number(get("EXIF FocalLength", "Image FocalLength")),
        make=text("Image Make"),
        model=text("Image Model"),
        datetime=_first_datetime(
            get("EXIF DateTimeOriginal", "Image DateTimeOriginal"),
            get("EXIF DateTimeDigitized", "Image DateTimeDigitized"),
            get("Image DateTime"),
        ),
    )


def read_exif_capture(path: str) -> CaptureParams:
    """Capture parameters of any TIFF-based or JPEG file by exifread (RAW fallback).

    Raises ``ValueError`` when the EXIF structure cannot be parsed.
    """
    import exifread

    with open(path, "rb") as handle:
        tags = exifread.process_file(handle, details=False, strict=True)
    return capture_from_exifread(tags)
