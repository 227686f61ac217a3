"""Two-camera SynthCam: the same scenes in several cameras' RAW spaces, for raw-to-raw mapping.

Raw-to-raw mapping learns to carry camera A's RAW into camera B's colour space
so one ISP serves both ("Generalizing ISP Model by Unsupervised Raw-to-raw
Mapping", CSTPP, ACM MM 2024; the public raw-to-raw datasets of Afifi &
Abuolaim, "Semi-supervised raw-to-raw mapping", BMVC 2021, are laid out the
same way): many *unpaired* images per camera (different scenes per camera), a
few *paired anchors* (the same scene in every camera) and a paired test set.

Folder written by :func:`generate_pairs` (paths relative to it)::

    manifest.json      format "synthcam-pairs", version 1: seed, size [H, W],
                       cameras [A, B, ...], kinds, unpaired {camera: [ids]},
                       anchor [ids], test [ids]
    <camera>/          an ordinary SynthCam folder of that camera (format
                       "synthcam", :mod:`.generate`): its unpaired samples in
                       split "train", the anchors in "val", the test samples in "test"

so :func:`ispengine.learning.datasets.open_dataset` reads each camera folder
on its own, and :func:`open_pairs` reads the whole as a :class:`CameraPairs`.

Scene indices, with ``C`` cameras, ``U`` unpaired images per camera, ``K``
anchors and ``T`` test scenes: camera ``k``'s unpaired samples are the scenes
``[k·U, (k+1)·U)`` (no scene is shared between the unpaired sets), the anchors
``[C·U, C·U + K)`` and the test scenes ``[C·U + K, C·U + K + T)`` in every
camera. A sample's id is its zero-padded index, so a paired scene has the same
id in every camera folder. Scene ``i`` is of kind ``kinds[i % len(kinds)]``.

What a pair shares. :func:`~ispengine.synthcam.generate.make_sample` draws
sample ``i`` of seed ``s`` from ``SeedSequence([s, i])``: the scene from the
first of its four streams, and no scene draw depends on the camera
(:mod:`.scenes`), so both cameras see the same layout, reflectances,
illuminant (or mixture of two, with the same blend map), shading and
highlights, with the same scene-referred linear sRGB: the pair is
pixel-aligned. The capture stream is shared too (scene brightness, ISO,
metering error, focus), but the focal length and f-number are drawn in each
camera's own lens range (equal for cameras of equal
:class:`~ispengine.synthcam.cameras.Optics`, such as the two measured ones),
each camera meters its own mean green, and vignetting and blur follow its own
sensor: the ground-truth files of a pair differ by an exposure scale and by
slight optical differences, as two real cameras' shots of one scene do. The
noise stream has the same seed, so the two noise fields are correlated, not
independent.

Why ``kinds = ("spectral",)`` by default: a ``natural`` scene reaches camera
RGB as ``c = D M x`` (``x`` linear sRGB, ``M`` the camera's sRGB→camera
matrix, ``D`` the von Kries diagonal of the illuminant; highlights add
``D M 1``), so two cameras' natural scenes are related by the exact 3×3
``D_B M_B M_A⁻¹ D_A⁻¹`` (up to exposure): a trivial raw-to-raw problem.
Spectral scenes integrate measured reflectances through each camera's own
sensitivities, where no 3×3 maps one camera onto the other (metamerism), and
a mixed illuminant makes the best map vary across the image. ``("spectral",
"natural")`` alternates the two by index.

Every file is written atomically (:mod:`ispengine.io.atomic`), the camera
manifests after all samples, the folder's manifest last. The same arguments
give byte-identical files. A folder holding another dataset's manifest is
refused, and so is a camera folder holding a dataset outside a pairs folder;
an earlier ``synthcam-pairs`` folder is regenerated in place (its manifests
are rewritten whole; sample files an earlier run left that the new manifests
do not list stay on disk, unread)::

    from ispengine.synthcam.pairs import generate_pairs, open_pairs
    generate_pairs("pairs", ["nikon_5100", "sigma_sdmerrill"], unpaired=48, anchors=4,
                   test=12, size=(128, 192), seed=0)
    pairs = open_pairs("pairs")
    for sample_a, sample_b in pairs.test_pairs("nikon_5100", "sigma_sdmerrill"):
        ...
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attrs import evolve, field, frozen

from ispengine.core.cfa import PATTERNS
from ispengine.core.errors import InputError
from ispengine.synthcam.cameras import get_camera
from ispengine.synthcam.generate import (
    FORMAT as DATASET_FORMAT,
)
from ispengine.synthcam.generate import (
    check_size,
    dataset_manifest,
    make_sample,
    map_samples,
    sample_id,
    write_manifest,
    write_sample,
)
from ispengine.synthcam.scenes import SCENE_KINDS

if TYPE_CHECKING:
    from ispengine.learning.datasets import PairedDataset, Sample, SynthCamDataset

FORMAT = "synthcam-pairs"
VERSION = 1
DEFAULT_KINDS = ("spectral",)
#: The split of each part in the camera folders.
PART_SPLITS = {"unpaired": "train", "anchor": "val", "test": "test"}


def pair_indices(
    cameras: int, unpaired: int, anchors: int, test: int
) -> tuple[list[range], range, range]:
    """Scene indices: each camera's unpaired range, the anchors', the test scenes'
    (see the module docstring)."""
    paired_start = cameras * unpaired
    return (
        [range(k * unpaired, (k + 1) * unpaired) for k in range(cameras)],
        range(paired_start, paired_start + anchors),
        range(paired_start + anchors, paired_start + anchors + test),
    )


def generate_pair_sample(item: tuple[int, int, tuple[int, int], str, str, str, str]) -> dict:
    """Make and write one sample: ``item = (seed, index, (H, W), camera, kind, split, out_dir)``.

    The unit of work handed to an executor (module level, so it pickles).
    """
    seed, index, size, camera, kind, split, out_dir = item
    sample = evolve(make_sample(seed, index, size, camera, kind), split=split)
    return write_sample(sample, out_dir)


def _check_cameras(cameras: Iterable[str]) -> list[str]:
    names = [cameras] if isinstance(cameras, str) else list(cameras)
    for name in names:
        pattern = get_camera(name).cfa_pattern
        if pattern not in PATTERNS:
            raise InputError(f"cameras: {name} has CFA {pattern!r}, not a 2x2 Bayer pattern")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InputError(f"cameras: each camera once, got {', '.join(repeated)} more than once")
    if len(names) < 2:
        raise InputError(f"cameras: need at least two different cameras, got {names}")
    return names


def _check_kinds(kinds: Iterable[str]) -> list[str]:
    names = [kinds] if isinstance(kinds, str) else list(kinds)
    unknown = [name for name in names if name not in SCENE_KINDS]
    if not names or unknown or len(set(names)) < len(names):
        raise InputError(
            f"kinds: a non-empty list of distinct scene kinds from {', '.join(SCENE_KINDS)}, "
            f"got {names}"
        )
    return names


def _check_count(name: str, value: int, low: int) -> int:
    value = int(value)
    if value < low:
        raise InputError(f"{name}: need at least {low}, got {value}")
    return value


def _check_dng_size(size: tuple[int, int]) -> None:
    from ispengine.io.raw.dng import MIN_SIDE

    if min(size) < MIN_SIDE:
        raise InputError(
            f"size: height and width must be at least {MIN_SIDE} for the DNG files, "
            f"got {size[0]}x{size[1]}"
        )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: cannot read the manifest ({error})") from None
    if not isinstance(document, dict):
        raise InputError(f"{path}: not a dataset manifest (a JSON object)")
    return document


def _refuse_other_data(out: Path, cameras: list[str]) -> None:
    """Refuse a folder holding a dataset that is not a SynthCam pairs folder."""
    path = out / "manifest.json"
    regenerating = path.exists()
    if regenerating:
        manifest = _read_json(path)
        if manifest.get("format") != FORMAT:
            raise InputError(
                f"{path}: holds another dataset (format {manifest.get('format')!r}); "
                "choose an empty folder"
            )
    for camera in cameras:
        inner = out / camera / "manifest.json"
        if inner.exists() and not (
            regenerating and _read_json(inner).get("format") == DATASET_FORMAT
        ):
            raise InputError(
                f"{inner}: holds a dataset that is not part of a SynthCam pairs folder; "
                "choose an empty folder"
            )


def generate_pairs(
    out_dir: str | Path,
    cameras: Iterable[str],
    unpaired: int,
    anchors: int,
    test: int,
    size: tuple[int, int],
    seed: int,
    kinds: Iterable[str] = DEFAULT_KINDS,
    executor: Any = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Write a two-camera SynthCam folder under ``out_dir``; returns its manifest.

    ``cameras``: at least two distinct camera ids
    (:data:`~ispengine.synthcam.cameras.CAMERAS`), the first being camera A.
    ``unpaired`` (>= 1) scenes per camera, ``anchors`` (>= 0) and ``test`` (>= 1)
    paired scenes, ``size = (H, W)`` (even, at least 22 for the DNG files),
    ``kinds`` a non-empty subset of :data:`~ispengine.synthcam.scenes.SCENE_KINDS`
    taken in turn by index (default ``("spectral",)``; module docstring).
    ``executor`` and ``progress`` as in :func:`~ispengine.synthcam.generate.generate_dataset`.
    """
    names = _check_cameras(cameras)
    unpaired = _check_count("unpaired", unpaired, 1)
    anchors = _check_count("anchors", anchors, 0)
    test = _check_count("test", test, 1)
    size = check_size(size)
    _check_dng_size(size)
    kind_names = _check_kinds(kinds)
    if int(seed) < 0:
        raise InputError(f"seed: must be non-negative, got {seed}")
    out = Path(out_dir)
    _refuse_other_data(out, names)
    own, anchor_range, test_range = pair_indices(len(names), unpaired, anchors, test)
    items = []
    for camera, indices in zip(names, own, strict=True):
        folder = out / camera
        folder.mkdir(parents=True, exist_ok=True)
        parts = zip(PART_SPLITS.values(), (indices, anchor_range, test_range), strict=True)
        items += [
            (int(seed), i, size, camera, kind_names[i % len(kind_names)], split, str(folder))
            for split, part in parts
            for i in part
        ]
    entries = map_samples(executor, items, progress, work=generate_pair_sample)
    for camera in names:
        own_entries = [entry for entry in entries if entry["camera"] == camera]
        write_manifest(
            out / camera / "manifest.json", dataset_manifest(seed, size, [camera], own_entries)
        )
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "seed": int(seed),
        "size": list(size),
        "cameras": names,
        "kinds": kind_names,
        "unpaired": {
            camera: [sample_id(i) for i in indices]
            for camera, indices in zip(names, own, strict=True)
        },
        "anchor": [sample_id(i) for i in anchor_range],
        "test": [sample_id(i) for i in test_range],
    }
    write_manifest(out / "manifest.json", manifest)
    return manifest


@frozen(eq=False)
class SamplePairs(Sequence):
    """Paired samples of two cameras, ``(sample of a, sample of b)`` per id, loaded on access.

    Attributes:
        root: the pairs folder (for messages).
        cameras: the two camera ids, ``(a, b)``.
        first, second: the two cameras' datasets.
        ids: the paired ids, in order.
    """

    root: Path
    cameras: tuple[str, str]
    first: SynthCamDataset
    second: SynthCamDataset
    ids: tuple[str, ...] = field(converter=tuple)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int | slice) -> Any:  # type: ignore[override]
        if isinstance(index, slice):
            return evolve(self, ids=self.ids[index])
        return self.load(self.ids[index])

    def __iter__(self) -> Iterator[tuple[Sample, Sample]]:
        for pair_id in self.ids:
            yield self.load(pair_id)

    def load(self, pair_id: str) -> tuple[Sample, Sample]:
        """The pair of id ``pair_id``; :class:`InputError` when the two RAWs' sizes differ."""
        a, b = self.first.load(pair_id), self.second.load(pair_id)
        if a.raw.shape != b.raw.shape:
            raise InputError(
                f"{self.root}: mismatched pair {pair_id}: {self.cameras[0]} RAW is "
                f"{a.raw.shape[0]}x{a.raw.shape[1]}, {self.cameras[1]} RAW is "
                f"{b.raw.shape[0]}x{b.raw.shape[1]}"
            )
        return a, b


@frozen(eq=False)
class CameraPairs:
    """A two-camera folder (module docstring), read by :func:`open_pairs`.

    Attributes:
        root: the folder.
        cameras: its camera ids, camera A first.
        manifest: the folder's ``manifest.json``.
        datasets: each camera's :class:`~ispengine.learning.datasets.SynthCamDataset`.
    """

    root: Path
    cameras: tuple[str, ...]
    manifest: dict[str, Any]
    datasets: dict[str, SynthCamDataset]

    def _camera(self, camera: str) -> str:
        if camera not in self.datasets:
            raise InputError(f"{self.root}: no camera {camera!r} (has: {', '.join(self.cameras)})")
        return camera

    def dataset(self, camera: str) -> PairedDataset:
        """Every sample of ``camera``: unpaired (``train``), anchors (``val``), test (``test``)."""
        return self.datasets[self._camera(camera)]

    def unpaired(self, camera: str) -> PairedDataset:
        """``camera``'s unpaired samples (its ``train`` split)."""
        return self.dataset(camera).split("train")

    def anchor_pairs(self, a: str, b: str) -> SamplePairs:
        """The anchor scenes as ``(sample of a, sample of b)`` pairs."""
        return self._pairs("anchor", a, b)

    def test_pairs(self, a: str, b: str) -> SamplePairs:
        """The test scenes as ``(sample of a, sample of b)`` pairs."""
        return self._pairs("test", a, b)

    def _pairs(self, part: str, a: str, b: str) -> SamplePairs:
        first, second = self.datasets[self._camera(a)], self.datasets[self._camera(b)]
        if a == b:
            raise InputError(f"{self.root}: pairs need two different cameras, got {a} twice")
        return SamplePairs(self.root, (a, b), first, second, self.manifest[part])


def _camera_dataset(root: Path, camera: str, manifest: dict[str, Any]) -> SynthCamDataset:
    """``root/camera`` as a dataset, checked against the pairs manifest."""
    from ispengine.learning.datasets import SynthCamDataset

    folder = root / camera
    if not (folder / "manifest.json").is_file():
        raise InputError(f"{folder}: missing (no manifest.json for camera {camera})")
    dataset = SynthCamDataset(folder)
    if dataset.manifest.get("size") != manifest.get("size"):
        raise InputError(
            f"{folder}: mismatched pairs: size {dataset.manifest.get('size')} of {camera}, "
            f"{manifest.get('size')} in {root / 'manifest.json'}"
        )
    if camera not in manifest["unpaired"]:
        raise InputError(f"{root / 'manifest.json'}: no unpaired samples listed for {camera}")
    listed = {
        "unpaired": manifest["unpaired"][camera],
        "anchor": manifest["anchor"],
        "test": manifest["test"],
    }
    entries = {entry["id"]: entry for entry in dataset.manifest["samples"]}
    for part, ids in listed.items():
        for pair_id in ids:
            if pair_id not in entries:
                raise InputError(f"{folder}: missing sample {pair_id} ({part})")
            if dataset.split_of(pair_id) != PART_SPLITS[part]:
                raise InputError(
                    f"{folder}: sample {pair_id} ({part}) is in split "
                    f"{dataset.split_of(pair_id)!r}, not {PART_SPLITS[part]!r}"
                )
            for relative in entries[pair_id]["files"].values():
                if not (folder / relative).is_file():
                    raise InputError(f"{folder / relative}: missing (sample {pair_id})")
    return dataset


def open_pairs(folder: str | Path) -> CameraPairs:
    """Read a folder written by :func:`generate_pairs` (``ispengine synthcam pairs``).

    Checks that every listed sample and file exists, in the right split, and that
    the camera folders' sizes agree; each mismatch is a one-line :class:`InputError`.
    """
    root = Path(folder)
    path = root / "manifest.json"
    if not path.is_file():
        raise InputError(f"{root}: no manifest.json (not a SynthCam pairs folder)")
    manifest = _read_json(path)
    if manifest.get("format") != FORMAT:
        raise InputError(
            f"{path}: not a SynthCam pairs manifest (format {manifest.get('format')!r})"
        )
    if manifest.get("version") != VERSION:
        raise InputError(f"{path}: unsupported version {manifest.get('version')!r}")
    missing = [k for k in ("cameras", "size", "unpaired", "anchor", "test") if k not in manifest]
    if missing:
        raise InputError(f"{path}: missing {', '.join(missing)}")
    cameras = tuple(manifest["cameras"])
    if len(set(cameras)) < 2 or len(set(cameras)) < len(cameras):
        raise InputError(f"{path}: needs at least two different cameras, got {list(cameras)}")
    datasets = {camera: _camera_dataset(root, camera, manifest) for camera in cameras}
    return CameraPairs(root, cameras, manifest, datasets)
