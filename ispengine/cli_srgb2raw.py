"""The sRGB-to-RAW commands of the ``ispengine`` CLI: ``bench srgb2raw`` and ``unprocess``.

``ispengine bench srgb2raw --spec SPEC [--out DIR] [--quick] [--only LABEL ...] [--data FOLDER]``
runs the head-to-head protocol (:mod:`ispengine.bench.srgb2raw`).

``ispengine unprocess --method NAME [--set KEY=VALUE ...] [--weights SAVED] [--samples K]
[--seed S] [--like RAW] INPUT OUTPUT`` turns sRGB images into RAW files with any
registered method (one file per sample; ``NAME_s{k}`` when ``K > 1``).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any

from ispengine.errors import InputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")


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
    return 2 if any(m["error"] for m in document["methods"]) else 0


def _setting(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = value  # a bare word is a string
    return key.strip(), parsed


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
    from ispengine.raw.reader import read_raw

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

    from ispengine.atomic import atomic_output

    if path.suffix == ".npy":
        with atomic_output(path) as temporary, open(temporary, "wb") as handle:
            np.save(handle, np.asarray(raw.mosaic))
        return
    from ispengine.raw.dng import write_dng

    mosaic = np.asarray(raw.mosaic)
    outside = int(np.count_nonzero((mosaic < 0) | (mosaic > 1)))
    if outside:
        warnings.warn(
            f"{path.name}: {outside} RAW values outside [0, 1] clipped for the DNG", stacklevel=1
        )
        raw = raw.evolve(mosaic=np.clip(mosaic, 0.0, 1.0))
    write_dng(path, raw)


def cmd_unprocess(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ispengine.atomic import atomic_output
    from ispengine.image_files import read_capture, read_image
    from ispengine.plugins import get_registry
    from ispengine.srgb_to_raw import SrgbToRawMethod

    if args.samples < 1:
        raise InputError(f"--samples: expected >= 1, got {args.samples}")
    cls = get_registry().get("srgb_to_raw", args.method).cls
    if args.weights:
        method = SrgbToRawMethod.load(args.weights)
        if method.name != cls.name:
            raise InputError(f"{args.weights}: holds method '{method.name}', not '{args.method}'")
    else:
        method = cls(**dict(args.set or []))
    sources = _inputs(Path(args.input))
    many = Path(args.input).is_dir()
    if many:
        Path(args.output).mkdir(parents=True, exist_ok=True)
    metadata = _target_metadata(args.like)
    for source in tqdm(sources, desc="unprocess", unit="image", disable=args.quiet or not many):
        targets = _outputs(source, Path(args.output), many, args.samples)
        image, capture = read_image(source), read_capture(source)
        made = method.sample(
            image, args.samples, capture=capture, metadata=metadata, seed=args.seed
        )
        for path, result in zip(targets, made, strict=True):
            _write_raw(path, result.raw)
            with atomic_output(path.with_suffix(".json")) as temporary:
                temporary.write_text(json.dumps(result.metadata, indent=2, default=float) + "\n")
    print(f"unprocess ({method.name}): {len(sources)} image(s) x {args.samples} -> {args.output}")
    return 0


def add_commands(commands: Any) -> None:
    """Register ``bench`` and ``unprocess`` on the top-level sub-parser set."""
    bench = commands.add_parser("bench", help="head-to-head benchmarks")
    kinds = bench.add_subparsers(dest="bench_command", required=True, metavar="KIND")
    srgb2raw = kinds.add_parser("srgb2raw", help="sRGB-to-RAW methods head to head")
    srgb2raw.add_argument("--spec", required=True, help="benchmark spec (TOML)")
    srgb2raw.add_argument(
        "--out", default="bench-srgb2raw", help="output folder (default: %(default)s)"
    )
    srgb2raw.add_argument("--quick", action="store_true", help="apply the spec's [quick] overrides")
    srgb2raw.add_argument(
        "--only",
        action="append",
        metavar="LABEL",
        help="run only this method (label or name; repeatable; default: all)",
    )
    srgb2raw.add_argument(
        "--data",
        metavar="FOLDER",
        help="run on this dataset folder (RAW files or SynthCam) instead",
    )
    srgb2raw.add_argument("--quiet", action="store_true", help="no progress bars")
    srgb2raw.set_defaults(func=cmd_bench_srgb2raw)

    unprocess = commands.add_parser("unprocess", help="sRGB images to RAW with a method")
    unprocess.add_argument("--method", required=True, help="registered sRGB-to-RAW method")
    unprocess.add_argument(
        "--set",
        type=_setting,
        action="append",
        metavar="KEY=VALUE",
        help="a method setting (JSON value or a word; repeatable)",
    )
    unprocess.add_argument("--weights", help="a saved method (.json from save) to load")
    unprocess.add_argument("--samples", type=int, default=1, help="RAWs per image (default 1)")
    unprocess.add_argument("--seed", type=int, default=0, help="seed of the first sample")
    unprocess.add_argument(
        "--like",
        metavar="RAW",
        help="target camera (pattern, levels, colour data) from this RAW file",
    )
    unprocess.add_argument("--quiet", action="store_true", help="no progress bar")
    unprocess.add_argument("input", help="an sRGB image (.png, .jpg, .tif) or a folder of them")
    unprocess.add_argument("output", help="output .dng or .npy (a folder for a folder input)")
    unprocess.set_defaults(func=cmd_unprocess)
