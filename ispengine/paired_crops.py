"""In-memory paired RAW/sRGB training data with random CFA-aligned crops.

:meth:`PairedCrops.from_dataset` loads every sample of a
:class:`~ispengine.datasets.PairedDataset` (or any sequence of
:class:`~ispengine.datasets.Sample`) once: the normalised mosaic (float32,
``(H, W)``, black 0 and white 1, see :func:`ispengine.raw.levels.normalize`),
the camera's sRGB (float32 ``(H, W, 3)`` in [0, 1]) and the Bayer pattern.
:meth:`PairedCrops.draw` then makes batches of aligned crops for training:
square crops of an even side starting at even offsets, so every crop keeps its
image's Bayer phase. RAW crops are also given packed, ``(crop/2, crop/2, 4)``
in the order R, Gr, Gb, B whatever the pattern (the engine's CFA convention,
``ispengine.cfa``). numpy only; no torch.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import numpy as np
from attrs import frozen

from ispengine.cfa import pack_cfa
from ispengine.errors import InputError, ParamError


@frozen(eq=False)
class PairedImage:
    """One training pair held in memory."""

    id: str
    mosaic: np.ndarray  # (H, W) float32, normalised
    srgb: np.ndarray  # (H, W, 3) float32 in [0, 1]
    pattern: str

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.mosaic.shape)


class CropBatch(NamedTuple):
    """A batch of aligned crops (numpy, float32)."""

    srgb: np.ndarray  # (B, crop, crop, 3)
    packed: np.ndarray  # (B, crop/2, crop/2, 4): R, Gr, Gb, B
    mosaic: np.ndarray  # (B, crop, crop)
    patterns: tuple[str, ...]


def load_pair(sample) -> PairedImage:
    """A :class:`~ispengine.datasets.Sample` as a :class:`PairedImage` (checks the shapes)."""
    from ispengine.raw.levels import normalize

    mosaic = normalize(sample.raw).astype(np.float32)
    srgb = np.asarray(sample.srgb, dtype=np.float32)
    if srgb.shape != (*mosaic.shape, 3):
        raise InputError(
            f"sample {sample.id}: sRGB shape {srgb.shape} does not match the RAW "
            f"mosaic {mosaic.shape}"
        )
    return PairedImage(str(sample.id), mosaic, srgb, sample.raw.cfa_pattern)


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
            raise ParamError(f"crop: expected an even whole number >= 2, got {crop!r}")
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
            raise ParamError(f"batch: expected a whole number >= 1, got {batch!r}")
        chosen = rng.integers(0, len(self.images), size=batch)
        srgb, mosaics, packed, patterns = [], [], [], []
        for index in chosen:
            image = self.images[int(index)]
            top, left = (2 * int(rng.integers(0, (side - crop) // 2 + 1)) for side in image.shape)
            mosaic = image.mosaic[top : top + crop, left : left + crop]
            mosaics.append(mosaic)
            packed.append(pack_cfa(mosaic, image.pattern, np))
            srgb.append(image.srgb[top : top + crop, left : left + crop])
            patterns.append(image.pattern)
        return CropBatch(np.stack(srgb), np.stack(packed), np.stack(mosaics), tuple(patterns))
