"""``ispengine synthcam generate``: a deterministic paired RAW/sRGB dataset (SynthCam);
``ispengine synthcam pairs``: the same scenes in several cameras, for raw-to-raw mapping;
``ispengine synthcam cameras``: the simulated cameras."""

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


def parse_cameras(text: str) -> list[str]:
    """``a,b,c`` as ``["a", "b", "c"]`` (unknown ids are refused by the generator)."""
    return [name.strip() for name in text.split(",") if name.strip()]


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
            overwrite=args.overwrite,
        )
    counts = ", ".join(f"{k} {len(v)}" for k, v in manifest["splits"].items())
    print(
        f"SynthCam: {args.n} samples of {args.size[0]}x{args.size[1]} (seed {args.seed}, "
        f"cameras {', '.join(manifest['cameras'])}) in {args.out} [{counts}], "
        f"{time.perf_counter() - start:.1f} s"
    )
    return 0


def _add_generate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        required=True,
        help="output folder (created if needed; one holding a dataset needs --overwrite)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the dataset the output folder holds (once the new one is complete)",
    )
    parser.add_argument("--n", type=int, required=True, help="number of samples (>= 1)")
    parser.add_argument("--size", type=parse_size, default=(256, 384), help="HxW (default 256x384)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    from ispengine.synthcam.cameras import CAMERAS, DEFAULT_CAMERAS

    parser.add_argument(
        "--camera",
        "--cameras",
        dest="camera",
        action="extend",
        type=parse_cameras,
        metavar="IDS",
        help=(
            "camera ids, comma-separated or repeated; the samples alternate over them "
            f"(known: {', '.join(CAMERAS)}; default: {', '.join(DEFAULT_CAMERAS)})"
        ),
    )
    add_executor_arguments(parser, "where samples are made")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def parse_kinds(text: str) -> list[str]:
    """``spectral,natural`` as ``["spectral", "natural"]`` (checked by the generator)."""
    return [name.strip() for name in text.split(",") if name.strip()]


def cmd_synthcam_pairs(args: argparse.Namespace) -> int:
    from ispengine.io.executors import make_executor
    from ispengine.synthcam.pairs import generate_pairs

    start = time.perf_counter()
    with make_executor(args.executor, args.workers, args.address) as executor:
        manifest = generate_pairs(
            args.out,
            args.cameras,
            args.unpaired,
            args.anchors,
            args.test,
            args.size,
            args.seed,
            kinds=args.kinds,
            executor=None if args.executor == "serial" else executor,
            progress=not args.quiet,
        )
    print(
        f"SynthCam pairs: cameras {', '.join(manifest['cameras'])}, {args.unpaired} unpaired "
        f"each, {len(manifest['anchor'])} anchors, {len(manifest['test'])} test of "
        f"{args.size[0]}x{args.size[1]} (seed {args.seed}, kinds {', '.join(manifest['kinds'])}) "
        f"in {args.out}, {time.perf_counter() - start:.1f} s"
    )
    return 0


def _add_pairs_arguments(parser: argparse.ArgumentParser) -> None:
    from ispengine.synthcam.cameras import CAMERAS
    from ispengine.synthcam.scenes import SCENE_KINDS

    parser.add_argument("--out", required=True, help="output folder (created if needed)")
    parser.add_argument(
        "--cameras",
        "--camera",
        dest="cameras",
        action="extend",
        type=parse_cameras,
        required=True,
        metavar="IDS",
        help=(
            "two or more camera ids, comma-separated or repeated, camera A first "
            f"(known: {', '.join(CAMERAS)})"
        ),
    )
    parser.add_argument(
        "--unpaired", type=int, required=True, help="unpaired scenes per camera (>= 1)"
    )
    parser.add_argument(
        "--anchors", type=int, default=0, help="paired anchor scenes (>= 0, default 0)"
    )
    parser.add_argument("--test", type=int, required=True, help="paired test scenes (>= 1)")
    parser.add_argument("--size", type=parse_size, default=(256, 384), help="HxW (default 256x384)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--kinds",
        type=parse_kinds,
        default=["spectral"],
        metavar="KINDS",
        help=(
            f"scene kinds taken in turn by index, comma-separated (of {', '.join(SCENE_KINDS)}; "
            "default: spectral, whose pairs no 3x3 matrix maps onto each other)"
        ),
    )
    add_executor_arguments(parser, "where samples are made")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def cmd_synthcam_cameras(args: argparse.Namespace) -> int:
    from ispengine.synthcam.cameras import CAMERA_LIST, DEFAULT_CAMERAS, MeasuredSensitivity

    header = ("id", "model", "CFA", "bits", "black", "sensor mm", "focal mm", "f/", "spectra")
    rows = [header]
    for camera in CAMERA_LIST:
        optics = camera.optics
        kind = "measured" if isinstance(camera.sensitivities, MeasuredSensitivity) else "parametric"
        rows.append(
            (
                camera.name + (" *" if camera.name in DEFAULT_CAMERAS else ""),
                camera.model,
                camera.cfa_pattern.upper(),
                str(camera.bit_depth),
                str(camera.black_level),
                "{:g}x{:g}".format(*camera.sensor_size),
                "{:g}-{:g}".format(*optics.focal_range),
                "{:g}-{:g}".format(*optics.aperture_range),
                kind,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    print("* default cameras of `synthcam generate`")
    return 0


GROUP = Command("synthcam", "the SynthCam paired-data simulator")
CAMERAS_COMMAND = Command(
    "synthcam cameras",
    "list the simulated cameras (CFA, bit depth, sensor, lens range)",
    run=cmd_synthcam_cameras,
)
GENERATE = Command(
    "synthcam generate",
    "write a deterministic paired RAW/sRGB dataset",
    run=cmd_synthcam_generate,
    add_arguments=_add_generate_arguments,
)
PAIRS = Command(
    "synthcam pairs",
    "write the same scenes in several cameras' RAW spaces (raw-to-raw mapping)",
    run=cmd_synthcam_pairs,
    add_arguments=_add_pairs_arguments,
)
