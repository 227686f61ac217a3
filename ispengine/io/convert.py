"""File-to-file conversion through a pipeline: RAW or image in, image or DNG out.

Used by ``ispengine run`` and ``ispengine invert``, for one file or for every
file of a folder on an executor (:mod:`ispengine.io.executors`).

* A camera RAW input (any suffix that is not an image suffix: ``.dng``,
  ``.cr2``, ``.nef``, ...) is read with rawpy into a :class:`RawImage`; its
  metadata fills the spec's ``from_metadata`` values and its capture
  parameters go to the output's EXIF.
* A headerless sensor dump (``.raw``, ``.bin``) is read with the geometry the
  pipeline's spec declares in its ``[input]`` table, with the ``geometry``
  values given here (the command line's ``--width``, ``--height``,
  ``--raw-bits``, ...) on top (:func:`~ispengine.io.raw.headerless.resolve_geometry`);
  without any, a ``.raw`` is tried with LibRaw (:func:`~ispengine.io.raw.reader.read_raw`).
  Its :class:`RawImage` has the declared pattern and levels, white balance 1
  and camera RGB = linear sRGB, and is developed and written (``.dng``) like
  any RAW file's.
* An image input (PNG, JPEG, TIFF, npy) keeps its EXIF capture parameters.
  When the pipeline takes values from metadata, they come from ``like`` (a
  RAW file) or, without one, from :func:`default_raw_metadata`: an RGGB,
  16-bit sensor whose camera RGB is linear sRGB, with no black level and
  unit white balance.
* A ``.dng`` output needs a pipeline that ends in a RAW mosaic (e.g. the
  inverse of ``camera_default.toml``): the mosaic is written with the same
  metadata it was made with, values outside [0, white level] clipped (and
  counted). ``raw_identity.toml`` (one exact identity stage) turns a RAW input,
  e.g. a headerless dump, into a DNG with its pattern and levels.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np
from attrs import frozen

from ispengine.core.errors import InputError
from ispengine.io.image_files import SUFFIXES as IMAGE_SUFFIXES
from ispengine.io.image_files import (
    check_output_path,
    output_depth,
    read_capture,
    read_image,
    write_image,
)
from ispengine.io.raw.image import CaptureParams, RawImage
from ispengine.io.raw.reader import is_raw_path, is_sidecar_path, read_raw


@frozen
class Converted:
    """What one conversion did: paths, shape, time, and how many values were clipped."""

    source: str
    target: str
    shape: tuple[int, ...]
    seconds: float
    clipped: int
    size: int

    def summary(self, pipeline_name: str) -> str:
        return (
            f"{self.source} -> {self.target}: {pipeline_name}, shape {self.shape}, "
            f"{self.seconds * 1000:.1f} ms"
        )


def default_raw_metadata(shape: tuple[int, int], capture: CaptureParams) -> RawImage:
    """The metadata used to invert to RAW without a reference file (see the module docstring)."""
    height, width = shape
    return RawImage(
        np.zeros((height - height % 2 or 2, width - width % 2 or 2), np.uint16),
        "rggb",
        0.0,
        65535.0,
        1.0,
        capture=capture,
    )


def check_target(path: str | Path) -> None:
    """Fail before any work on an output of an unsupported type."""
    if Path(path).suffix.lower() == ".dng":
        return
    check_output_path(path)


def load_input(
    path: str | Path, geometry: Any = None
) -> tuple[Any, RawImage | None, CaptureParams]:
    """(pixels, RawImage or None, capture parameters) of an input file (``geometry``: a
    :class:`~ispengine.io.raw.headerless.SensorGeometry` for a headerless dump)."""
    if is_sidecar_path(path):
        raise InputError(
            f"{path}: a side-car file ({Path(path).suffix.lower()}), not an input; inputs are "
            f"camera RAW files (.dng, .cr2, .nef, ... via LibRaw) and images "
            f"({', '.join(IMAGE_SUFFIXES)})"
        )
    if is_raw_path(path):
        raw = read_raw(path, geometry)
        return raw, raw, raw.capture
    return read_image(path), None, read_capture(path)


def convert_file(
    pipeline: Any,
    source: str | Path,
    target: str | Path,
    *,
    like: RawImage | None = None,
    bits: int | None = None,
    geometry: Mapping[str, Any] | None = None,
) -> Converted:
    """Run ``pipeline`` on ``source`` and write ``target`` atomically (nothing on failure).

    ``geometry``: headerless-dump values (keys of
    :data:`~ispengine.io.raw.headerless.GEOMETRY_KEYS`, ``None`` = not given) that
    override the pipeline's ``input_geometry`` (its spec's ``[input]`` table); used
    only when ``source`` is a ``.raw``/``.bin`` file."""
    import time

    from ispengine.core.errors import ISPEngineError
    from ispengine.io.raw.headerless import is_headerless_path, resolve_geometry

    check_target(target)
    sensor = None
    if is_headerless_path(source):
        try:
            sensor = resolve_geometry(getattr(pipeline, "input_geometry", None), geometry)
        except InputError as error:
            raise InputError(f"{source}: {error}") from None
    pixels, raw, capture = load_input(source, sensor)
    metadata = None
    reference = raw or like
    if pipeline.bindings and raw is None:
        reference = like or default_raw_metadata(np.shape(pixels)[:2], capture)
        metadata = reference.metadata()
    # 8/16-bit image outputs are quantised by the pipeline (inside its fused pass when
    # the last group is fused) and written as they are: no second quantisation.
    suffix = Path(target).suffix.lower()
    depth = output_depth(target, bits)
    quantised = suffix not in (".dng", ".npy") and depth in (8, 16)
    start = time.perf_counter()
    try:
        if quantised:
            result, clipped = pipeline.render(
                pixels, np.uint8 if depth == 8 else np.uint16, metadata=metadata
            )
        else:
            result = pipeline(pixels, metadata=metadata)
    except ISPEngineError as error:
        raise type(error)(f"{source}: {error}") from None
    seconds = time.perf_counter() - start
    if suffix == ".dng":
        clipped = _write_dng_result(target, result, reference, capture)
    elif quantised:
        write_image(target, result, capture=capture, bits=depth, clipped=clipped)
    else:
        clipped = write_image(target, result, capture=capture, bits=bits)
    return Converted(str(source), str(target), tuple(result.shape), seconds, clipped, result.size)


def _write_dng_result(
    target: str | Path, mosaic: np.ndarray, reference: RawImage | None, capture: CaptureParams
) -> int:
    from ispengine.io.raw.dng import write_dng

    if np.ndim(mosaic) != 2:
        raise InputError(
            f"{target}: a DNG stores a RAW mosaic (H, W) but the pipeline gives shape "
            f"{np.shape(mosaic)}; use a pipeline that ends in raw_mosaic"
        )
    if reference is None:
        reference = default_raw_metadata(np.shape(mosaic), capture)
    white = reference.white_level
    clipped = int(np.count_nonzero((mosaic < 0) | (mosaic > white)))
    digital = np.round(np.clip(mosaic, 0, white)).astype(np.uint16)
    raw = attrs.evolve(
        reference, mosaic=digital, normalized=False, capture=capture.merged(reference.capture)
    )
    write_dng(target, raw)
    return clipped


def input_files(source_dir: Path) -> tuple[list[Path], list[Path]]:
    """(inputs, skipped) among the regular files of ``source_dir``, sorted by name.

    Inputs are images (:data:`~ispengine.io.image_files.SUFFIXES`) and camera
    RAW files (:func:`~ispengine.io.raw.reader.is_raw_path`); side-car files
    (``.json`` written by ``unprocess``, ``.xmp``, ...) and hidden files are skipped.
    """
    files = sorted(p for p in source_dir.iterdir() if p.is_file() and not p.name.startswith("."))
    inputs = [p for p in files if not is_sidecar_path(p)]
    return inputs, [p for p in files if is_sidecar_path(p)]


def batch_jobs(source_dir: Path, target_dir: Path, suffix: str) -> list[tuple[str, str]]:
    """(input, output) pairs for every input file of ``source_dir`` (:func:`input_files`).

    ``target_dir`` is created (with its parents) when it does not exist, only
    once there is something to convert.
    """
    inputs, skipped = input_files(source_dir)
    if not inputs:
        kinds = f" (only side-car files: {len(skipped)})" if skipped else ""
        raise InputError(f"{source_dir}: no images or RAW files to convert{kinds}")
    if target_dir.exists() and not target_dir.is_dir():
        raise InputError(f"{target_dir}: is a file, not an output folder")
    target_dir.mkdir(parents=True, exist_ok=True)
    return [(str(p), str(target_dir / f"{p.stem}{suffix}")) for p in inputs]


def convert_job(job: tuple[Any, ...]) -> Converted | str:
    """One file of a batch (a module-level function, so executors can pickle it).

    ``job``: ``(spec, source, target, invert, like_path, bits[, geometry])``, ``geometry``
    a dict of headerless-dump values (see :func:`convert_file`).

    Returns the :class:`Converted` record, or the one-line error for a file
    that could not be converted (the batch goes on; nothing is written for it).
    """
    spec, source, target, invert, like_path, bits, *rest = job
    geometry = rest[0] if rest else None
    from ispengine.core.errors import ISPEngineError
    from ispengine.core.pipeline import Pipeline
    from ispengine.specs import resolve_spec

    pipeline = Pipeline.from_toml(resolve_spec(spec))
    if invert:
        pipeline = pipeline.inverse()
    like = None
    try:
        if like_path is not None:
            like = read_raw(like_path)
        return convert_file(pipeline, source, target, like=like, bits=bits, geometry=geometry)
    except ISPEngineError as error:
        return str(error)
    except OSError as error:  # e.g. the output is a folder or not writable
        return f"{error.filename or target}: {error.strerror or error}"
