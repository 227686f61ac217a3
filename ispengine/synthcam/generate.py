"""SynthCam samples and datasets: deterministic from a seed, written with a manifest.

:func:`make_sample` is pure: sample ``index`` of seed ``seed`` draws from
``numpy.random.SeedSequence([seed, index])``, split into independent streams
for the scene, the capture, the sensor noise and the camera ISP (so changing
one part never reshuffles another's draws). The same arguments give the same
arrays on any machine with the same library versions.

Dataset layout written by :func:`generate_dataset` (paths relative to it)::

    manifest.json                   format "synthcam", version 1 (below)
    raw/{id}.dng                    the RAW, with full metadata and EXIF
    srgb/{id}.png                   the camera's 8-bit sRGB, with EXIF
    gt/{id}_camera_rgb.npy          clean linear camera RGB on the RAW's scale
    gt/{id}_linear_srgb.npy         ground-truth linear sRGB (D65), same scale

Ids are the zero-padded index (``000000``). Cameras alternate over the
indices (``cameras[index % len(cameras)]``), scene kinds alternate in pairs
(``natural`` for ``(index // 2) % 2 == 0``, else ``spectral``), so with two
cameras every camera meets both kinds. The split depends on the index only
(never on ``n``, so a larger dataset keeps the smaller one's splits): index 0
is ``train``, 1 ``val``, 2 ``test``; from 3 on, a 64-bit mix of the index
(splitmix64, Steele et al. 2014) modulo 100 gives train < 80 ≤ val < 90 ≤ test.
"""

from __future__ import annotations

import datetime
import inspect
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from attrs import evolve, frozen

from ispengine.core.errors import InputError
from ispengine.core.json_values import json_ready
from ispengine.io.atomic import atomic_output
from ispengine.io.raw import RawImage
from ispengine.synthcam.cameras import DEFAULT_CAMERAS, get_camera
from ispengine.synthcam.scenes import SCENE_KINDS

FORMAT = "synthcam"
VERSION = 1
SPLITS = ("train", "val", "test")
ID_DIGITS = 6
MIN_SIZE = 8


@frozen(eq=False)
class SynthSample:
    """One generated sample: the RAW, the camera's sRGB, the ground truth, and how it was made.

    Attributes:
        id: zero-padded index.
        index, seed: what it was generated from.
        camera: camera id.
        split: ``train``, ``val`` or ``test``.
        scene: the scene's description (kind, source, illuminants, layout, highlights).
        simulation: exposure, optics and noise values of the capture.
        raw: the RAW (uint16 mosaic, metadata, :class:`~ispengine.io.raw.CaptureParams`).
        srgb: the camera's 8-bit sRGB as values on [0, 1], ``(H, W, 3)`` float32.
        camera_rgb, linear_srgb: ground truth, ``(H, W, 3)`` float32 (see :mod:`.capture`).
        isp: the hidden camera ISP's parameters.
    """

    id: str
    index: int
    seed: int
    camera: str
    split: str
    scene: dict
    simulation: dict
    raw: RawImage
    srgb: np.ndarray
    camera_rgb: np.ndarray
    linear_srgb: np.ndarray
    isp: dict

    def files(self) -> dict[str, str]:
        """The sample's files, relative to the dataset folder."""
        return {
            "raw": f"raw/{self.id}.dng",
            "srgb": f"srgb/{self.id}.png",
            "camera_rgb": f"gt/{self.id}_camera_rgb.npy",
            "linear_srgb": f"gt/{self.id}_linear_srgb.npy",
        }

    def manifest_entry(self) -> dict[str, Any]:
        raw = self.raw
        return json_ready(
            {
                "id": self.id,
                "index": self.index,
                "camera": self.camera,
                "split": self.split,
                "scene": self.scene,
                "simulation": self.simulation,
                "capture": raw.capture.as_dict(),
                "raw": {
                    "cfa_pattern": raw.cfa_pattern,
                    "black_level": raw.black_level,
                    "white_level": raw.white_level,
                    "wb_gains": raw.wb_gains,
                    "xyz_to_camera": raw.xyz_to_camera,
                    "camera_to_srgb": raw.camera_to_srgb,
                },
                "isp": self.isp,
                "files": self.files(),
            }
        )


def sample_id(index: int) -> str:
    return f"{index:0{ID_DIGITS}d}"


def _splitmix64(value: int) -> int:
    mask = (1 << 64) - 1
    z = (value + 0x9E3779B97F4A7C15) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return z ^ (z >> 31)


def split_of(index: int) -> str:
    """The split of sample ``index`` (see the module docstring); 80/10/10 overall."""
    if index < len(SPLITS):
        return SPLITS[index]
    bucket = _splitmix64(index) % 100
    return "train" if bucket < 80 else "val" if bucket < 90 else "test"


def scene_kind_of(index: int) -> str:
    return SCENE_KINDS[(index // 2) % len(SCENE_KINDS)]


def check_size(size: Sequence[int]) -> tuple[int, int]:
    """``size`` as ``(height, width)``: both even and at least :data:`MIN_SIZE`."""
    try:
        height, width = (int(v) for v in size)
    except (TypeError, ValueError):
        raise InputError(f"size: expected (height, width), got {size!r}") from None
    if height < MIN_SIZE or width < MIN_SIZE or height % 2 or width % 2:
        raise InputError(
            f"size: height and width must be even and at least {MIN_SIZE}, got {height}x{width}"
        )
    return height, width


#: SynthCam's clock: sample ``index`` is taken this many seconds after it, so its
#: files carry a capture time (DNG/EXIF DateTimeOriginal) that depends on the index only.
CLOCK_START = datetime.datetime(2020, 1, 1, 12, 0, 0)


def capture_time(index: int) -> datetime.datetime:
    """The capture time of sample ``index`` (:data:`CLOCK_START` plus ``index`` seconds)."""
    return CLOCK_START + datetime.timedelta(seconds=int(index))


def make_sample(
    seed: int, index: int, size: tuple[int, int], camera: str, scene_kind: str | None = None
) -> SynthSample:
    """Generate sample ``index`` of ``seed`` with ``camera``, ``size = (H, W)`` (even).

    ``scene_kind`` defaults to the alternation by index (:func:`scene_kind_of`).
    """
    from ispengine.synthcam.camera_isp import render_srgb
    from ispengine.synthcam.capture import draw_capture, simulate_raw
    from ispengine.synthcam.scenes import make_scene

    if int(seed) < 0 or int(index) < 0:
        raise InputError(f"seed and index must be non-negative, got {seed}, {index}")
    size = check_size(size)
    model = get_camera(camera)
    kind = scene_kind or scene_kind_of(index)
    streams = np.random.SeedSequence([int(seed), int(index)]).spawn(4)
    scene_rng, capture_rng, noise_rng, isp_rng = (np.random.default_rng(s) for s in streams)
    scene = make_scene(kind, scene_rng, model, size)
    draw = draw_capture(capture_rng, model.optics)
    capture = simulate_raw(scene, model, draw, noise_rng)
    raw = capture.raw.evolve(capture=evolve(capture.raw.capture, datetime=capture_time(index)))
    srgb, isp = render_srgb(raw, model, isp_rng)
    return SynthSample(
        id=sample_id(index),
        index=int(index),
        seed=int(seed),
        camera=model.name,
        split=split_of(index),
        scene=json_ready(scene.info),
        simulation=json_ready(capture.info),
        raw=raw,
        srgb=srgb,
        camera_rgb=capture.camera_rgb,
        linear_srgb=capture.linear_srgb,
        isp=json_ready(isp),
    )


def write_sample(sample: SynthSample, out_dir: str | Path) -> dict[str, Any]:
    """Write the sample's files under ``out_dir`` (atomically each); returns its manifest entry."""
    from ispengine.io.image_files import write_image
    from ispengine.io.raw.dng import write_dng

    out = Path(out_dir)
    files = sample.files()
    for name in ("raw", "srgb", "camera_rgb"):
        (out / files[name]).parent.mkdir(parents=True, exist_ok=True)
    write_dng(out / files["raw"], sample.raw)
    write_image(out / files["srgb"], sample.srgb, capture=sample.raw.capture, bits=8)
    write_image(out / files["camera_rgb"], sample.camera_rgb)
    write_image(out / files["linear_srgb"], sample.linear_srgb)
    return sample.manifest_entry()


def generate_one(item: tuple[int, int, tuple[int, int], str, str]) -> dict[str, Any]:
    """Make and write one sample: ``item = (seed, index, (H, W), camera, out_dir)``.

    The unit of work handed to an executor (module level, so it pickles).
    """
    seed, index, size, camera, out_dir = item
    return write_sample(make_sample(seed, index, size, camera), out_dir)


def map_samples(
    executor: Any, items: list, progress: bool, work: Callable[[Any], Any] = generate_one
) -> list[Any]:
    """``[work(item) for item in items]``, in order, on ``executor`` (``None``: serially here).

    ``work`` must be a module-level function (so it pickles for process and Dask executors).
    """
    if executor is None:
        from tqdm import tqdm

        bar = tqdm(items, desc="synthcam", unit="sample", file=sys.stderr, disable=not progress)
        return [work(item) for item in bar]
    accepts_progress = "progress" in inspect.signature(executor.map).parameters
    if accepts_progress:
        return list(executor.map(work, items, progress="synthcam" if progress else None))
    return list(executor.map(work, items))


def dataset_manifest(
    seed: int, size: tuple[int, int], cameras: list[str], entries: list[dict[str, Any]]
) -> dict[str, Any]:
    """The ``manifest.json`` of a SynthCam folder holding the samples ``entries``."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "seed": int(seed),
        "size": list(size),
        "cameras": cameras,
        "splits": {split: [e["id"] for e in entries if e["split"] == split] for split in SPLITS},
        "samples": entries,
    }


def write_manifest(path: str | Path, manifest: dict[str, Any]) -> None:
    """Write ``manifest`` as sorted, indented JSON to ``path``, atomically."""
    with atomic_output(path) as temporary:
        temporary.write_text(json.dumps(manifest, sort_keys=True, indent=2) + "\n")


#: The entries a SynthCam folder holds (see the module docstring).
DATASET_ENTRIES = ("raw", "srgb", "gt", "manifest.json")
#: The hidden folder, inside the output folder, that a run writes its samples into.
STAGING_PREFIX = ".synthcam-partial-"


def _refuse_existing_dataset(out: Path, overwrite: bool) -> list[Path]:
    """The entries of an earlier dataset in ``out`` (to replace), or an error without
    ``overwrite``: a new dataset never mixes with an older one's samples."""
    existing = [out / name for name in DATASET_ENTRIES if (out / name).exists()]
    if existing and not overwrite:
        what = "a SynthCam dataset" if (out / "manifest.json").exists() else "SynthCam files"
        raise InputError(
            f"{out}: already holds {what} ({', '.join(p.name for p in existing)}); "
            "give --overwrite (overwrite=True) to replace it, or another folder"
        )
    return existing


def _remove(path: Path) -> None:
    import shutil

    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def generate_dataset(
    out_dir: str | Path,
    n: int,
    size: tuple[int, int],
    seed: int,
    cameras: Iterable[str] | None = None,
    executor: Any = None,
    progress: bool = True,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write ``n`` samples and ``manifest.json`` under ``out_dir``; returns the manifest.

    ``cameras``: camera ids to alternate over (default: the two measured
    cameras, :data:`~ispengine.synthcam.cameras.DEFAULT_CAMERAS`; every id is
    in :data:`~ispengine.synthcam.cameras.CAMERAS`). A subset leaves the other
    cameras out, e.g. to hold one out for fine-tuning.
    ``executor``: any object whose ``map(fn, items)`` returns results in order
    (:mod:`ispengine.io.executors`); ``None`` runs serially in this process.
    ``progress`` shows a bar on stderr. The same arguments give byte-identical files.

    All or nothing: the samples are written into a hidden folder inside
    ``out_dir`` (``.synthcam-partial-PID``) and moved into place, the manifest
    last, only when every sample is written; a failed or interrupted run removes
    it and leaves ``out_dir`` as it was. A folder that already holds a dataset
    (``manifest.json``, ``raw/``, ``srgb/`` or ``gt/``) is refused unless
    ``overwrite``, which replaces that dataset whole; other files in the folder
    are left alone.
    """
    import os

    n = int(n)
    if n < 1:
        raise InputError(f"n: need at least one sample, got {n}")
    size = check_size(size)
    names = list(DEFAULT_CAMERAS if cameras is None else cameras)
    if not names:
        raise InputError("cameras: need at least one camera")
    for name in names:
        get_camera(name)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: is a file, not a folder")
    previous = _refuse_existing_dataset(out, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    staging = out / f"{STAGING_PREFIX}{os.getpid()}"
    if staging.exists():
        _remove(staging)
    staging.mkdir()
    try:
        items = [(int(seed), i, size, names[i % len(names)], str(staging)) for i in range(n)]
        entries = map_samples(executor, items, progress)
        manifest = dataset_manifest(seed, size, names, entries)
        if previous:  # set the old dataset aside (removed below with the staging folder)
            replaced = staging / ".replaced"
            replaced.mkdir()
            for path in previous:
                path.rename(replaced / path.name)
        for name in DATASET_ENTRIES[:-1]:
            if (staging / name).exists():
                (staging / name).rename(out / name)
        write_manifest(out / "manifest.json", manifest)
    finally:
        if staging.exists():
            _remove(staging)
    return manifest
