"""``ispengine synthcam generate``: a deterministic paired RAW/sRGB dataset (SynthCam)."""

from __future__ import annotations

import argparse
import time

from ispengine.cli.common import add_executor_arguments
from ispengine.core.commands import Command


def parse_size(text: str) -> tuple[int, int]:
    """``HxW`` as ``(H, W)``."""
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


def _add_generate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output folder (created if needed)")
    parser.add_argument("--n", type=int, required=True, help="number of samples (>= 1)")
    parser.add_argument("--size", type=parse_size, default=(256, 384), help="HxW (default 256x384)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--camera",
        action="append",
        help="camera id (repeatable; default: alternate over all cameras)",
    )
    add_executor_arguments(parser, "where samples are made")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


GROUP = Command("synthcam", "the SynthCam paired-data simulator")
GENERATE = Command(
    "synthcam generate",
    "write a deterministic paired RAW/sRGB dataset",
    run=cmd_synthcam_generate,
    add_arguments=_add_generate_arguments,
)
