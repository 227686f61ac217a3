"""Unpaired training data of a raw-to-raw mapping: random crops of each camera's images.

Every unpaired RAW of both cameras is loaded once as packed normalised planes
(:func:`ispengine.learning.raw_to_raw.packed_raw`, clipped to [0, 1]), so memory
grows with the training set: 4 bytes per RAW pixel (a 12-megapixel RAW takes 48 MB).
A draw takes ``batch`` random crops of side ``crop`` (packed pixels) from randomly
chosen images of each camera and applies one random flip/rotation (one of the 8
symmetries of the square) to both cameras' batches alike, as CSTPP's training does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from attrs import frozen

from ispengine.core.errors import InputError
from ispengine.learning.raw_to_raw import packed_raw


def _images(samples: Sequence, camera: str) -> list[np.ndarray]:
    images = [np.clip(packed_raw(sample.raw), 0.0, 1.0) for sample in samples]
    if not images:
        raise InputError(f"camera {camera}: no unpaired training images")
    return images


def symmetry(array: np.ndarray, index: int) -> np.ndarray:
    """One of the 8 symmetries of the square (``index`` in [0, 8)) on the two axes
    before the last of ``(..., H, W, C)``: ``index // 2`` quarter turns, then a
    left-right flip when ``index`` is odd."""
    turned = np.rot90(array, k=index // 2, axes=(-3, -2))
    return turned[..., ::-1, :] if index % 2 else turned


@frozen(eq=False)
class UnpairedCrops:
    """The packed images of camera A and of camera B (module docstring)."""

    a: list[np.ndarray]
    b: list[np.ndarray]

    @classmethod
    def from_pairs(cls, pairs: object, cameras: Sequence[str]) -> UnpairedCrops:
        first, second = cameras[:2]
        return cls(
            _images(pairs.unpaired(first), first),  # type: ignore[attr-defined]
            _images(pairs.unpaired(second), second),  # type: ignore[attr-defined]
        )

    def smallest_side(self) -> int:
        return min(min(image.shape[:2]) for image in (*self.a, *self.b))

    def check_crop(self, crop: int) -> None:
        if crop > self.smallest_side():
            raise InputError(
                f"crop {crop} (packed pixels) is larger than the smallest unpaired image "
                f"({self.smallest_side()} packed pixels): lower the 'crop' setting"
            )

    def draw(
        self, rng: np.random.Generator, batch: int, crop: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(batch, crop, crop, 4)`` float32 crops of camera A and of camera B."""
        turn = int(rng.integers(8))
        return (
            symmetry(self._crops(self.a, rng, batch, crop), turn).copy(),
            symmetry(self._crops(self.b, rng, batch, crop), turn).copy(),
        )

    @staticmethod
    def _crops(
        images: list[np.ndarray], rng: np.random.Generator, batch: int, crop: int
    ) -> np.ndarray:
        out = np.empty((batch, crop, crop, 4), dtype=np.float32)
        for k in range(batch):
            image = images[int(rng.integers(len(images)))]
            top = int(rng.integers(image.shape[0] - crop + 1))
            left = int(rng.integers(image.shape[1] - crop + 1))
            out[k] = image[top : top + crop, left : left + crop]
        return out
