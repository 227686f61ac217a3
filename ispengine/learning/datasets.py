"""Paired RAW/sRGB datasets: SynthCam folders and folders of real camera files.

One interface for every benchmark and trainer, so the same code runs on
simulated and real data:

* :class:`SynthCamDataset`: a folder written by ``ispengine synthcam
  generate`` (``manifest.json`` with every parameter and fixed splits).
* :class:`RawFolderDataset`: a user's folder of RAW files (anything LibRaw
  reads). Each is paired with the camera's own rendering of the same stem
  (``.jpg``, ``.jpeg``, ``.png``, ``.tif``, ``.tiff``, any case), or, when
  there is none, with LibRaw's rendering (camera white balance, sRGB, no
  auto-brightening, 8-bit): the protocol Invertible-ISP and SSDNet use on
  MIT-Adobe FiveK. Splits are fixed by a hash of the file stem (80/10/10),
  or read from ``splits.json`` (``{"train": [stems], "val": [...], "test": [...]}``)
  when the folder has one.

:func:`open_dataset` picks the right one for a folder. Samples load lazily,
one at a time.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from attrs import field, frozen

from ispengine.core.errors import InputError
from ispengine.io.raw.image import CaptureParams, RawImage
from ispengine.io.raw.reader import is_raw_path

SPLITS = ("train", "val", "test")
RENDERED_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff")


@frozen
class Sample:
    """One pair: the RAW image, the camera's sRGB rendering (float in [0, 1], (H, W, 3)),
    capture parameters, split, and any ground-truth intermediates by name."""

    id: str
    raw: RawImage
    srgb: np.ndarray
    capture: CaptureParams
    split: str
    ground_truth: dict[str, np.ndarray] = field(factory=dict)
    info: dict[str, Any] = field(factory=dict)


class PairedDataset(Sequence):
    """A sequence of :class:`Sample` with fixed splits."""

    root: Path
    _ids: list[str]
    _splits: dict[str, str]

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def ids(self) -> list[str]:
        return list(self._ids)

    def split_of(self, sample_id: str) -> str:
        return self._splits[sample_id]

    def split(self, name: str) -> PairedDataset:
        """The samples of one split (``train``, ``val`` or ``test``), in order."""
        if name not in SPLITS:
            raise InputError(f"unknown split {name!r} (one of {', '.join(SPLITS)})")
        subset = object.__new__(type(self))
        subset.__dict__.update(self.__dict__)
        subset._ids = [i for i in self._ids if self._splits[i] == name]
        return subset

    def __getitem__(self, index: int) -> Sample:  # type: ignore[override]
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        return self.load(self._ids[index])

    def __iter__(self) -> Iterator[Sample]:
        for sample_id in self._ids:
            yield self.load(sample_id)

    def load(self, sample_id: str) -> Sample:
        raise NotImplementedError


class SynthCamDataset(PairedDataset):
    """A SynthCam folder (``manifest.json``, ``raw/``, ``srgb/``, ``gt/``)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        path = self.root / "manifest.json"
        try:
            manifest = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise InputError(f"{path}: cannot read the SynthCam manifest ({error})") from None
        if manifest.get("format") != "synthcam":
            raise InputError(f"{path}: not a SynthCam manifest (format {manifest.get('format')!r})")
        self.manifest = manifest
        self._entries = {entry["id"]: entry for entry in manifest["samples"]}
        self._ids = [entry["id"] for entry in manifest["samples"]]
        self._splits = {entry["id"]: entry["split"] for entry in manifest["samples"]}

    def load(self, sample_id: str) -> Sample:
        from ispengine.io.image_files import read_image
        from ispengine.io.raw.reader import read_raw

        entry = self._entries[sample_id]
        files = entry["files"]
        raw = read_raw(self.root / files["raw"])
        truth = {
            name: np.load(self.root / relative)
            for name, relative in files.items()
            if name not in ("raw", "srgb")
        }
        info = {k: v for k, v in entry.items() if k not in ("files",)}
        return Sample(
            sample_id,
            raw,
            read_image(self.root / files["srgb"]),
            raw.capture,
            entry["split"],
            truth,
            info,
        )


def _hash_split(stem: str) -> str:
    bucket = int(hashlib.sha1(stem.encode()).hexdigest(), 16) % 10
    return "train" if bucket < 8 else "val" if bucket == 8 else "test"


class RawFolderDataset(PairedDataset):
    """Real RAW files, each with the camera JPEG of the same stem or a LibRaw rendering."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError(f"{self.root}: no such folder")
        files = sorted(p for p in self.root.iterdir() if p.is_file() and not p.name.startswith("."))
        self._raw = {p.stem: p for p in files if is_raw_path(p)}
        if not self._raw:
            raise InputError(f"{self.root}: no RAW files found")
        self._rendered = {
            p.stem: p
            for p in files
            if p.suffix.lower() in RENDERED_SUFFIXES and p.stem in self._raw
        }
        self._ids = sorted(self._raw)
        self._splits = self._read_splits()

    def _read_splits(self) -> dict[str, str]:
        path = self.root / "splits.json"
        if not path.exists():
            return {stem: _hash_split(stem) for stem in self._ids}
        try:
            table = json.loads(path.read_text())
        except ValueError as error:
            raise InputError(f"{path}: not valid JSON ({error})") from None
        splits = {stem: name for name in SPLITS for stem in table.get(name, [])}
        missing = [stem for stem in self._ids if stem not in splits]
        if missing:
            raise InputError(f"{path}: no split for {missing[0]!r} ({len(missing)} files)")
        return splits

    def paired_with(self, sample_id: str) -> str:
        """``"camera"`` when a rendered file exists for the stem, else ``"libraw"``."""
        return "camera" if sample_id in self._rendered else "libraw"

    def load(self, sample_id: str) -> Sample:
        from ispengine.io.image_files import read_image
        from ispengine.io.raw.reader import read_raw

        path = self._raw[sample_id]
        raw = read_raw(path)
        if sample_id in self._rendered:
            srgb = read_image(self._rendered[sample_id])
        else:
            srgb = render_with_libraw(path)
        info = {"raw_file": path.name, "paired_with": self.paired_with(sample_id)}
        return Sample(sample_id, raw, srgb, raw.capture, self._splits[sample_id], {}, info)


def render_with_libraw(path: str | Path) -> np.ndarray:
    """LibRaw's sRGB rendering of a RAW file, float in [0, 1] (8-bit precision)."""
    import rawpy

    with rawpy.imread(str(path)) as raw:
        image = raw.postprocess(use_camera_wb=True, no_auto_bright=True, output_bps=8, user_flip=0)
    return image.astype(np.float64) / 255


def open_dataset(root: str | Path) -> PairedDataset:
    """A SynthCam folder if it has a SynthCam ``manifest.json``, else a RAW folder."""
    root = Path(root)
    if (root / "manifest.json").exists():
        return SynthCamDataset(root)
    return RawFolderDataset(root)
