"""The raw-to-raw method interface: mapping RAW images of camera A into camera B's space.

A camera ISP tuned for one sensor fails on another; mapping camera A's RAW
into camera B's colour space lets one ISP serve both (the task of
"Generalizing ISP Model by Unsupervised Raw-to-raw Mapping", ACM MM 2024, and
of the global calibrations it compares with). Plugins register subclasses of
:class:`RawToRawMethod` through ``ispengine_register_raw_to_raw``.

Every method works on **packed, normalised RAW**: the Bayer mosaic split into
its four CFA planes in the order R, Gr, Gb, B (whatever the sensor's Bayer
order, :func:`ispengine.core.cfa.pack_cfa`), black level 0, white level 1,
``(H/2, W/2, 4)`` float32 (:func:`packed_raw`). So cameras with different
Bayer orders map onto each other; a non-Bayer or odd-sized image is refused.

* ``fit(pairs, budget)``: learn from a two-camera dataset
  (:class:`~ispengine.synthcam.pairs.CameraPairs`: unpaired images per camera,
  paired anchors) within a :class:`~ispengine.learning.srgb_to_raw.Budget`;
  calibrations fit their matrices, fixed methods do nothing.
* ``map_packed(packed, direction, scene=)``: ``direction`` is ``a_to_b`` (the
  pairs' first camera into the second's space) or ``b_to_a``; ``scene`` is the
  sample's description when known (a calibration per illuminant reads it).
* :func:`map_raw`: a whole :class:`~ispengine.io.raw.image.RawImage` of one camera
  into a RAW image of the other, with the target camera's pattern, levels and
  colour matrices (from an image ``like`` it) and the as-shot neutral carried over
  (:func:`transfer_neutral`).
* ``save(path)`` / ``load(path)``: the file layout of
  :func:`ispengine.learning.saved_method.save_method`, format ``ispengine-raw2raw``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ispengine.core.cfa import merge_cfa, pack_cfa
from ispengine.core.errors import InputError, ParamError
from ispengine.core.registry import Registry
from ispengine.io.raw.image import RawImage
from ispengine.io.raw.levels import denormalize, normalize
from ispengine.learning.saved_method import SavedMethod, load_saved_method, registered_method
from ispengine.learning.srgb_to_raw import Budget, FitReport

if TYPE_CHECKING:
    from ispengine.synthcam.pairs import CameraPairs

#: The "format" of a saved raw-to-raw method's settings file.
FORMAT = "ispengine-raw2raw"
#: Mapping directions: the pairs' first camera into the second's space, and back.
DIRECTIONS = ("a_to_b", "b_to_a")
#: Pixels whose source or mapped value reaches this (normalised) are left out of the
#: neutral transfer fit: clipped values carry no colour.
NEUTRAL_FIT_CEILING = 0.95


def check_direction(direction: str) -> str:
    if direction not in DIRECTIONS:
        raise ParamError(
            key="direction", message=f"expected one of {', '.join(DIRECTIONS)}, got {direction!r}"
        )
    return direction


def packed_raw(raw: RawImage) -> np.ndarray:
    """``raw`` as packed normalised planes R, Gr, Gb, B: float32 ``(H/2, W/2, 4)``.

    Values are ``(x − black) / (white − black)`` per CFA channel, not clipped (noise
    around the black level stays signed)."""
    return pack_cfa(normalize(raw), raw.cfa_pattern, np).astype(np.float32)


def rgb_of_packed(packed: np.ndarray) -> np.ndarray:
    """Packed planes ``(..., 4)`` as camera RGB ``(..., 3)``: R, the mean of the two
    greens, B."""
    packed = np.asarray(packed)
    green = 0.5 * (packed[..., 1] + packed[..., 2])
    return np.stack([packed[..., 0], green, packed[..., 3]], axis=-1)


def transfer_neutral(
    source: np.ndarray, mapped: np.ndarray, neutral: np.ndarray, *, stride: int = 4
) -> np.ndarray:
    """The as-shot neutral of a mapped image: ``M · neutral`` (G = 1), with ``M`` the
    3×3 least-squares fit of the mapped camera RGB on the source's.

    For a method that is a global 3×3 this is exact; for local or non-linear maps it
    is the best global linear summary of the map on this image. Pixels with any value
    at or above :data:`NEUTRAL_FIT_CEILING` (clipped) are left out; every ``stride``-th
    pixel is used. Falls back to ``neutral`` when fewer than 16 pixels remain."""
    x = rgb_of_packed(source)[::stride, ::stride].reshape(-1, 3).astype(np.float64)
    y = rgb_of_packed(mapped)[::stride, ::stride].reshape(-1, 3).astype(np.float64)
    keep = (x.max(axis=1) < NEUTRAL_FIT_CEILING) & (y.max(axis=1) < NEUTRAL_FIT_CEILING)
    neutral = np.asarray(neutral, dtype=np.float64)
    if keep.sum() < 16:
        return neutral / neutral[1]
    matrix, *_ = np.linalg.lstsq(x[keep], y[keep], rcond=None)
    out = neutral @ matrix
    if not np.all(np.isfinite(out)) or np.any(out <= 0):
        return neutral / neutral[1]
    return out / out[1]


def raw_like(packed: np.ndarray, like: RawImage, **changes: Any) -> RawImage:
    """A RAW image of ``like``'s camera (pattern, black and white levels, colour matrices)
    holding the packed normalised planes ``packed``: mosaicked in ``like``'s Bayer
    order, scaled to its levels, rounded and clipped to ``[0, white]`` digital numbers
    (uint16). ``changes`` replace other fields (``capture``, ``wb_gains``)."""
    packed = np.asarray(packed, dtype=np.float64)
    if packed.ndim != 3 or packed.shape[-1] != 4:
        raise InputError(f"expected packed planes (H/2, W/2, 4), got {packed.shape}")
    mosaic = merge_cfa([packed[..., k] for k in range(4)], like.cfa_pattern, np)
    levels = denormalize(like.evolve(mosaic=mosaic, normalized=True))
    digital = np.clip(np.rint(levels), 0, like.white_level).astype(np.uint16)
    return like.evolve(mosaic=digital, normalized=False, **changes)


class RawToRawMethod(SavedMethod):
    """Base class of raw-to-raw methods (see the module docstring).

    Class attributes a subclass sets (:class:`~ispengine.learning.saved_method.SavedMethod`):
        name, summary, settings, learned.
        downsample_factors: the test-time downsampling factors ``map_packed`` accepts
            (``downsample=``); empty when the method has none.
    """

    family: ClassVar[str] = "raw-to-raw method"
    file_format: ClassVar[str] = FORMAT
    downsample_factors: ClassVar[tuple[int, ...]] = ()

    def fit(
        self,
        pairs: CameraPairs,
        budget: Budget,
        *,
        seed: int = 0,
        checkpoint: str | Path | None = None,
        resume: bool = False,
        progress: bool = True,
    ) -> FitReport:
        """Learn the mapping between ``pairs``' two cameras within ``budget``. The default
        does nothing: fixed methods need no training."""
        return FitReport(note="fixed: nothing to fit")

    def map_packed(
        self,
        packed: np.ndarray,
        direction: str,
        *,
        scene: Mapping[str, Any] | None = None,
        downsample: int | None = None,
    ) -> np.ndarray:
        """``packed`` (``(H/2, W/2, 4)``, normalised, of the direction's source camera)
        in the target camera's space, same shape, float32."""
        raise NotImplementedError

    def check_downsample(self, downsample: int | None) -> None:
        if downsample is not None and downsample not in self.downsample_factors:
            allowed = ", ".join(map(str, self.downsample_factors)) or "none"
            raise ParamError(
                key="downsample",
                message=f"method '{self.name}' takes downsample in {{{allowed}}}, "
                f"got {downsample!r}",
            )

    @classmethod
    def load(cls, path: str | Path) -> RawToRawMethod:
        """Rebuild a method written by :meth:`save` (from the settings file or the weights)."""
        return load_raw_to_raw(path, expected=cls)


def map_raw(
    method: RawToRawMethod,
    raw: RawImage,
    direction: str,
    like: RawImage,
    *,
    scene: Mapping[str, Any] | None = None,
    downsample: int | None = None,
) -> RawImage:
    """``raw`` (of the direction's source camera) mapped into a RAW image of the target
    camera: ``like`` (any RAW of the target camera) gives its pattern, levels and colour
    matrices; the capture parameters stay ``raw``'s (the same shot); the white balance
    is ``1 / neutral`` with the neutral carried over by :func:`transfer_neutral`."""
    check_direction(direction)
    source = packed_raw(raw)
    mapped = np.asarray(
        method.map_packed(source, direction, scene=scene, downsample=downsample),
        dtype=np.float32,
    )
    if mapped.shape != source.shape:
        raise InputError(
            f"method '{method.name}' returned planes of shape {mapped.shape}, "
            f"expected {source.shape}"
        )
    return mapped_raw(raw, source, mapped, like)


def mapped_raw(raw: RawImage, source: np.ndarray, mapped: np.ndarray, like: RawImage) -> RawImage:
    """The RAW image of the target camera holding ``mapped``, the packed planes ``source``
    (of ``raw``) were mapped to: ``like``'s camera, ``raw``'s capture parameters, the
    neutral carried over (:func:`map_raw`)."""
    neutral = transfer_neutral(source, mapped, raw.as_shot_neutral)
    return raw_like(mapped, like, capture=raw.capture, wb_gains=1.0 / neutral)


def raw_to_raw_class(name: str, registry: Registry | None = None) -> type[RawToRawMethod]:
    """The raw-to-raw method registered as ``name`` (in ``registry``, default: the
    plugins'); an unknown name is an :class:`~ispengine.core.errors.UnknownComponentError`."""
    return registered_method("raw_to_raw", name, RawToRawMethod, registry)


def load_raw_to_raw(path: str | Path, expected: type | None = None) -> RawToRawMethod:
    """Rebuild a raw-to-raw method saved by :meth:`RawToRawMethod.save` (the ``.json`` or
    weights file); ``expected`` (a concrete class) makes any other method an error."""
    return load_saved_method(
        path, formats=(FORMAT,), lookup=raw_to_raw_class, base=RawToRawMethod, expected=expected
    )
