"""``ispengine bench``: head-to-head benchmarks; the core's members are ``srgb2raw``,
``raw2srgb`` and ``raw2raw``.

``ispengine bench srgb2raw [--spec SPEC] [--out DIR] [--quick] [--only LABEL ...] [--data FOLDER]
[--seed N]``
runs the sRGB-to-RAW head-to-head protocol (:mod:`ispengine.bench.srgb2raw`);
``ispengine bench raw2srgb`` (same options) its forward twin
(:mod:`ispengine.bench.raw2srgb`); ``ispengine bench raw2raw`` maps RAW between two
cameras (:mod:`ispengine.bench.raw2raw`, its own data format). Plugins add their own
benches to the group (``bench semiisp`` comes from the semiisp plugin).
"""

from __future__ import annotations

import argparse
import importlib
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

from ispengine.cli.common import EXIT_USAGE
from ispengine.core.commands import Command


def _bench(module: str, markdown: str) -> Callable[[argparse.Namespace], int]:
    """The command running ``module.run_benchmark`` and printing ``markdown``'s table."""

    def run(args: argparse.Namespace) -> int:
        from ispengine.bench import spec as shared_spec

        bench = importlib.import_module(module)
        # A bench with its own data format brings its own spec reader (bench raw2raw).
        load_spec = getattr(bench, "load_spec", shared_spec.load_spec)
        spec = load_spec(resolve_bench_spec(args.spec), quick=args.quick)
        if args.data:
            import attrs

            generated = getattr(bench, "GENERATED_DATA", "synthcam")
            spec = attrs.evolve(spec, folder=Path(args.data), **{generated: None})
        if args.seed is not None:
            import attrs

            spec = attrs.evolve(spec, protocol=attrs.evolve(spec.protocol, seed=args.seed))
        only = args.only or None
        # The command line, when this process is the ispengine command (its script or
        # ``python -m ispengine.cli``), not another program calling main().
        ours = sys.argv[0].endswith(("ispengine", str(Path("ispengine", "cli", "__main__.py"))))
        command = shlex.join(["ispengine", *sys.argv[1:]]) if ours else None
        document = bench.run_benchmark(
            spec, args.out, quick=args.quick, only=only, progress=not args.quiet, command=command
        )
        print(importlib.import_module(markdown).markdown(document))
        print(
            f"results: {Path(args.out) / 'results.md'}, results.json, psnr_bar.png, error_maps.png"
        )
        return EXIT_USAGE if any(m["error"] for m in document["methods"]) else 0

    return run


def _seed(text: str) -> int:
    """A protocol seed from the command line: an integer ≥ 0."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def shipped_bench_specs() -> dict[str, Path]:
    """The benchmark specs shipped in ``ispengine/bench/specs/``, by name (file stem)."""
    from importlib import resources

    from ispengine.specs import specs_in

    return specs_in(resources.files("ispengine.bench") / "specs")


def resolve_bench_spec(name_or_path: str | Path) -> Path:
    """A benchmark spec: an existing file, else a shipped spec of that name (with or
    without ``.toml``), else the path as given (its reader reports it missing)."""
    from ispengine.specs import resolve_named

    return resolve_named(name_or_path, shipped_bench_specs())


def _arguments(default_out: str, default_spec: str) -> Callable[[argparse.ArgumentParser], None]:
    def add(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--spec",
            default=default_spec,
            help="benchmark spec: a TOML file or the name of a shipped one (default: "
            f"%(default)s; shipped: {', '.join(sorted(shipped_bench_specs()))})",
        )
        parser.add_argument(
            "--out", default=default_out, help="output folder (default: %(default)s)"
        )
        parser.add_argument(
            "--quick", action="store_true", help="apply the spec's [quick] overrides"
        )
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
        parser.add_argument(
            "--seed",
            type=_seed,
            metavar="N",
            help="replace the protocol's seed (fit and conversion seeds, not the data's): "
            "repeat a run with N = 1, 2, ... to see how far training alone moves a figure",
        )
        parser.add_argument("--quiet", action="store_true", help="no progress bars")

    return add


cmd_bench_srgb2raw = _bench("ispengine.bench.srgb2raw", "ispengine.bench.report")
cmd_bench_raw2srgb = _bench("ispengine.bench.raw2srgb", "ispengine.bench.raw2srgb")
cmd_bench_raw2raw = _bench("ispengine.bench.raw2raw", "ispengine.bench.raw2raw")

GROUP = Command("bench", "head-to-head benchmarks")
SRGB2RAW = Command(
    "bench srgb2raw",
    "sRGB-to-RAW methods head to head",
    run=cmd_bench_srgb2raw,
    add_arguments=_arguments("bench-srgb2raw", "srgb2raw_synthcam"),
)
RAW2SRGB = Command(
    "bench raw2srgb",
    "RAW-to-sRGB methods (forward ISPs) head to head",
    run=cmd_bench_raw2srgb,
    add_arguments=_arguments("bench-raw2srgb", "raw2srgb_synthcam"),
)
RAW2RAW = Command(
    "bench raw2raw",
    "raw-to-raw methods (camera A's RAW into camera B's space) head to head",
    run=cmd_bench_raw2raw,
    add_arguments=_arguments("bench-raw2raw", "raw2raw_synthcam"),
)
