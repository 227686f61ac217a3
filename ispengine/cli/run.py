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
    geometry = headerless_overrides(args)
    start = time.perf_counter()
    if source.is_dir():
        suffix = args.format if args.format.startswith(".") else f".{args.format}"
        check_target(f"x{suffix}")
        pairs = batch_jobs(source, target, suffix)
        jobs = [(args.spec, s, t, invert, args.like, args.bits, geometry) for s, t in pairs]
        from ispengine.io.executors import make_executor

        with make_executor(args.executor, args.workers, args.address) as executor:
            progress = None if args.quiet else pipeline.name
            results = executor.map(convert_job, jobs, progress=progress)
    else:
        results = [
            convert_file(pipeline, source, target, like=like, bits=args.bits, geometry=geometry)
        ]
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
    _warn_headerless_colour(pipeline, [r.source for r in done])
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


def _warn_headerless_colour(pipeline, sources: list[str]) -> None:
    """One warning when a pipeline took colour values (white balance, colour matrix)
    from a headerless dump, which has only its declared pattern and levels."""
    from ispengine.io.raw.headerless import is_headerless_path

    colour_keys = {"wb_gains", "camera_to_srgb", "xyz_to_camera"}
    taken = {key for bound in pipeline.bindings.values() for key in bound.values()}
    if not taken & colour_keys or not any(is_headerless_path(s) for s in sources):
        return
    print(
        "ispengine: warning: a headerless sensor dump carries no colour data: white balance "
        "1, 1, 1 and camera RGB = linear sRGB are used (pattern and levels as declared)",
        file=sys.stderr,
    )


#: Flags of a headerless dump's geometry and the SensorGeometry keys they set.
HEADERLESS_FLAGS = {
    "width": "width",
    "height": "height",
    "raw_bits": "bits",
    "pattern": "pattern",
    "packing": "packing",
    "byte_order": "byte_order",
    "black": "black",
    "white": "white",
    "stride": "stride",
}


def headerless_overrides(args: argparse.Namespace) -> dict:
    """The headerless-dump values given on the command line (keys of SensorGeometry)."""
    return {
        key: getattr(args, flag)
        for flag, key in HEADERLESS_FLAGS.items()
        if getattr(args, flag, None) is not None
    }


def _black_levels(text: str) -> float | list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or R,Gr,Gb,B, got {text!r}") from None
    if len(values) not in (1, 4):
        raise argparse.ArgumentTypeError(
            f"expected one level or four (R,Gr,Gb,B), got {len(values)} values"
        )
    return values[0] if len(values) == 1 else values


def add_headerless_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags that declare a headerless sensor dump's layout (override the spec's
    ``[input]`` table; see ispengine.io.raw.headerless)."""
    group = parser.add_argument_group(
        "headerless sensor dumps (.raw, .bin)",
        "how a dump with no header is laid out; each overrides the spec's [input] table",
    )
    group.add_argument("--width", type=int, help="frame width in pixels (even)")
    group.add_argument("--height", type=int, help="frame height in pixels (even)")
    group.add_argument(
        "--raw-bits", type=int, metavar="N", help="bit depth of the dump's samples, 8..16"
    )
    group.add_argument("--pattern", help="Bayer pattern: rggb, bggr, grbg or gbrg")
    group.add_argument(
        "--packing",
        help="unpacked (default: 1 byte a pixel for 8-bit, 2 for 9..16-bit), unpacked16, "
        "mipi_raw10 or mipi_raw12 (MIPI CSI-2 packed)",
    )
    group.add_argument("--byte-order", help="little (default) or big, for 2-byte pixels")
    group.add_argument(
        "--black",
        type=_black_levels,
        metavar="LEVEL",
        help="black level in digital numbers, or R,Gr,Gb,B (default 0)",
    )
    group.add_argument(
        "--white", type=float, metavar="LEVEL", help="white level (default 2**bits - 1)"
    )
    group.add_argument("--stride", type=int, metavar="BYTES", help="bytes per row with padding")


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
        help="input: a camera RAW file (.dng, .cr2, .nef, ... via LibRaw), a headerless "
        "sensor dump (.raw, .bin: see the flags below), an image (.png, .jpg, .tif, .npy), "
        "or a folder of them (side-car files such as .json are skipped)",
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
    parser.add_argument(
        "--bits",
        type=int,
        choices=(8, 16),
        help="bit depth of PNG/TIFF output (a headerless input's bit depth is --raw-bits)",
    )
    parser.add_argument(
        "--format",
        default=default_format,
        help="output type for a folder input (default: %(default)s)",
    )
    add_headerless_arguments(parser)
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
