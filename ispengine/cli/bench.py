"""``ispengine bench``: head-to-head benchmarks; the core's member is ``srgb2raw``.

``ispengine bench srgb2raw --spec SPEC [--out DIR] [--quick] [--only LABEL ...] [--data FOLDER]``
runs the head-to-head protocol (:mod:`ispengine.bench.srgb2raw`). Plugins add
their own benches to the group (``bench semiisp`` comes from the semiisp plugin).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ispengine.cli.common import EXIT_USAGE
from ispengine.core.commands import Command


def cmd_bench_srgb2raw(args: argparse.Namespace) -> int:
    from ispengine.bench.spec import load_spec
    from ispengine.bench.srgb2raw import run_benchmark

    spec = load_spec(args.spec, quick=args.quick)
    if args.data:
        import attrs

        spec = attrs.evolve(spec, folder=Path(args.data), synthcam=None)
    only = args.only or None
    command = "ispengine " + " ".join(sys.argv[1:]) if sys.argv[0].endswith("ispengine") else None
    document = run_benchmark(
        spec, args.out, quick=args.quick, only=only, progress=not args.quiet, command=command
    )
    from ispengine.bench.report import markdown

    print(markdown(document))
    print(f"results: {Path(args.out) / 'results.md'}, results.json, psnr_bar.png, error_maps.png")
    return EXIT_USAGE if any(m["error"] for m in document["methods"]) else 0


def _add_srgb2raw_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--spec", required=True, help="benchmark spec (TOML)")
    parser.add_argument(
        "--out", default="bench-srgb2raw", help="output folder (default: %(default)s)"
    )
    parser.add_argument("--quick", action="store_true", help="apply the spec's [quick] overrides")
    parser.add_argument(
        "--only",
        action="append",
        metavar="LABEL",
        help="run only this method (label or name; repeatable; default: all)",
    )
    parser.add_argument(
        "--data",
        metavar="FOLDER",
        help="run on this dataset folder (RAW files or SynthCam) instead",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


GROUP = Command("bench", "head-to-head benchmarks")
SRGB2RAW = Command(
    "bench srgb2raw",
    "sRGB-to-RAW methods head to head",
    run=cmd_bench_srgb2raw,
    add_arguments=_add_srgb2raw_arguments,
)
