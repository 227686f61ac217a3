"""In-memory paired RAW/sRGB training data with random CFA-aligned crops.

:meth:`PairedCrops.from_dataset` loads every sample of a
:class:`~ispengine.learning.datasets.PairedDataset` (or any sequence of
:class:`~ispengine.learning.datasets.Sample`) once: the normalised mosaic (float32,
``(H, W)``, black 0 and white 1, see :func:`ispengine.io.raw.levels.normalize`),
the camera's sRGB (float32 ``(H, W, 3)`` in [0, 1]), and from the RAW file's
metadata the capture parameters (:class:`~ispengine.io.raw.CaptureParams`) and
the colour data (:class:`~ispengine.io.raw.CameraColour`: Bayer pattern,
white-balance gains, camera → sRGB and XYZ → camera matrices).
:meth:`PairedCrops.draw` then makes batches of aligned crops for training:
square crops of an even side starting at even offsets, so every crop keeps its
image's Bayer phase. RAW crops are also given packed, ``(crop/2, crop/2, 4)``
in the order R, Gr, Gb, B whatever the pattern (the engine's CFA convention,
``ispengine.core.cfa``). Each batch carries its crops'
sample ids, capture parameters and colour data, stacked per crop
(:class:`CaptureBatch`, :class:`ColourBatch`), so a method can condition on
them. numpy only; no torch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np
from attrs import field, frozen

from ispengine.core.cfa import pack_cfa
from ispengine.core.errors import InputError, ParamError
from ispengine.io.raw.image import CameraColour, CaptureParams


def _as_colour(value: CameraColour | str) -> CameraColour:
    """Colour data, or a bare Bayer pattern (neutral white balance, identity matrix)."""
    return CameraColour(value) if isinstance(value, str) else value


@frozen(eq=False)
class PairedImage:
    """One training pair held in memory, with the RAW file's capture and colour data."""

    id: str
    mosaic: np.ndarray  # (H, W) float32, normalised
    srgb: np.ndarray  # (H, W, 3) float32 in [0, 1]
    colour: CameraColour = field(converter=_as_colour)
    capture: CaptureParams = field(factory=CaptureParams)

    @property
    def pattern(self) -> str:
        return self.colour.cfa_pattern

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.mosaic.shape)


class CaptureBatch(NamedTuple):
    """The capture parameters of a batch's crops, one entry per crop.

    Numbers are float32 arrays of shape ``(B,)``, NaN where the file did not
    say; ``make`` and ``model`` are tuples of strings (``None`` when unknown).
    """

    iso: np.ndarray
    exposure_time: np.ndarray  # seconds
    f_number: np.ndarray
    focal_length: np.ndarray  # millimetres
    make: tuple[str | None, ...]
    model: tuple[str | None, ...]

    @classmethod
    def stack(cls, captures: Sequence[CaptureParams]) -> CaptureBatch:
        def numbers(name: str) -> np.ndarray:
            values = (getattr(c, name) for c in captures)
            return np.array([np.nan if v is None else v for v in values], dtype=np.float32)

        return cls(
            *(numbers(name) for name in CaptureParams.OPTICAL),
            tuple(c.make for c in captures),
            tuple(c.model for c in captures),
        )


class ColourBatch(NamedTuple):
    """The camera colour data of a batch's crops, one entry per crop (float32).

    ``wb_gains`` ``(B, 3)``, ``camera_to_srgb`` and ``xyz_to_camera``
    ``(B, 3, 3)`` (NaN where the file has no colour matrix), ``cfa_patterns``
    a tuple of Bayer patterns (the image's, which every even-offset crop keeps).
    """

    cfa_patterns: tuple[str, ...]
    wb_gains: np.ndarray
    camera_to_srgb: np.ndarray
    xyz_to_camera: np.ndarray

    @classmethod
    def stack(cls, colours: Sequence[CameraColour]) -> ColourBatch:
        unknown = np.full((3, 3), np.nan)
        return cls(
            tuple(c.cfa_pattern for c in colours),
            np.stack([c.wb_gains for c in colours]).astype(np.float32),
            np.stack([c.camera_to_srgb for c in colours]).astype(np.float32),
            np.stack(
                [unknown if c.xyz_to_camera is None else c.xyz_to_camera for c in colours]
            ).astype(np.float32),
        )


class CropBatch(NamedTuple):
    """A batch of aligned crops (numpy, float32) with each crop's source image data."""

    srgb: np.ndarray  # (B, crop, crop, 3)
    packed: np.ndarray  # (B, crop/2, crop/2, 4): R, Gr, Gb, B
    mosaic: np.ndarray  # (B, crop, crop)
    ids: tuple[str, ...]  # the sample each crop comes from
    capture: CaptureBatch
    colour: ColourBatch

    @property
    def patterns(self) -> tuple[str, ...]:
        """The Bayer pattern of each crop."""
        return self.colour.cfa_patterns


def load_pair(sample) -> PairedImage:
    """A :class:`~ispengine.learning.datasets.Sample` as a :class:`PairedImage`.

    Checks the shapes.
    """
    from ispengine.io.raw.levels import normalize

    mosaic = normalize(sample.raw).astype(np.float32)
    srgb = np.asarray(sample.srgb, dtype=np.float32)
    if srgb.shape != (*mosaic.shape, 3):
        raise InputError(
            f"sample {sample.id}: sRGB shape {srgb.shape} does not match the RAW "
            f"mosaic {mosaic.shape}"
        )
    return PairedImage(str(sample.id), mosaic, srgb, sample.raw.colour, sample.capture)


class PairedCrops:
    """Paired images in memory, and random aligned crops of them."""

    def __init__(self, images: Iterable[PairedImage]) -> None:
        self.images = list(images)
        if not self.images:
            raise InputError("paired data: no samples to train on")

    @classmethod
    def from_dataset(cls, dataset: Iterable) -> PairedCrops:
        """Load every sample of ``dataset`` (iterating it once)."""
        return cls(load_pair(sample) for sample in dataset)

    def __len__(self) -> int:
        return len(self.images)

    def check_crop(self, crop: int) -> None:
        """Raise unless ``crop`` is even, >= 2 and fits inside every image."""
        if isinstance(crop, bool) or not isinstance(crop, int) or crop < 2 or crop % 2:
            raise ParamError(
                key="crop", message=f"expected an even whole number >= 2, got {crop!r}"
            )
        small = next((image for image in self.images if min(image.shape) < crop), None)
        if small is not None:
            raise InputError(
                f"sample {small.id}: image {small.shape[0]}x{small.shape[1]} is smaller than "
                f"the {crop}x{crop} training crop (lower 'crop')"
            )

    def draw(self, rng: np.random.Generator, batch: int, crop: int) -> CropBatch:
        """``batch`` crops of ``crop``×``crop`` pixels from images drawn with replacement.

        Offsets are even, uniform over the valid positions; everything is drawn
        from ``rng`` (image indices first, then row and column offsets).
        """
        self.check_crop(crop)
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ParamError(key="batch", message=f"expected a whole number >= 1, got {batch!r}")
        chosen = rng.integers(0, len(self.images), size=batch)
        srgb, mosaics, packed, images = [], [], [], []
        for index in chosen:
            image = self.images[int(index)]
            top, left = (2 * int(rng.integers(0, (side - crop) // 2 + 1)) for side in image.shape)
            mosaic = image.mosaic[top : top + crop, left : left + crop]
            mosaics.append(mosaic)
            packed.append(pack_cfa(mosaic, image.pattern, np))
            srgb.append(image.srgb[top : top + crop, left : left + crop])
            images.append(image)
        return CropBatch(
            np.stack(srgb),
            np.stack(packed),
            np.stack(mosaics),
            tuple(image.id for image in images),
            CaptureBatch.stack([image.capture for image in images]),
            ColourBatch.stack([image.colour for image in images]),
        )
