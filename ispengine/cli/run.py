"""``ispengine run SPEC INPUT OUTPUT``: run a pipeline on a RAW file, an image or a folder.

:func:`transform` and :func:`add_transform_arguments` serve ``invert`` too.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ispengine.cli.common import (
    EXIT_USAGE,
    add_executor_arguments,
    load_pipeline,
    spec_argument,
    warn_clipped,
)
from ispengine.core.commands import Command


def transform(args: argparse.Namespace, *, invert: bool) -> int:
    """Run the spec's pipeline (or its inverse) on a file or on every file of a folder.

    A folder input writes into the output folder (created when missing), skips
    side-car files, shows a progress bar and prints one summary line (``--quiet``:
    neither); a file that fails is reported on one line and the others are
    still written. Clipped output values are reported in one warning.
    """
    from ispengine.io.convert import batch_jobs, check_target, convert_file, convert_job

    source, target = Path(args.input), Path(args.output)
    pipeline = load_pipeline(args.spec)
    if invert:
        pipeline = pipeline.inverse()
    like = None
    if args.like:
        from ispengine.io.raw.reader import read_raw

        like = read_raw(args.like)
    start = time.perf_counter()
    if source.is_dir():
        suffix = args.format if args.format.startswith(".") else f".{args.format}"
        check_target(f"x{suffix}")
        pairs = batch_jobs(source, target, suffix)
        jobs = [(args.spec, s, t, invert, args.like, args.bits) for s, t in pairs]
        from ispengine.io.executors import make_executor

        with make_executor(args.executor, args.workers, args.address) as executor:
            progress = None if args.quiet else pipeline.name
            results = executor.map(convert_job, jobs, progress=progress)
    else:
        results = [convert_file(pipeline, source, target, like=like, bits=args.bits)]
    failures = [r for r in results if isinstance(r, str)]
    done = [r for r in results if not isinstance(r, str)]
    for failure in failures:
        print(f"ispengine: error: {failure}", file=sys.stderr)
    if not args.quiet:
        if source.is_dir():
            print(
                f"{pipeline.name}: {len(done)} of {len(results)} files {source} -> {target}, "
                f"{time.perf_counter() - start:.1f} s"
            )
        else:
            print(done[0].summary(pipeline.name))
    _warn_default_metadata(pipeline, [r.source for r in done], args.like)
    _warn_clipped(done)
    if failures:
        print(
            f"ispengine: error: {len(failures)} of {len(results)} files failed "
            "(nothing written for them)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    return 0


def _warn_default_metadata(pipeline, sources: list[str], like: str | None) -> None:
    """One warning when camera values the pipeline took from a file fell back to defaults
    (for the converted ``sources``)."""
    from ispengine.io.raw.reader import is_raw_path

    if like or not pipeline.bindings or not sources or all(is_raw_path(s) for s in sources):
        return
    print(
        "ispengine: warning: no --like RAW: the camera values this pipeline takes from a file "
        "(Bayer pattern, levels, white balance, colour matrix) are defaults: RGGB, black 0, "
        "white 65535, white balance 1, 1, 1, camera RGB = linear sRGB",
        file=sys.stderr,
    )


def _warn_clipped(done: list) -> None:
    """One warning for all outputs whose values left the output range."""
    clipped = [r for r in done if r.clipped]
    if not clipped:
        return
    where = clipped[0].target if len(clipped) == 1 else f"{len(clipped)} of {len(done)} files"
    warn_clipped(sum(r.clipped for r in clipped), sum(r.size for r in clipped), where)


def add_transform_arguments(parser: argparse.ArgumentParser, default_format: str) -> None:
    """The arguments of ``run`` and ``invert``; ``default_format`` for folder outputs."""
    spec_argument(parser)
    parser.add_argument(
        "input",
        help="input: a camera RAW file (.dng, .cr2, .nef, ... via LibRaw), an image "
        "(.png, .jpg, .tif, .npy), or a folder of them (side-car files such as .json are "
        "skipped)",
    )
    parser.add_argument(
        "output",
        help="output: .png/.tif (16-bit unless --bits 8), .jpg, .npy (lossless) or .dng "
        "(RAW mosaic); a folder when the input is a folder (created if needed)",
    )
    parser.add_argument(
        "--like",
        metavar="RAW",
        help="take from_metadata values (pattern, levels, white balance, colour matrix) "
        "from this RAW file when the input has none",
    )
    parser.add_argument("--bits", type=int, choices=(8, 16), help="bit depth of PNG/TIFF output")
    parser.add_argument(
        "--format",
        default=default_format,
        help="output type for a folder input (default: %(default)s)",
    )
    add_executor_arguments(parser, "how a folder is processed")
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar and no summary line (errors and warnings are still printed)",
    )


def cmd_run(args: argparse.Namespace) -> int:
    return transform(args, invert=False)


COMMAND = Command(
    "run",
    "run a pipeline on an image",
    run=cmd_run,
    add_arguments=lambda parser: add_transform_arguments(parser, "png"),
)
