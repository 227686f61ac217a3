"""``ispengine bench semiisp``: the SemiISP experiment (supervised vs semi-supervised).

``ispengine bench semiisp [--spec SPEC] [--out DIR] [--quick] [--quiet]`` runs
:func:`~plugins_builtin.semiisp.experiment.run_experiment` and prints each
target model's test PSNR per condition. Registered under the core's ``bench``
group through ``ispengine_register_commands``; torch is imported only when it runs.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from ispengine.core.commands import Command

#: The experiment of the paper's Tables 1-2 in kind, shipped with the plugin.
DEFAULT_SPEC = Path(__file__).with_name("specs") / "semiisp_synthcam.toml"


def cmd_bench_semiisp(args: argparse.Namespace) -> int:
    from plugins_builtin.semiisp.experiment import load_experiment, run_experiment

    spec = load_experiment(args.spec, quick=args.quick)
    command = "ispengine " + " ".join(sys.argv[1:]) if sys.argv[0].endswith("ispengine") else ""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the one-time "no VGG weights" note
        document = run_experiment(
            spec, args.out, progress=not args.quiet, command=command, quick=args.quick
        )
    for target, rows in document["results"].items():
        cells = ", ".join(f"{c} {r['psnr']:.2f}" for c, r in rows.items())
        print(f"{target}: test PSNR (dB) {cells}")
    print(f"bench semiisp: results in {args.out}/results.md")
    return 0


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--spec",
        default=str(DEFAULT_SPEC),
        help="experiment spec (TOML; default: the shipped semiisp_synthcam.toml)",
    )
    parser.add_argument(
        "--out", default="bench-semiisp", help="output folder (default: %(default)s)"
    )
    parser.add_argument("--quick", action="store_true", help="apply the spec's [quick] overrides")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


BENCH_SEMIISP = Command(
    "bench semiisp",
    "SemiISP: supervised vs semi-supervised training of target ISPs",
    run=cmd_bench_semiisp,
    add_arguments=_add_arguments,
)
