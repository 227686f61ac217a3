"""In-memory image pairs and aligned random crops for training a target ISP model.

SemiISP trains its target model F on real pairs (camera RGB → retouched sRGB)
and on pseudo pairs (pseudo-RAW → updated sRGB) with "random flip and crop"
augmentation (SemiISP appendix A.3, Table 6). :class:`ImagePairs`
holds such pairs as float32 ``(H, W, 3)`` arrays (the input is camera RGB after
demosaicking, or sRGB for enhancement) and draws batches of crops taken at the
same place in input and target.

Crop offsets are even, so a crop keeps the Bayer phase of the image it came
from (harmless for RGB data, and what a later mosaicking step needs). A
horizontal flip is applied to input and target together. numpy only; no torch.

Source: Yoshimura, Otsuka, Berdan, Ohashi, "SemiISP/SemiIE: Semi-Supervised Image Signal
Processor and Image Enhancement Leveraging One-to-Many Mapping sRGB-to-RAW",
arXiv:2504.02345, 2025 (SemiISP).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ispengine.core.errors import InputError, ParamError


def _whole(value: Any, name: str, low: int) -> int:
    """``value`` as an int ``>= low``, or a one-line :class:`ParamError`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ParamError(key=name, message=f"expected a whole number >= {low}, got {value!r}")
    return int(value)


def _image(value: Any, where: str) -> np.ndarray:
    """A read-only float32 ``(H, W, 3)`` copy of ``value``; checks shape and finiteness."""
    array = np.asarray(value)
    if array.dtype.kind not in "fiu":
        raise InputError(f"{where}: expected a numeric array, got dtype {array.dtype}")
    if array.ndim != 3 or array.shape[-1] != 3 or 0 in array.shape:
        raise InputError(f"{where}: expected an image of shape (H, W, 3), got {array.shape}")
    array = np.array(array, dtype=np.float32)  # a private copy
    if not np.isfinite(array).all():
        raise InputError(f"{where}: contains NaN or Inf values")
    array.flags.writeable = False
    return array


class ImagePairs:
    """Paired ``(input, target)`` images held in memory.

    Args:
        pairs: ``(input, target)`` arrays of shape ``(H, W, 3)``; sizes may
            differ between pairs, input and target of one pair must match.
            Stored as read-only float32 copies.
        ids: a name per pair for error messages (default ``"0"``, ``"1"``, …).
    """

    def __init__(self, pairs: Sequence[tuple[Any, Any]], ids: Sequence[str] | None = None) -> None:
        pairs = list(pairs)
        if not pairs:
            raise InputError("image pairs: no pairs given")
        if ids is None:
            ids = [str(index) for index in range(len(pairs))]
        ids = [str(i) for i in ids]
        if len(ids) != len(pairs):
            raise InputError(f"image pairs: {len(ids)} ids for {len(pairs)} pairs")
        self.ids: tuple[str, ...] = tuple(ids)
        self.inputs: list[np.ndarray] = []
        self.targets: list[np.ndarray] = []
        for pair_id, pair in zip(ids, pairs, strict=True):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise InputError(f"pair {pair_id}: expected an (input, target) tuple")
            source = _image(pair[0], f"pair {pair_id}: input")
            target = _image(pair[1], f"pair {pair_id}: target")
            if source.shape != target.shape:
                raise InputError(
                    f"pair {pair_id}: input {source.shape} and target {target.shape} differ in size"
                )
            self.inputs.append(source)
            self.targets.append(target)

    def __len__(self) -> int:
        return len(self.inputs)

    def sizes(self) -> list[tuple[int, int]]:
        """``(H, W)`` of every pair."""
        return [tuple(image.shape[:2]) for image in self.inputs]

    def full(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The whole pair ``index`` as read-only float32 ``(H, W, 3)`` arrays."""
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise ParamError(key="index", message=f"expected a whole number, got {index!r}")
        if not -len(self) <= index < len(self):
            raise ParamError(key="index", message=f"{index} is out of range for {len(self)} pairs")
        return self.inputs[index], self.targets[index]

    def check_crop(self, crop: int) -> int:
        """``crop`` if it is even, >= 2 and fits inside every pair; else raise."""
        if (
            isinstance(crop, bool)
            or not isinstance(crop, (int, np.integer))
            or crop < 2
            or crop % 2
        ):
            raise ParamError(
                key="crop", message=f"expected an even whole number >= 2, got {crop!r}"
            )
        for pair_id, (height, width) in zip(self.ids, self.sizes(), strict=True):
            if min(height, width) < crop:
                raise InputError(
                    f"pair {pair_id}: image {height}x{width} is smaller than the "
                    f"{crop}x{crop} crop (lower 'crop')"
                )
        return int(crop)

    def draw(
        self, rng: np.random.Generator, batch: int, crop: int, flip: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """``batch`` aligned crops: inputs and targets, each ``(batch, crop, crop, 3)`` float32.

        Pairs are drawn with replacement; for each crop, ``rng`` gives the row
        offset, the column offset (both even, uniform over the valid positions)
        and, when ``flip``, a coin for a horizontal flip. Everything comes from
        ``rng``: the same generator state gives the same batch.
        """
        crop = self.check_crop(crop)
        batch = _whole(batch, "batch", 1)
        chosen = rng.integers(0, len(self), size=batch)
        inputs = np.empty((batch, crop, crop, 3), dtype=np.float32)
        targets = np.empty_like(inputs)
        for slot, index in enumerate(chosen):
            source, target = self.inputs[int(index)], self.targets[int(index)]
            top, left = (
                2 * int(rng.integers(0, (side - crop) // 2 + 1)) for side in source.shape[:2]
            )
            rows, cols = slice(top, top + crop), slice(left, left + crop)
            mirror = bool(flip) and bool(rng.integers(0, 2))
            step = -1 if mirror else 1
            inputs[slot] = source[rows, cols][:, ::step]
            targets[slot] = target[rows, cols][:, ::step]
        return inputs, targets

    def __repr__(self) -> str:
        return f"ImagePairs({len(self)} pairs)"
