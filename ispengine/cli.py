"""The ``ispengine`` command line.

Every failure a user can cause prints one line, ``ispengine: error: ...``, and
exits with status 2; nothing is written on failure. ``ISPENGINE_DEBUG=1``
shows tracebacks of unexpected errors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

from ispengine.cli_srgb2raw import add_commands as add_srgb2raw_commands
from ispengine.cli_train import add_commands as add_train_commands
from ispengine.core.errors import ISPEngineError

EXIT_USAGE = 2
EXIT_INTERNAL = 1


def _print_table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = (str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())


def cmd_plugins(args: argparse.Namespace) -> int:
    from ispengine.core.plugins import get_plugin_host

    host = get_plugin_host()
    infos = host.plugins()
    if args.json:
        data = {
            "plugins": [
                {
                    "name": i.name,
                    "distribution": i.distribution,
                    "version": i.version,
                    "hooks": list(i.hooks),
                }
                for i in infos
            ],
            "failures": [
                {"name": f.name, "distribution": f.distribution, "error": f.error}
                for f in host.failures
            ],
        }
        print(json.dumps(data, indent=2))
        return 0
    rows = [
        [i.name, f"{i.distribution or '-'} {i.version or ''}".strip(), ", ".join(i.hooks)]
        for i in infos
    ]
    _print_table(rows, ["PLUGIN", "DISTRIBUTION", "HOOKS"])
    for failure in host.failures:
        print(f"FAILED {failure.name} ({failure.distribution or '-'}): {failure.error}")
    return 0


def cmd_stages(args: argparse.Namespace) -> int:
    from ispengine.core.plugins import get_registry
    from ispengine.core.settings import COMPONENT_TABLE_HEADER, component_rows, component_table

    rows = component_rows(get_registry())
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    _print_table(component_table(rows), COMPONENT_TABLE_HEADER)
    return 0


def _load_pipeline(spec: str):
    from ispengine.core.pipeline import Pipeline
    from ispengine.specs import resolve_spec

    return Pipeline.from_toml(resolve_spec(spec))


def cmd_check(args: argparse.Namespace) -> int:
    pipeline = _load_pipeline(args.spec)
    print(f"OK {pipeline.source}: {pipeline!r}")
    try:
        print(f"inverse: {pipeline.inverse()!r}")
    except ISPEngineError as error:
        print(f"inverse: not available ({error})")
    return 0


def _transform(args: argparse.Namespace, *, invert: bool) -> int:
    from ispengine.io.convert import batch_jobs, check_target, convert_file, convert_job

    source, target = Path(args.input), Path(args.output)
    pipeline = _load_pipeline(args.spec)
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


def cmd_run(args: argparse.Namespace) -> int:
    return _transform(args, invert=False)


def cmd_invert(args: argparse.Namespace) -> int:
    return _transform(args, invert=True)


def _size(text: str) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW, e.g. 256x384, got {text!r}") from None
    return height, width


def cmd_synthcam_generate(args: argparse.Namespace) -> int:
    from ispengine.io.executors import make_executor
    from ispengine.synthcam import generate_dataset

    start = time.perf_counter()
    with make_executor(args.executor, args.workers, args.address) as executor:
        manifest = generate_dataset(
            args.out,
            args.n,
            args.size,
            args.seed,
            cameras=args.camera,
            executor=None if args.executor == "serial" else executor,
            progress=not args.quiet,
        )
    counts = ", ".join(f"{k} {len(v)}" for k, v in manifest["splits"].items())
    print(
        f"SynthCam: {args.n} samples of {args.size[0]}x{args.size[1]} (seed {args.seed}, "
        f"cameras {', '.join(manifest['cameras'])}) in {args.out} [{counts}], "
        f"{time.perf_counter() - start:.1f} s"
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from ispengine.demo import run_demo

    return run_demo(Path(args.out))


def add_executor_arguments(
    parser: argparse.ArgumentParser, what: str, default: str = "process"
) -> None:
    """``--executor``, ``--workers`` and ``--address`` (see :mod:`ispengine.io.executors`)."""
    from ispengine.io.executors import EXECUTORS

    parser.add_argument(
        "--executor",
        default=default,
        choices=EXECUTORS,
        help=f"{what} (default: %(default)s; process: a local process pool; dask: a cluster)",
    )
    parser.add_argument("--workers", type=int, help="worker processes (default: CPU count)")
    parser.add_argument("--address", help="Dask scheduler address (default: a local cluster)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ispengine", description="A plugin-based, extensible camera ISP engine."
    )
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    plugins = commands.add_parser(
        "plugins", help="installed plugins, their distributions and hooks"
    )
    plugins.add_argument("--json", action="store_true", help="print JSON")
    plugins.set_defaults(func=cmd_plugins)

    stages = commands.add_parser("stages", help="registered components with kinds and inverses")
    stages.add_argument("--json", action="store_true", help="print JSON")
    stages.set_defaults(func=cmd_stages)

    check = commands.add_parser("check", help="validate a pipeline spec (TOML)")
    check.add_argument("spec", help="spec file, or the name of a shipped spec")
    check.set_defaults(func=cmd_check)

    for name, func, text in (
        ("run", cmd_run, "run a pipeline on an image"),
        ("invert", cmd_invert, "run a pipeline's inverse on an image"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("spec", help="spec file, or the name of a shipped spec")
        sub.add_argument(
            "input",
            help="input: a camera RAW file (.dng, .cr2, .nef, ... via LibRaw), an image "
            "(.png, .jpg, .tif, .npy), or a folder of them",
        )
        sub.add_argument(
            "output",
            help="output: .png/.tif (16-bit unless --bits 8), .jpg, .npy (lossless) or .dng "
            "(RAW mosaic); a folder when the input is a folder",
        )
        sub.add_argument(
            "--like",
            metavar="RAW",
            help="take from_metadata values (pattern, levels, white balance, colour matrix) "
            "from this RAW file when the input has none",
        )
        sub.add_argument("--bits", type=int, choices=(8, 16), help="bit depth of PNG/TIFF output")
        sub.add_argument(
            "--format",
            default="png" if name == "run" else "dng",
            help="output type for a folder input (default: %(default)s)",
        )
        add_executor_arguments(sub, "how a folder is processed")
        sub.set_defaults(func=func)

    synthcam = commands.add_parser("synthcam", help="the SynthCam paired-data simulator")
    synthcam_commands = synthcam.add_subparsers(dest="synthcam_command", required=True)
    generate = synthcam_commands.add_parser(
        "generate", help="write a deterministic paired RAW/sRGB dataset"
    )
    generate.add_argument("--out", required=True, help="output folder (created if needed)")
    generate.add_argument("--n", type=int, required=True, help="number of samples (>= 1)")
    generate.add_argument("--size", type=_size, default=(256, 384), help="HxW (default 256x384)")
    generate.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    generate.add_argument(
        "--camera",
        action="append",
        help="camera id (repeatable; default: alternate over all cameras)",
    )
    add_executor_arguments(generate, "where samples are made")
    generate.add_argument("--quiet", action="store_true", help="no progress bar")
    generate.set_defaults(func=cmd_synthcam_generate)

    add_srgb2raw_commands(commands)
    add_train_commands(commands)

    demo = commands.add_parser("demo", help="run the shipped function ISP on a built-in image")
    demo.add_argument(
        "--out", default="ispengine-demo", help="output folder (default: %(default)s)"
    )
    demo.set_defaults(func=cmd_demo)
    return parser


def _version() -> str:
    from ispengine import __version__

    return f"ispengine {__version__}"


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"ispengine: warning: {message}\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    previous_format = warnings.formatwarning
    warnings.formatwarning = _one_line_warning
    try:
        return args.func(args)
    except ISPEngineError as error:
        print(f"ispengine: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        print(f"ispengine: error: {where}{error.strerror or error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("ispengine: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # last resort: one line, never a traceback, unless debugging
        if os.environ.get("ISPENGINE_DEBUG"):
            raise
        print(
            f"ispengine: internal error: {type(error).__name__}: {error} "
            "(set ISPENGINE_DEBUG=1 for a traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    finally:
        warnings.formatwarning = previous_format


if __name__ == "__main__":
    sys.exit(main())
