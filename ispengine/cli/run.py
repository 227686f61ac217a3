"""``ispengine run SPEC INPUT OUTPUT``: run a pipeline on a RAW file, an image or a folder.

:func:`transform` and :func:`add_transform_arguments` serve ``invert`` too.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ispengine.cli.common import EXIT_USAGE, add_executor_arguments, load_pipeline, spec_argument
from ispengine.core.commands import Command


def transform(args: argparse.Namespace, *, invert: bool) -> int:
    """Run the spec's pipeline (or its inverse) on a file or on every file of a folder."""
    from ispengine.io.convert import batch_jobs, check_target, convert_file, convert_job

    source, target = Path(args.input), Path(args.output)
    pipeline = load_pipeline(args.spec)
    if invert:
        pipeline = pipeline.inverse()
    like = None
    if args.like:
        from ispengine.io.raw.reader import read_raw

        like = read_raw(args.like)
    if source.is_dir():
        suffix = args.format if args.format.startswith(".") else f".{args.format}"
        check_target(f"x{suffix}")
        jobs = [
            (args.spec, s, t, invert, args.like, args.bits)
            for s, t in batch_jobs(source, target, suffix)
        ]
        from ispengine.io.executors import make_executor

        with make_executor(args.executor, args.workers, args.address) as executor:
            results = executor.map(convert_job, jobs, progress=f"{pipeline.name}")
    else:
        results = [convert_file(pipeline, source, target, like=like, bits=args.bits)]
    failures = [r for r in results if isinstance(r, str)]
    for result in results:
        if isinstance(result, str):
            print(f"ispengine: error: {result}", file=sys.stderr)
            continue
        print(result.summary(pipeline.name))
        if result.clipped:
            share = 100.0 * result.clipped / result.size
            print(
                f"ispengine: warning: {result.clipped} values ({share:.2f}%) outside the output "
                f"range were clipped in {result.target}; write .npy to keep them",
                file=sys.stderr,
            )
    if failures:
        print(
            f"ispengine: error: {len(failures)} of {len(results)} files failed "
            "(nothing written for them)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    return 0


def add_transform_arguments(parser: argparse.ArgumentParser, default_format: str) -> None:
    """The arguments of ``run`` and ``invert``; ``default_format`` for folder outputs."""
    spec_argument(parser)
    parser.add_argument(
        "input",
        help="input: a camera RAW file (.dng, .cr2, .nef, ... via LibRaw), an image "
        "(.png, .jpg, .tif, .npy), or a folder of them",
    )
    parser.add_argument(
        "output",
        help="output: .png/.tif (16-bit unless --bits 8), .jpg, .npy (lossless) or .dng "
        "(RAW mosaic); a folder when the input is a folder",
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


def cmd_run(args: argparse.Namespace) -> int:
    return transform(args, invert=False)


COMMAND = Command(
    "run",
    "run a pipeline on an image",
    run=cmd_run,
    add_arguments=lambda parser: add_transform_arguments(parser, "png"),
)
