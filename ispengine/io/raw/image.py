"""The engine's RAW image: a Bayer mosaic with everything needed to develop it.

``RawImage`` carries the visible mosaic (raw digital numbers, or values
normalised to [0, 1] when ``normalized``), its Bayer pattern, black and
white levels, as-shot white balance, the colour matrix, and the capture
parameters. Conventions follow the DNG specification 1.6:

* ``cfa_pattern``: the colours of the top-left 2×2 cell, row by row, one of
  ``rggb``, ``bggr``, ``grbg``, ``gbrg`` (DNG ``CFAPattern``).
* ``black_level``: per CFA channel in the order R, Gr, Gb, B (Gr: the green
  on the red rows), whatever the pattern.
* ``wb_gains``: as-shot white-balance gains (R, G, B), normalised to G = 1;
  DNG ``AsShotNeutral`` is ``1 / wb_gains``.
* ``xyz_to_camera``: DNG ``ColorMatrix1`` for a D65 calibration illuminant,
  CIE XYZ (D65) → camera RGB.
* ``camera_to_srgb``: white-balanced camera RGB → linear sRGB. When not given
  it is derived from ``xyz_to_camera`` exactly as LibRaw does (dcraw's
  ``cam_xyz_coeff``): rows of ``xyz_to_camera · sRGB→XYZ`` normalised to sum
  1, then inverted, so a neutral maps to a neutral. When it is given (an
  sRGB-to-RAW method's drawn matrix, LibRaw's ``rgb_cam``), it is what the
  engine develops with, and :func:`colour_matrix_for` gives the
  ``ColorMatrix1`` that makes LibRaw derive the same matrix back.
* ``CaptureParams.datetime``: the capture time as EXIF writes it
  (``YYYY:MM:DD HH:MM:SS``, local time without a zone; EXIF 2.32 §4.6.5,
  ``DateTimeOriginal``), or ``None`` when unknown.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from typing import Any

import attrs
import numpy as np
from attrs import field, frozen

from ispengine.core.cfa import PATTERNS
from ispengine.core.colour import SRGB_TO_XYZ
from ispengine.core.errors import InputError

#: The metadata keys that describe the camera (pattern, levels, colour data).
CAMERA_METADATA_KEYS = (
    "cfa_pattern",
    "black_level",
    "white_level",
    "wb_gains",
    "camera_to_srgb",
    "xyz_to_camera",
)
# What a pipeline can take from a file (``from_metadata`` in TOML specs): the camera
# and the capture (EXIF); see :meth:`RawImage.metadata`.
METADATA_KEYS = (
    *CAMERA_METADATA_KEYS,
    "iso",
    "exposure_time",
    "f_number",
    "focal_length",
    "make",
    "model",
)


def _optional_positive(name: str) -> Any:
    def check(instance: Any, attribute: Any, value: Any) -> None:
        if value is not None and not (isinstance(value, (int, float)) and value > 0):
            raise InputError(f"{name}: must be a positive number, got {value!r}")
        if value is not None and not math.isfinite(value):
            raise InputError(f"{name}: must be finite, got {value!r}")

    return check


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _optional_text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip().strip("\x00").strip()
    return text or None


# The exact inverse of the matrix LibRaw's rule multiplies by (not the tabulated
# XYZ → sRGB, which is its inverse only to 7 digits).
_XYZ_TO_SRGB = np.linalg.inv(SRGB_TO_XYZ)

#: EXIF's date-time format (EXIF 2.32 §4.6.5: ``DateTimeOriginal``, 20 bytes with the NUL).
EXIF_DATETIME_FORMAT = "%Y:%m:%d %H:%M:%S"
_DATETIME = re.compile(r"^(\d{4})[:\-](\d{2})[:\-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")


def exif_datetime(value: Any) -> str | None:
    """A capture time as EXIF writes it (``YYYY:MM:DD HH:MM:SS``), or ``None`` when unknown.

    Takes a :class:`datetime.datetime` (its wall-clock time; a zone is dropped, as
    EXIF's ``DateTimeOriginal`` has none), or text in the EXIF form or ISO 8601
    (``YYYY-MM-DD[T ]HH:MM:SS``; fractions of a second and a zone after it are
    ignored). Blank text and EXIF's "unknown" forms (all zeros, blanks or colons)
    are ``None``; any other text that is not a valid date and time is an
    :class:`InputError`.
    """
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        return value.strftime(EXIF_DATETIME_FORMAT)
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    text = str(value).strip().strip("\x00").strip()
    if not text or not text.strip("0: -T"):  # EXIF 2.32: unknown is blanks or zeros
        return None
    match = _DATETIME.match(text)
    if match is None:
        raise InputError(f"datetime: expected 'YYYY:MM:DD HH:MM:SS', got {value!r}")
    try:
        moment = _dt.datetime(*(int(part) for part in match.groups()))
    except ValueError as error:
        raise InputError(f"datetime: {value!r} is not a valid date and time ({error})") from None
    return moment.strftime(EXIF_DATETIME_FORMAT)


def lenient_exif_datetime(value: Any) -> str | None:
    """:func:`exif_datetime`, with an unreadable value taken as unknown (files in the wild)."""
    try:
        return exif_datetime(value)
    except InputError:
        return None


@frozen
class CaptureParams:
    """How a picture was taken (EXIF): every field is optional (``None`` = unknown).

    Attributes:
        iso: ISO speed rating (EXIF ``ISOSpeedRatings``), > 0.
        exposure_time: seconds (EXIF ``ExposureTime``), > 0.
        f_number: aperture f-number (EXIF ``FNumber``), > 0.
        focal_length: millimetres (EXIF ``FocalLength``), > 0.
        make, model: camera maker and model (EXIF/TIFF ``Make``, ``Model``).
        datetime: when the picture was taken, as EXIF writes it
            (``YYYY:MM:DD HH:MM:SS``, EXIF ``DateTimeOriginal``; see :func:`exif_datetime`
            for what it accepts). Not a pipeline value: :meth:`RawImage.metadata`
            leaves it out.
    """

    iso: float | None = field(
        default=None, converter=_optional_float, validator=_optional_positive("iso")
    )
    exposure_time: float | None = field(
        default=None, converter=_optional_float, validator=_optional_positive("exposure_time")
    )
    f_number: float | None = field(
        default=None, converter=_optional_float, validator=_optional_positive("f_number")
    )
    focal_length: float | None = field(
        default=None, converter=_optional_float, validator=_optional_positive("focal_length")
    )
    make: str | None = field(default=None, converter=_optional_text)
    model: str | None = field(default=None, converter=_optional_text)
    datetime: str | None = field(default=None, converter=exif_datetime)

    OPTICAL = ("iso", "exposure_time", "f_number", "focal_length")

    def as_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CaptureParams:
        known = {a.name for a in attrs.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def merged(self, fallback: CaptureParams) -> CaptureParams:
        """These values, with unknown ones taken from ``fallback``."""
        ours = self.as_dict()
        theirs = fallback.as_dict()
        return CaptureParams(**{k: theirs[k] if v is None else v for k, v in ours.items()})


def camera_to_srgb_from_xyz(xyz_to_camera: np.ndarray) -> np.ndarray:
    """White-balanced camera RGB → linear sRGB from a D65 ``ColorMatrix`` (LibRaw's rule)."""
    camera_from_srgb = np.asarray(xyz_to_camera, dtype=np.float64) @ SRGB_TO_XYZ
    sums = camera_from_srgb.sum(axis=1, keepdims=True)
    if np.any(np.abs(sums) < 1e-12):
        raise InputError("colour matrix: a camera channel does not respond to white")
    return np.linalg.inv(camera_from_srgb / sums)


def camera_to_srgb_is_white_preserving(camera_to_srgb: np.ndarray, *, atol: float = 1e-6) -> bool:
    """Whether a camera → sRGB matrix maps camera white ``(1, 1, 1)`` to sRGB white."""
    matrix = np.asarray(camera_to_srgb, dtype=np.float64)
    return bool(np.allclose(matrix @ np.ones(3), 1.0, rtol=0.0, atol=atol))


def colour_matrix_for(
    camera_to_srgb: np.ndarray, xyz_to_camera: np.ndarray | None = None, *, atol: float = 1e-5
) -> np.ndarray:
    """A DNG ``ColorMatrix1`` (D65, XYZ → camera) from which LibRaw derives ``camera_to_srgb``.

    ``xyz_to_camera`` itself when LibRaw's rule (:func:`camera_to_srgb_from_xyz`)
    already gives ``camera_to_srgb`` from it (within ``atol``: a camera's own
    matrix is kept); otherwise ``camera_to_srgb⁻¹ · XYZ→sRGB``. LibRaw normalises
    the rows of ``ColorMatrix1 · sRGB→XYZ = camera_to_srgb⁻¹`` to sum 1 and
    inverts the result, which gives ``camera_to_srgb`` back exactly when
    ``camera_to_srgb`` maps white to white (the rows of its inverse sum to 1).

    A matrix that does not map white to white cannot be a DNG colour matrix
    (DNG 1.6 §6.3: the camera neutral maps to the white point): LibRaw would
    develop with ``camera_to_srgb · diag(n)``, ``n = camera_to_srgb⁻¹ · 1``
    (each column scaled). :func:`dng_colour` moves that scale into the white
    balance instead; this function returns the matrix either way.
    """
    matrix = np.asarray(camera_to_srgb, dtype=np.float64)
    if xyz_to_camera is not None:
        try:
            derived = camera_to_srgb_from_xyz(xyz_to_camera)
        except (InputError, np.linalg.LinAlgError):
            derived = None
        if derived is not None and np.allclose(derived, matrix, rtol=0.0, atol=atol):
            return np.asarray(xyz_to_camera, dtype=np.float64)
    try:
        return np.linalg.inv(matrix) @ _XYZ_TO_SRGB
    except np.linalg.LinAlgError:
        raise InputError("camera_to_srgb: the matrix is singular") from None


def dng_colour(
    camera_to_srgb: np.ndarray, wb_gains: np.ndarray, xyz_to_camera: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, float]:
    """``(ColorMatrix1, AsShotNeutral, scale)`` that make LibRaw develop as the engine does.

    The engine develops white-balanced camera RGB with ``camera_to_srgb ·
    diag(wb_gains)``; LibRaw develops a DNG with ``M · diag(1 / AsShotNeutral)``, ``M``
    derived from ``ColorMatrix1`` (:func:`colour_matrix_for`; DNG 1.6 §6.3
    "Mapping Camera Color Space to CIE XYZ Space", with ``CalibrationIlluminant1``
    = D65). When ``camera_to_srgb`` maps white to white, ``M = camera_to_srgb`` and
    ``AsShotNeutral = 1 / wb_gains``: ``scale`` is 1.

    Otherwise (``n = camera_to_srgb⁻¹ · 1`` not all ones) ``M = camera_to_srgb ·
    diag(n)``, and the neutral written is ``n / wb_gains``, normalised to green 1:
    LibRaw's development is the engine's times ``scale = n_G`` (the same colours;
    the brightness, which a DNG's colour tags cannot carry, differs by that factor;
    LibRaw also scales gains so the smallest is 1). When some ``n`` is not positive
    no white balance can do that: the neutral is ``1 / wb_gains``, LibRaw's colours
    differ, and ``scale`` is NaN.
    """
    matrix = np.asarray(camera_to_srgb, dtype=np.float64)
    gains = np.asarray(wb_gains, dtype=np.float64)
    colour_matrix = colour_matrix_for(matrix, xyz_to_camera)
    neutral = 1.0 / gains
    if camera_to_srgb_is_white_preserving(matrix):
        return colour_matrix, neutral, 1.0
    response = np.linalg.inv(matrix) @ np.ones(3)  # camera RGB of sRGB white
    if not np.all(response > 0):
        return colour_matrix, neutral, math.nan
    neutral = response * neutral
    return colour_matrix, neutral / neutral[1], float(response[1])


def split_white_balance(
    camera_rgb_to_srgb: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, float] | None:
    """A colour matrix on camera RGB *without* white balance, as DNG data.

    ``M = scale · camera_to_srgb · diag(wb_gains)`` with ``camera_to_srgb`` mapping
    white to white and ``wb_gains`` normalised to green 1 (DNG 1.6 §6.3: the camera
    neutral ``AsShotNeutral = 1 / wb_gains`` is the camera's response to white,
    ``M⁻¹ · 1``). Returns ``(wb_gains, camera_to_srgb, scale)``, or ``None`` when
    ``M`` is singular or its camera neutral has a non-positive channel (no white
    balance can express it).
    """
    matrix = np.asarray(camera_rgb_to_srgb, dtype=np.float64)
    try:
        neutral = np.linalg.solve(matrix, np.ones(3))
    except np.linalg.LinAlgError:
        return None
    if not (np.all(np.isfinite(neutral)) and np.all(neutral > 0)):
        return None
    return neutral[1] / neutral, matrix * neutral[None, :], float(1.0 / neutral[1])


def _as_matrix(value: Any) -> np.ndarray | None:
    if value is None:
        return None
    matrix = np.array(value, dtype=np.float64).reshape(3, 3)
    if not np.all(np.isfinite(matrix)):
        raise InputError("colour matrix: contains NaN or Inf")
    matrix.setflags(write=False)
    return matrix


def _as_vector(size: int, name: str) -> Any:
    def convert(value: Any) -> np.ndarray:
        vector = np.array(np.broadcast_to(np.asarray(value, dtype=np.float64), (size,)))
        if not np.all(np.isfinite(vector)):
            raise InputError(f"{name}: contains NaN or Inf")
        vector.setflags(write=False)
        return vector

    return convert


def _check_pattern(instance: Any, attribute: Any, value: str) -> None:
    if value not in PATTERNS:
        raise InputError(f"cfa_pattern: {value!r} is not a Bayer pattern ({', '.join(PATTERNS)})")


def _check_mosaic(instance: Any, attribute: Any, value: np.ndarray) -> None:
    if value.ndim != 2:
        raise InputError(f"mosaic: expected a 2-D (H, W) array, got shape {value.shape}")
    if value.size == 0:
        raise InputError(f"mosaic: image is empty (shape {value.shape})")
    if value.shape[0] % 2 or value.shape[1] % 2:
        raise InputError(f"mosaic: height and width must be even, got {value.shape}")
    if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
        raise InputError("mosaic: contains NaN or Inf values")


def _as_colour_matrix(value: Any) -> np.ndarray:
    return _as_matrix(np.eye(3) if value is None else value)


@frozen(eq=False)
class CameraColour:
    """A camera's colour data for one image (conventions in the module docstring).

    Attributes:
        cfa_pattern: Bayer pattern of the top-left 2×2 cell (``rggb``, ``bggr``,
            ``grbg``, ``gbrg``).
        wb_gains: as-shot white-balance gains (R, G, B), G = 1, each > 0.
        camera_to_srgb: white-balanced camera RGB → linear sRGB, 3×3.
        xyz_to_camera: DNG ``ColorMatrix1`` (CIE XYZ D65 → camera RGB), 3×3,
            or ``None`` when the file has none.
    """

    cfa_pattern: str = field(default="rggb", converter=str.lower, validator=_check_pattern)
    wb_gains: np.ndarray = field(default=1.0, converter=_as_vector(3, "wb_gains"))
    camera_to_srgb: np.ndarray = field(default=None, converter=_as_colour_matrix)
    xyz_to_camera: np.ndarray | None = field(default=None, converter=_as_matrix)

    def __attrs_post_init__(self) -> None:
        if np.any(self.wb_gains <= 0):
            raise InputError(f"wb_gains: must be positive, got {self.wb_gains.tolist()}")


@frozen(eq=False)
class RawImage:
    """A Bayer RAW image and its metadata (see the module docstring for conventions)."""

    mosaic: np.ndarray = field(converter=np.asarray, validator=_check_mosaic)
    cfa_pattern: str = field(default="rggb", converter=str.lower, validator=_check_pattern)
    black_level: np.ndarray = field(default=0.0, converter=_as_vector(4, "black_level"))
    white_level: float = field(default=65535.0, converter=float)
    wb_gains: np.ndarray = field(default=1.0, converter=_as_vector(3, "wb_gains"))
    xyz_to_camera: np.ndarray | None = field(default=None, converter=_as_matrix)
    camera_to_srgb_matrix: np.ndarray | None = field(default=None, converter=_as_matrix)
    capture: CaptureParams = field(factory=CaptureParams)
    normalized: bool = False

    def __attrs_post_init__(self) -> None:
        if not self.white_level > np.max(self.black_level):
            raise InputError(
                f"white_level {self.white_level:g} must exceed every black level "
                f"{np.max(self.black_level):g}"
            )
        if np.any(self.wb_gains <= 0):
            raise InputError(f"wb_gains: must be positive, got {self.wb_gains.tolist()}")

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.mosaic.shape)

    @property
    def camera_to_srgb(self) -> np.ndarray:
        """White-balanced camera RGB → linear sRGB (given, or derived from the colour matrix)."""
        if self.camera_to_srgb_matrix is not None:
            return self.camera_to_srgb_matrix
        if self.xyz_to_camera is not None:
            return camera_to_srgb_from_xyz(self.xyz_to_camera)
        return np.eye(3)

    @property
    def colour(self) -> CameraColour:
        """The CFA pattern, white balance and colour matrices of this image."""
        return CameraColour(
            self.cfa_pattern, self.wb_gains, self.camera_to_srgb, self.xyz_to_camera
        )

    @property
    def as_shot_neutral(self) -> np.ndarray:
        """DNG ``AsShotNeutral``: the camera-space neutral, ``1 / wb_gains``."""
        return 1.0 / self.wb_gains

    def metadata(self) -> dict[str, Any]:
        """Values a pipeline can take from this file (``from_metadata`` in TOML specs)."""
        values: dict[str, Any] = {
            "cfa_pattern": self.cfa_pattern,
            "black_level": self.black_level,
            "white_level": self.white_level,
            "wb_gains": self.wb_gains,
            "camera_to_srgb": self.camera_to_srgb,
        }
        if self.xyz_to_camera is not None:
            values["xyz_to_camera"] = self.xyz_to_camera
        for name, value in self.capture.as_dict().items():
            if value is not None and name != "datetime":  # a file's, not a camera's
                values[name] = value
        return values

    def evolve(self, **changes: Any) -> RawImage:
        return attrs.evolve(self, **changes)
