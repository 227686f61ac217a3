"""The sRGB-to-RAW method interface every unprocessing plugin implements.

A method turns a camera's sRGB image back into a RAW mosaic. Plugins register
subclasses of :class:`SrgbToRawMethod` through ``ispengine_register_srgb_to_raw``.
One interface serves analytic methods (UPI), learned ones (CycleISP) and
one-to-many samplers (SemiISP):

* ``fit(dataset, budget)``: learn from paired data (the train split of a
  :class:`~ispengine.learning.datasets.PairedDataset`) within a :class:`Budget` of steps
  or seconds. Analytic methods may gather statistics (e.g. a camera bank) or
  do nothing. Learned methods show progress and can resume from a checkpoint.
* ``convert(srgb, capture=, metadata=, seed=)``: one RAW, as an
  :class:`Unprocessed` (the :class:`RawImage` and everything the method drew,
  so passing that metadata back reproduces the RAW).
* ``sample(srgb, n, seed=)``: several RAWs of one image (one-to-many methods
  differ per sample; deterministic ones repeat themselves).
* ``save(path)`` / ``load(path)``: settings and weights (safetensors, or
  ``torch.load(weights_only=True)`` files); ``num_parameters()``.

Conventions. ``srgb`` is ``(H, W, 3)`` in [0, 1] (float, or uint8/uint16
scaled by their maximum), H and W even. The target camera comes from
``metadata`` (the keys of :meth:`RawImage.metadata`: ``cfa_pattern``,
``black_level``, ``white_level``, ``wb_gains``, ``camera_to_srgb``,
``xyz_to_camera``); missing keys default to an RGGB sensor with levels 0 and
1. The returned RAW is *normalised* (``normalized=True``: 0 is black, 1 is
white) and carries the target's levels, so :func:`ispengine.io.raw.levels.denormalize`
gives its digital numbers and ``write_dng`` can store it.

Colour data. The returned RAW carries the white balance and colour matrix it
was made with (:meth:`TargetCamera.make_raw`): the target's, unless the method
made it with others (UPI's drawn ``cam2rgb`` and gains, SemiISP's drawn colour
correction), so that its metadata, its DNG (``ColorMatrix1``, ``AsShotNeutral``)
and the engine's ``camera_default`` development agree with how it was made.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from attrs import field, frozen

from ispengine.core.errors import InputError, ParamError
from ispengine.core.registry import Registry
from ispengine.core.settings import (
    BooleanSetting,
    FloatSetting,
    IntegerSetting,
    OptionSpec,
    SettingBase,
    StringSetting,
    coerce_table,
)
from ispengine.io.raw.image import (
    PATTERNS,
    CaptureParams,
    RawImage,
    camera_to_srgb_is_white_preserving,
    colour_matrix_for,
)
from ispengine.learning.saved_method import SavedMethod, load_saved_method, registered_method
from ispengine.learning.saved_method import save_method as save_method  # its old home

if TYPE_CHECKING:
    from ispengine.learning.datasets import PairedDataset

SETTING_KINDS = ("int", "float", "str", "bool", "json")
# The "format" of a saved method's settings file.
FORMAT = "ispengine-srgb2raw"


def Setting(  # noqa: N802 - the old class name, kept for plugins written against it
    name: str,
    kind: str,
    default: Any,
    description: str,
    choices: tuple[str, ...] | None = None,
    low: float | None = None,
    high: float | None = None,
) -> SettingBase:
    """Deprecated: the declaration of :mod:`ispengine.core.settings` for the old ``kind`` words.

    ``int`` → :class:`IntegerSetting`, ``float`` → :class:`FloatSetting`, ``bool`` →
    :class:`BooleanSetting`, ``str`` → :class:`OptionSpec` (with ``choices``) or
    :class:`StringSetting`; ``json`` (any JSON value) has no declaration any more:
    declare an :class:`~ispengine.core.settings.ArraySetting` or a
    :class:`~ispengine.core.settings.TableSetting` instead.
    """
    warnings.warn(
        "ispengine.learning.srgb_to_raw.Setting is deprecated; declare settings with the classes "
        "of ispengine.core.settings",
        DeprecationWarning,
        stacklevel=2,
    )
    if kind not in SETTING_KINDS or kind == "json":
        raise ValueError(f"setting kind must be one of int, float, str, bool, got {kind!r}")
    if kind == "int":
        return IntegerSetting(name, default, description, low=low, high=high)
    if kind == "float":
        return FloatSetting(name, default, description, low=low, high=high)
    if kind == "bool":
        return BooleanSetting(name, default, description)
    if choices:
        return OptionSpec(name, choices, default, description)
    return StringSetting(name, default, description)


def coerce_settings(
    declared: Sequence[SettingBase], given: Mapping[str, Any], owner: str
) -> dict[str, Any]:
    """Every declared setting: the given value (checked) or its default. An unknown
    name is a :class:`ParamError` naming ``owner`` and the known settings
    (:func:`ispengine.core.settings.coerce_table`)."""
    return coerce_table(declared, given, owner)


@frozen
class Budget:
    """How much training a method may do: at most ``steps`` optimiser steps and/or
    ``seconds`` of wall time (whichever ends first). At least one must be given."""

    steps: int | None = None
    seconds: float | None = None

    def __attrs_post_init__(self) -> None:
        if self.steps is None and self.seconds is None:
            raise ParamError(key="budget", message="give steps, seconds, or both")
        if self.steps is not None and (isinstance(self.steps, bool) or self.steps < 0):
            raise ParamError(key="budget", message=f"steps must be >= 0, got {self.steps!r}")
        if self.seconds is not None and not self.seconds > 0:
            raise ParamError(key="budget", message=f"seconds must be > 0, got {self.seconds!r}")

    def exhausted(self, steps_done: int, seconds_spent: float) -> bool:
        return (self.steps is not None and steps_done >= self.steps) or (
            self.seconds is not None and seconds_spent >= self.seconds
        )

    def as_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "seconds": self.seconds}


@frozen
class FitReport:
    """What a ``fit`` did: steps run (in total, counting resumed ones), wall time of
    this call, the loss history (one value per logged step), and where it resumed."""

    steps: int = 0
    seconds: float = 0.0
    losses: tuple[float, ...] = ()
    resumed_from: int = 0
    note: str = ""

    @property
    def final_loss(self) -> float | None:
        return self.losses[-1] if self.losses else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "seconds": self.seconds,
            "final_loss": self.final_loss,
            "resumed_from": self.resumed_from,
            "note": self.note,
        }


@frozen(eq=False)
class Unprocessed:
    """One sRGB-to-RAW result: the normalised RAW and the values the method drew
    (JSON-ready; give them back as ``metadata`` to reproduce this RAW)."""

    raw: RawImage
    metadata: dict[str, Any] = field(factory=dict)


def as_srgb(image: Any) -> np.ndarray:
    """An sRGB image as float64 ``(H, W, 3)`` in [0, 1]; integers are scaled by their
    dtype's maximum. Raises :class:`InputError` for bad shapes or values."""
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise InputError(f"sRGB image: expected shape (H, W, 3), got {array.shape}")
    if array.shape[0] < 2 or array.shape[1] < 2 or array.shape[0] % 2 or array.shape[1] % 2:
        raise InputError(f"sRGB image: height and width must be even and >= 2, got {array.shape}")
    if array.dtype.kind in "ui":
        array = array.astype(np.float64) / np.iinfo(array.dtype).max
    elif array.dtype.kind == "f":
        array = array.astype(np.float64)
        if not np.all(np.isfinite(array)):
            raise InputError("sRGB image: contains NaN or Inf values")
    else:
        raise InputError(f"sRGB image: unsupported dtype {array.dtype}")
    return np.clip(array, 0.0, 1.0)


MAX_SEED = 2**63 - 1


def train_split(dataset: Any) -> Any:
    """The train split of a :class:`~ispengine.learning.datasets.PairedDataset`; any other
    sequence of samples is taken as the training data itself."""
    return dataset.split("train") if hasattr(dataset, "split") else dataset


def check_seed(seed: Any) -> int:
    """A seed as an int in [0, 2^63 − 1]; raises :class:`ParamError` otherwise."""
    if (
        isinstance(seed, bool)
        or not isinstance(seed, (int, np.integer))
        or not 0 <= seed <= MAX_SEED
    ):
        raise ParamError(
            key="seed", message=f"expected a whole number in [0, 2^63 - 1], got {seed!r}"
        )
    return int(seed)


@frozen
class TargetCamera:
    """The camera a RAW is made for: pattern, levels, and (when known) colour data."""

    cfa_pattern: str = "rggb"
    black_level: np.ndarray = field(factory=lambda: np.zeros(4))
    white_level: float = 1.0
    wb_gains: np.ndarray | None = None
    camera_to_srgb: np.ndarray | None = None
    xyz_to_camera: np.ndarray | None = None

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any] | None) -> TargetCamera:
        metadata = dict(metadata or {})
        pattern = str(metadata.get("cfa_pattern", "rggb")).lower()
        if pattern not in PATTERNS:
            raise InputError(f"cfa_pattern: expected one of {', '.join(PATTERNS)}, got {pattern!r}")

        def matrix(key: str) -> np.ndarray | None:
            value = metadata.get(key)
            if value is None:
                return None
            value = np.asarray(value, dtype=np.float64)
            if value.shape != (3, 3) or not np.all(np.isfinite(value)):
                raise InputError(f"{key}: expected a finite 3x3 matrix, got shape {value.shape}")
            return value

        try:
            black = np.broadcast_to(np.asarray(metadata.get("black_level", 0.0), float), (4,))
            white = float(metadata.get("white_level", 1.0))
            gains = metadata.get("wb_gains")
            gains = None if gains is None else np.asarray(gains, dtype=np.float64).reshape(3)
        except (TypeError, ValueError) as error:
            raise InputError(f"target camera metadata: {error}") from None
        if not (np.all(np.isfinite(black)) and math.isfinite(white) and white > black.max()):
            raise InputError(
                f"target camera metadata: white_level {white:g} must exceed every black level "
                f"{black.tolist()}"
            )
        if gains is not None and not np.all(np.isfinite(gains) & (gains > 0)):
            raise InputError(f"wb_gains: must be positive numbers, got {gains.tolist()}")
        return cls(
            pattern, black.copy(), white, gains, matrix("camera_to_srgb"), matrix("xyz_to_camera")
        )

    def as_metadata(self) -> dict[str, Any]:
        """The target as metadata keys (JSON-ready), to give back to ``convert``."""
        values: dict[str, Any] = {
            "cfa_pattern": self.cfa_pattern,
            "black_level": self.black_level.tolist(),
            "white_level": self.white_level,
        }
        for key in ("wb_gains", "camera_to_srgb", "xyz_to_camera"):
            value = getattr(self, key)
            if value is not None:
                values[key] = value.tolist()
        return values

    def make_raw(
        self,
        mosaic: np.ndarray,
        *,
        capture: CaptureParams | None = None,
        wb_gains: Sequence[float] | None = None,
        camera_to_srgb: np.ndarray | None = None,
    ) -> RawImage:
        """A normalised :class:`RawImage` of ``mosaic`` (values in [0, 1]) for this camera;
        float mosaics keep their dtype.

        ``wb_gains`` and ``camera_to_srgb``: the colour data the method made the RAW
        with, when not the target's (e.g. UPI's drawn gains and matrix, after Brooks
        et al., "Unprocessing Images for Learned Raw Denoising", CVPR 2019, §3.2).
        The RAW then carries them, and an ``xyz_to_camera`` consistent with them
        (:func:`~ispengine.io.raw.image.colour_matrix_for`: the target's own when
        LibRaw's rule gives the same matrix, else one derived from the matrix), so
        its metadata, its DNG and the engine's development all agree.
        """
        gains = wb_gains if wb_gains is not None else self.wb_gains
        matrix = camera_to_srgb if camera_to_srgb is not None else self.camera_to_srgb
        xyz_to_camera = self.xyz_to_camera
        if camera_to_srgb is not None:
            xyz_to_camera = _consistent_xyz_to_camera(np.asarray(camera_to_srgb), xyz_to_camera)
        mosaic = np.asarray(mosaic)
        if mosaic.dtype.kind != "f":
            mosaic = mosaic.astype(np.float32)
        return RawImage(
            mosaic,
            cfa_pattern=self.cfa_pattern,
            black_level=self.black_level,
            white_level=self.white_level,
            wb_gains=1.0 if gains is None else gains,
            xyz_to_camera=xyz_to_camera,
            camera_to_srgb_matrix=matrix,
            capture=capture or CaptureParams(),
            normalized=True,
        )


def _consistent_xyz_to_camera(
    camera_to_srgb: np.ndarray, xyz_to_camera: np.ndarray | None
) -> np.ndarray | None:
    """An XYZ → camera matrix from which LibRaw's rule gives ``camera_to_srgb`` (the
    given one when it does), or ``None`` when no matrix can (``camera_to_srgb`` does
    not map white to white, or is singular)."""
    if not camera_to_srgb_is_white_preserving(camera_to_srgb):
        return None
    try:
        return colour_matrix_for(camera_to_srgb, xyz_to_camera)
    except InputError:
        return None


class SrgbToRawMethod(SavedMethod):
    """Base class of sRGB-to-RAW methods (see the module docstring).

    Class attributes a subclass sets:
        name: registry name, lower-case.
        summary: one line for listings.
        settings: the declared constructor keywords (:mod:`ispengine.core.settings`);
            their checked values are ``method.config``, saved by :meth:`save`.
        one_to_many: different seeds give different RAWs of one image.
        learned: ``fit`` trains weights (it needs torch).
        needs_srgb_for_forward: its RAW→sRGB direction needs the sRGB image
            itself (CycleISP), so it has no standalone forward ISP.
    """

    one_to_many: ClassVar[bool] = False
    needs_srgb_for_forward: ClassVar[bool] = False
    family: ClassVar[str] = "sRGB-to-RAW method"
    file_format: ClassVar[str] = FORMAT

    # -- training -----------------------------------------------------------
    def fit(
        self,
        dataset: PairedDataset,
        budget: Budget,
        *,
        seed: int = 0,
        checkpoint: str | Path | None = None,
        resume: bool = False,
        progress: bool = True,
    ) -> FitReport:
        """Learn from ``dataset`` (its train split) within ``budget``. The default
        does nothing: analytic methods need no training."""
        return FitReport(note="analytic: nothing to fit")

    # -- conversion ---------------------------------------------------------
    def convert(
        self,
        srgb: Any,
        *,
        capture: CaptureParams | None = None,
        metadata: Mapping[str, Any] | None = None,
        seed: int | None = None,
    ) -> Unprocessed:
        raise NotImplementedError

    def sample(
        self,
        srgb: Any,
        n: int,
        *,
        capture: CaptureParams | None = None,
        metadata: Mapping[str, Any] | None = None,
        seed: int = 0,
    ) -> list[Unprocessed]:
        """``n`` RAWs of one image, sample ``i`` drawn with seed ``seed + i``."""
        return list(self.iter_samples(srgb, n, capture=capture, metadata=metadata, seed=seed))

    def iter_samples(
        self,
        srgb: Any,
        n: int,
        *,
        capture: CaptureParams | None = None,
        metadata: Mapping[str, Any] | None = None,
        seed: int = 0,
    ) -> Iterator[Unprocessed]:
        """The samples of :meth:`sample`, drawn one at a time as they are consumed (so
        a caller writing each one holds one in memory, whatever ``n``)."""
        check_sample_count(n)
        seed = check_seed(seed)
        for i in range(n):
            yield self.convert(srgb, capture=capture, metadata=metadata, seed=seed + i)

    # -- persistence ----------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> SrgbToRawMethod:
        """Rebuild a method written by :meth:`save` (from the settings file or the weights)."""
        return load_method(path, expected=cls)


def check_sample_count(n: Any) -> int:
    """``n`` when it is a whole number >= 1, else a :class:`ParamError` (``samples``)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ParamError(key="samples", message=f"expected a whole number >= 1, got {n!r}")
    return n


def method_class(name: str, registry: Registry | None = None) -> type[SrgbToRawMethod]:
    """The sRGB-to-RAW method registered as ``name`` (in ``registry``, default: the plugins').

    Raises :class:`~ispengine.core.errors.UnknownComponentError` for an unknown name and
    :class:`~ispengine.core.errors.PluginError` naming the plugin when what it registered
    is not a :class:`SrgbToRawMethod`.
    """
    return registered_method("srgb_to_raw", name, SrgbToRawMethod, registry)


def load_method(path: str | Path, expected: type | None = None) -> SrgbToRawMethod:
    """Rebuild an sRGB-to-RAW method saved by :meth:`SrgbToRawMethod.save` (give the
    ``.json`` or weights file). The class is the registered method the file names;
    ``expected`` (a concrete method class) makes any other method an error."""
    return load_saved_method(
        path, formats=(FORMAT,), lookup=method_class, base=SrgbToRawMethod, expected=expected
    )
