"""``ispengine unprocess``: sRGB images to RAW files with an sRGB-to-RAW method.

``ispengine unprocess --method NAME [--set KEY=VALUE ...] [--weights SAVED] [--samples K]
[--seed S] [--like RAW] [--executor serial|process|dask] [--workers N] [--address ADDR]
INPUT OUTPUT`` turns sRGB images into RAW files with any registered method (one
file per sample; ``NAME_s{k}`` when ``K > 1``).

A folder input runs its images (sorted by name) on the chosen executor
(:mod:`ispengine.io.executors`; serial by default). Each item carries only the
method's name, settings and saved-weights path, the target metadata and the
file paths; every worker process builds the method once and reuses it
(:func:`cached_method`). Seeds do not depend on the order: every image draws
its samples with seeds ``S, S + 1, ..., S + K - 1``, the same for every
image, so serial, process and Dask runs write the same bytes. A bad image is
reported on one line and skipped; the others are written, and the command
exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from ispengine.cli.common import (
    EXIT_USAGE,
    add_executor_arguments,
    add_setting_argument,
    build_method,
    registered_names,
)
from ispengine.core.commands import Command
from ispengine.core.errors import InputError, ISPEngineError

if TYPE_CHECKING:
    from ispengine.learning.srgb_to_raw import SrgbToRawMethod

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
#: The most RAWs ``--samples`` draws per image: samples are written as they are drawn
#: (one in memory at a time), but each is a file of the image's size on disk.
MAX_SAMPLES = 10_000


def _inputs(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise InputError(f"{path}: no images ({', '.join(IMAGE_SUFFIXES)})")
        return files
    if not path.is_file():
        raise InputError(f"{path}: no such file or folder")
    return [path]


def _target_metadata(like: str | None) -> dict[str, Any]:
    if like is None:  # a 16-bit sensor with levels 0 and 65535 (as `invert` without --like)
        return {"cfa_pattern": "rggb", "black_level": 0.0, "white_level": 65535.0}
    from ispengine.io.raw.reader import read_raw

    return read_raw(like).metadata()


def _outputs(source: Path, output: Path, many_inputs: bool, samples: int) -> list[Path]:
    suffix = ".dng" if many_inputs else (output.suffix.lower() or ".dng")
    if suffix not in (".dng", ".npy"):
        raise InputError(f"{output}: RAW output must be .dng or .npy")
    base = output / source.stem if many_inputs else output.with_suffix("")
    if samples == 1:
        return [base.with_suffix(suffix)]
    return [base.parent / f"{base.name}_s{k}{suffix}" for k in range(samples)]


def _write_raw(path: Path, raw: Any) -> None:
    import numpy as np

    from ispengine.io.atomic import atomic_output

    if path.suffix == ".npy":
        with atomic_output(path) as temporary, open(temporary, "wb") as handle:
            np.save(handle, np.asarray(raw.mosaic))
        return
    from ispengine.io.raw.dng import write_dng

    mosaic = np.asarray(raw.mosaic)
    outside = int(np.count_nonzero((mosaic < 0) | (mosaic > 1)))
    if outside:
        warnings.warn(
            f"{path.name}: {outside} RAW values outside [0, 1] clipped for the DNG", stacklevel=1
        )
        raw = raw.evolve(mosaic=np.clip(mosaic, 0.0, 1.0))
    write_dng(path, raw)


#: The method this process built last, by :func:`_method_key` (one entry: a worker
#: serves one command at a time; a new key replaces it).
_METHODS: dict[tuple[Any, ...], SrgbToRawMethod] = {}


def _method_key(name: str, settings: dict[str, Any], weights: str | None) -> tuple[Any, ...]:
    stamp = None
    if weights:
        saved = Path(weights)
        saved = saved if saved.suffix == ".json" else saved.with_suffix(".json")
        try:  # a re-saved method (same path, new files) is built again
            status = saved.stat()
            stamp = (str(saved.resolve()), status.st_mtime_ns, status.st_size)
        except OSError:
            stamp = (str(saved), None, None)
    return (name, json.dumps(settings, sort_keys=True, default=repr), stamp)


def cached_method(
    name: str, settings: dict[str, Any], weights: str | None = None
) -> SrgbToRawMethod:
    """:func:`build_method`, built once per process and reused for every item."""
    key = _method_key(name, settings, weights)
    method = _METHODS.get(key)
    if method is None:
        _METHODS.clear()
        method = _METHODS[key] = build_method(name, settings, weights)
    return method


class UnprocessJob(NamedTuple):
    """One image of ``ispengine unprocess``: small and picklable (no model inside)."""

    method: str
    settings: dict[str, Any]
    weights: str | None
    metadata: dict[str, Any]
    source: str
    targets: tuple[str, ...]
    samples: int
    seed: int


class UnprocessOutcome(NamedTuple):
    """What one job did: ``error`` (one line) or ``None``, and the warnings it raised."""

    error: str | None = None
    warnings: tuple[tuple[str, type[Warning]], ...] = ()


def _naming(source: str, error: BaseException) -> str:
    if isinstance(error, OSError) and not isinstance(error, ISPEngineError):
        where = error.filename or source
        message = f"{where}: {error.strerror or error}"
    else:
        message = str(error)
    return message if source in message else f"{source}: {message}"


def _source_capture(source: str) -> Any:
    """The image's capture parameters; without a capture time in its EXIF, the file's
    modification time (so every executor writes the same DNG bytes for it)."""
    import datetime

    import attrs

    from ispengine.io.image_files import read_capture

    capture = read_capture(source)
    if capture.datetime is None:
        moment = datetime.datetime.fromtimestamp(Path(source).stat().st_mtime)
        capture = attrs.evolve(capture, datetime=moment.replace(microsecond=0))
    return capture


def unprocess_job(job: UnprocessJob) -> UnprocessOutcome:
    """Convert one image and write its RAWs and JSON sidecars (atomically).

    A module-level function, so every executor can run it. Engine errors and
    file errors come back as the outcome's one-line ``error`` (nothing is
    written for the image; the batch goes on); warnings come back to be shown
    by the calling process.
    """
    from ispengine.io.atomic import atomic_output
    from ispengine.io.image_files import read_image

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            method = cached_method(job.method, job.settings, job.weights)
            image, capture = read_image(job.source), _source_capture(job.source)
            made = method.iter_samples(
                image, job.samples, capture=capture, metadata=job.metadata, seed=job.seed
            )
            for target, result in zip(job.targets, made, strict=True):  # written as drawn
                path = Path(target)
                _write_raw(path, result.raw)
                with atomic_output(path.with_suffix(".json")) as temporary:
                    temporary.write_text(
                        json.dumps(result.metadata, indent=2, default=float) + "\n"
                    )
        except (ISPEngineError, OSError) as error:
            return UnprocessOutcome(error=_naming(job.source, error))
    return UnprocessOutcome(warnings=tuple((str(w.message), w.category) for w in caught))


def cmd_unprocess(args: argparse.Namespace) -> int:
    from ispengine.io.executors import make_executor

    if not 1 <= args.samples <= MAX_SAMPLES:
        raise InputError(f"--samples: expected 1..{MAX_SAMPLES}, got {args.samples}")
    if args.set and args.weights:
        raise InputError(
            "--set cannot change a saved method (--weights): its settings are the saved ones"
        )
    settings = dict(args.set or [])
    method = build_method(args.method, settings, args.weights)  # bad names fail here
    source_path, output = Path(args.input), Path(args.output)
    sources = _inputs(source_path)
    many = source_path.is_dir()
    metadata = _target_metadata(args.like)
    jobs = [
        UnprocessJob(
            args.method,
            settings,
            args.weights,
            metadata,
            str(source),
            tuple(str(p) for p in _outputs(source, output, many, args.samples)),
            args.samples,
            args.seed,
        )
        for source in sources
    ]
    _METHODS.clear()
    _METHODS[_method_key(args.method, settings, args.weights)] = method  # serial reuses it
    try:
        if many:
            with make_executor(args.executor, args.workers, args.address) as executor:
                output.mkdir(parents=True, exist_ok=True)
                outcomes = executor.map(
                    unprocess_job, jobs, progress=None if args.quiet else "unprocess"
                )
        else:
            outcomes = [unprocess_job(jobs[0])]
    finally:
        _METHODS.clear()
    for outcome in outcomes:
        for message, category in outcome.warnings:
            warnings.warn(message, category, stacklevel=1)
    failures = [o.error for o in outcomes if o.error is not None]
    if failures and not many:
        raise InputError(failures[0])
    for failure in failures:
        print(f"ispengine: error: {failure}", file=sys.stderr)
    done = [job for job, outcome in zip(jobs, outcomes, strict=True) if outcome.error is None]
    if done:
        print(
            f"unprocess ({method.name}): {len(done)} image(s) x {args.samples} -> {_written(done)}"
        )
    if failures:
        print(
            f"ispengine: error: {len(failures)} of {len(sources)} images failed "
            "(nothing written for them)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    return 0


def _written(done: list[UnprocessJob]) -> str:
    """The files written, as a reader would look for them: one, or the first .. the last."""
    targets = [t for job in done for t in job.targets]
    if len(targets) == 1:
        return targets[0]
    if len(done) > 1 and len({str(Path(t).parent) for t in targets}) == 1:
        return f"{len(targets)} files in {Path(targets[0]).parent}"
    return f"{targets[0]} .. {targets[-1]}"


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--method",
        required=True,
        help=f"registered sRGB-to-RAW method (one of: {registered_names('srgb_to_raw')})",
    )
    add_setting_argument(parser)
    parser.add_argument(
        "--weights",
        metavar="SAVED",
        help="a saved method (.json from `ispengine train` or save) to load; not with --set",
    )
    parser.add_argument(
        "--samples",
        type=int,
        default=1,
        help=f"RAWs per image, 1..{MAX_SAMPLES} (default 1); each is written as it is drawn",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of every image's first sample (default 0)"
    )
    parser.add_argument(
        "--like",
        metavar="RAW",
        help="target camera (pattern, levels, colour data) from this RAW file",
    )
    add_executor_arguments(parser, "how a folder is processed", default="serial")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("input", help="an sRGB image (.png, .jpg, .tif) or a folder of them")
    parser.add_argument("output", help="output .dng or .npy (a folder for a folder input)")


COMMAND = Command(
    "unprocess",
    "sRGB images to RAW with a method",
    run=cmd_unprocess,
    add_arguments=_add_arguments,
)
