"""``ispengine raw2raw``: train a raw-to-raw mapping between two cameras, and map RAW files.

``ispengine raw2raw train --method NAME --data PAIRS --out SAVED [--set KEY=VALUE ...]
[--steps N] [--seconds S] [--seed S] [--checkpoint PATH] [--resume] [--quiet]``
opens a two-camera folder (``ispengine synthcam pairs``;
:func:`ispengine.synthcam.pairs.open_pairs`), fits the method between its first two
cameras (A, B) and saves it.

``ispengine raw2raw map --model SAVED.json --like B.dng INPUT OUTPUT
[--direction a_to_b|b_to_a] [--downsample M] [--overwrite]`` maps one RAW file (or
every RAW file of a folder) of the direction's source camera into the target
camera's space and writes DNGs with the target camera's metadata: the pattern,
levels and colour matrices of ``--like`` (any RAW of the target camera), the
input's capture parameters, and the white balance carried over by the mapping
(:func:`ispengine.learning.raw_to_raw.map_raw`). An existing output is never
replaced without ``--overwrite``; an input is never written.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ispengine.cli.common import add_setting_argument, registered_names, training_request
from ispengine.core.commands import Command
from ispengine.core.errors import InputError


def cmd_raw2raw_train(args: argparse.Namespace) -> int:
    from ispengine.learning.raw_to_raw import raw_to_raw_class
    from ispengine.synthcam.pairs import open_pairs

    budget, out = training_request(args)
    method = raw_to_raw_class(args.method)(**dict(args.set or []))
    pairs = open_pairs(args.data)
    if args.checkpoint:
        Path(args.checkpoint).parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    report = method.fit(
        pairs,
        budget,
        seed=args.seed,
        checkpoint=args.checkpoint,
        resume=args.resume,
        progress=not args.quiet,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    saved = method.save(out)
    loss = "n/a" if report.final_loss is None else f"{report.final_loss:.4g}"
    note = f" ({report.note})" if report.note else ""
    a, b = pairs.cameras[:2]
    print(
        f"raw2raw train ({method.name}, {a} <-> {b}): {report.steps} steps, "
        f"{time.perf_counter() - start:.1f} s, final loss {loss}{note} -> {saved}"
    )
    return 0


def _inputs(path: Path) -> list[Path]:
    from ispengine.io.raw.reader import is_raw_path

    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and is_raw_path(p))
        if not files:
            raise InputError(f"{path}: no RAW files")
        return files
    if not path.is_file():
        raise InputError(f"{path}: no such file or folder")
    return [path]


def _outputs(inputs: list[Path], source: Path, output: Path) -> list[Path]:
    if source.is_dir():
        if output.suffix:
            raise InputError(f"{output}: mapping a folder needs an output folder")
        return [output / f"{p.stem}.dng" for p in inputs]
    if output.is_dir():
        return [output / f"{source.stem}.dng"]
    if output.suffix.lower() != ".dng":
        raise InputError(f"{output}: the output must be a .dng file (or a folder)")
    return [output]


def cmd_raw2raw_map(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ispengine.io.raw.dng import write_dng
    from ispengine.io.raw.reader import read_raw
    from ispengine.learning.raw_to_raw import load_raw_to_raw, map_raw

    source, output = Path(args.input), Path(args.output)
    inputs = _inputs(source)
    outputs = _outputs(inputs, source, output)
    resolved = {p.resolve() for p in inputs}
    for path in outputs:
        if path.resolve() in resolved:
            raise InputError(f"{path}: would overwrite an input")
        if path.exists() and not args.overwrite:
            raise InputError(f"{path}: exists (give --overwrite to replace it)")
    method = load_raw_to_raw(args.model)
    method.check_downsample(args.downsample)
    like = read_raw(args.like)
    for path in outputs:
        path.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for src, dst in tqdm(
        list(zip(inputs, outputs, strict=True)), desc="raw2raw", disable=args.quiet, unit="file"
    ):
        raw = read_raw(src)
        mapped = map_raw(method, raw, args.direction, like, downsample=args.downsample)
        write_dng(dst, mapped)
    target = outputs[0] if len(outputs) == 1 else output
    print(
        f"raw2raw map ({method.name}, {args.direction}): {len(outputs)} file(s), "
        f"{time.perf_counter() - start:.1f} s -> {target}"
    )
    return 0


def _train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--method",
        required=True,
        help=f"registered raw-to-raw method (one of: {registered_names('raw_to_raw')})",
    )
    parser.add_argument(
        "--data", required=True, metavar="PAIRS", help="two-camera folder (synthcam pairs)"
    )
    parser.add_argument("--out", required=True, metavar="SAVED", help="where to save the model")
    add_setting_argument(parser)
    parser.add_argument("--steps", type=int, metavar="N", help="at most N training steps")
    parser.add_argument("--seconds", type=float, metavar="S", help="at most S seconds")
    parser.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    parser.add_argument("--checkpoint", metavar="PATH", help="save training state here")
    parser.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _downsample(text: str) -> int:
    if text not in ("1", "2", "4", "8", "16"):
        raise argparse.ArgumentTypeError(f"expected 1, 2, 4, 8 or 16, got {text!r}")
    return int(text)


def _map_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="a RAW file or a folder of RAW files (source camera)")
    parser.add_argument("output", help="a .dng file, or a folder for a folder of inputs")
    parser.add_argument("--model", required=True, help="saved raw-to-raw method (.json)")
    parser.add_argument(
        "--like", required=True, metavar="RAW", help="any RAW of the target camera (metadata)"
    )
    parser.add_argument(
        "--direction",
        choices=("a_to_b", "b_to_a"),
        default="a_to_b",
        help="a_to_b (default): the model's first camera into the second's space",
    )
    parser.add_argument(
        "--downsample", type=_downsample, help="test-time downsampling M (methods that have it)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


GROUP = Command("raw2raw", "map RAW images between two cameras")
TRAIN = Command(
    "raw2raw train",
    "fit a raw-to-raw method on a two-camera folder and save it",
    run=cmd_raw2raw_train,
    add_arguments=_train_arguments,
)
MAP = Command(
    "raw2raw map",
    "map RAW files of one camera into another camera's space (DNG)",
    run=cmd_raw2raw_map,
    add_arguments=_map_arguments,
)
