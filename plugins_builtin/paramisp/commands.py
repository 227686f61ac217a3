"""``ispengine paramisp hdr`` and ``ispengine paramisp transfer``: the applications as commands.

::

    ispengine paramisp hdr IN OUT --inverse MODEL --forward MODEL_OR_SPEC [--like RAW]
        [--gains 0.1,1.4,2.7,4.0] [--capture iso=400,exposure_time=0.01,...]
    ispengine paramisp transfer IN OUT --inverse MODEL_A --forward MODEL_B
        --like-a RAW_A --like-b RAW_B [--white-balance a|b]

``--inverse`` is a saved sRGB-to-RAW method (``.json`` or weights file) or the
name of one that needs no fitting (``upi``); ``--forward`` a saved RAW-to-sRGB
method or a pipeline spec (a file or a shipped name, e.g. ``camera_default``).
The camera (pattern, levels, white balance, colour matrices) comes from a RAW
file (``--like``; a SynthCam sample's ``raw/*.dng`` will do). The capture
parameters are ``--capture``'s, else the image's EXIF, else the reference
RAW's. See :mod:`plugins_builtin.paramisp.applications` for what is computed.

IN is an image (PNG, JPEG, TIFF) or a folder of them; OUT is then an image
file or a folder (same names, ``--format``'s suffix). Nothing is overwritten
without ``--overwrite``. In a folder, a file that fails is reported on one
line and the others go on; the command then exits with status 2. torch is
imported only by a model that needs it, when the command runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ispengine.core.commands import Command
from ispengine.core.errors import InputError, ISPEngineError, ParamError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
EXIT_USAGE = 2

Process = Callable[[np.ndarray, Any], np.ndarray]


def _capture_for(path: Path, args: argparse.Namespace, fallback: Any) -> Any:
    from ispengine.io.image_files import read_capture
    from plugins_builtin.paramisp.applications import parse_capture

    given = parse_capture(args.capture) if args.capture else None
    own = read_capture(path).merged(fallback)
    return own if given is None else given.merged(own)


def _pairs(args: argparse.Namespace) -> tuple[list[tuple[Path, Path]], bool]:
    """(input, output) pairs and whether IN is a folder; one-line errors for bad paths."""
    from ispengine.io.image_files import check_output_path

    source, target = Path(args.input), Path(args.output)
    if source.is_dir():
        suffix = args.format if args.format.startswith(".") else f".{args.format}"
        check_output_path(f"x{suffix}")
        if target.exists() and not target.is_dir():
            raise InputError(f"{target}: exists and is not a folder (IN is a folder)")
        files = sorted(
            p for p in source.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if not files:
            raise InputError(f"{source}: no images ({', '.join(IMAGE_SUFFIXES)})")
        return [(p, target / f"{p.stem}{suffix}") for p in files], True
    if not source.is_file():
        raise InputError(f"{source}: no such file or folder")
    if source.suffix.lower() not in IMAGE_SUFFIXES:
        raise InputError(f"{source}: not an sRGB image ({', '.join(IMAGE_SUFFIXES)})")
    check_output_path(target)
    if target.exists() and not args.overwrite:
        raise InputError(f"{target}: exists (use --overwrite to replace it)")
    return [(source, target)], False


def _one(source: Path, target: Path, args: argparse.Namespace, process: Process, like: Any):
    from ispengine.io.image_files import read_image, write_image

    if target.exists() and not args.overwrite:
        raise InputError(f"{target}: exists (use --overwrite to replace it)")
    image = read_image(source)
    capture = _capture_for(source, args, like)
    write_image(target, process(image, capture), capture=capture, bits=args.bits)


def run_batch(args: argparse.Namespace, name: str, process: Process, like_capture: Any) -> int:
    """Run ``process(image, capture)`` on IN (a file or a folder), writing OUT."""
    from tqdm import tqdm

    pairs, folder = _pairs(args)
    if not folder:
        _one(*pairs[0], args, process, like_capture)
        print(f"{name}: {pairs[0][0]} -> {pairs[0][1]}")
        return 0
    Path(args.output).mkdir(parents=True, exist_ok=True)
    failures = []
    for source, target in tqdm(pairs, desc=name, unit="image", file=sys.stderr, disable=args.quiet):
        try:
            _one(source, target, args, process, like_capture)
        except (ISPEngineError, OSError) as error:
            message = str(error)
            failures.append(message if str(source) in message else f"{source}: {message}")
    for failure in failures:
        print(f"ispengine: error: {failure}", file=sys.stderr)
    print(f"{name}: {len(pairs) - len(failures)} of {len(pairs)} image(s) -> {args.output}")
    if failures:
        print(
            f"ispengine: error: {len(failures)} of {len(pairs)} images failed "
            "(nothing written for them)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    return 0


def parse_gains(text: str | tuple[float, ...]) -> tuple[float, ...]:
    """``0.1,1.4,2.7,4.0`` as checked gains (:func:`~.applications.check_gains`)."""
    from plugins_builtin.paramisp.applications import check_gains

    if isinstance(text, tuple):
        return check_gains(text)
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ParamError(
            key="gains", message=f"expected numbers, e.g. 0.1,1.4,2.7,4.0, got {text!r}"
        ) from None
    return check_gains(values)


def cmd_hdr(args: argparse.Namespace) -> int:
    from plugins_builtin.paramisp import applications as apps

    _pairs(args)  # path errors before loading any model
    gains = parse_gains(args.gains)
    inverse = apps.load_inverse(args.inverse)
    forward = apps.load_forward(args.forward)
    metadata = apps.camera_metadata(args.like)

    def process(image: np.ndarray, capture: Any) -> np.ndarray:
        result = apps.hdr_from_srgb(
            image,
            inverse,
            forward,
            metadata=metadata,
            capture=capture,
            gains=gains,
            clip=args.clip,
            seed=args.seed,
        )
        return result.image

    return run_batch(args, "paramisp hdr", process, apps.capture_of(args.like))


def cmd_transfer(args: argparse.Namespace) -> int:
    from plugins_builtin.paramisp import applications as apps

    _pairs(args)
    inverse = apps.load_inverse(args.inverse)
    forward = apps.load_forward(args.forward)
    metadata_a = apps.camera_metadata(args.like_a)
    metadata_b = apps.camera_metadata(args.like_b)

    def process(image: np.ndarray, capture: Any) -> np.ndarray:
        result = apps.transfer(
            image,
            inverse,
            forward,
            metadata_a=metadata_a,
            metadata_b=metadata_b,
            capture=capture,
            white_balance=args.white_balance,
            clip=args.clip,
            seed=args.seed,
        )
        return result.image

    return run_batch(args, "paramisp transfer", process, apps.capture_of(args.like_a))


def _add_common(parser: argparse.ArgumentParser, inverse: str, forward: str) -> None:
    parser.add_argument("input", help="an sRGB image (.png, .jpg, .tif) or a folder of them")
    parser.add_argument("output", help="the output image (.png, .tif, ...), or a folder")
    parser.add_argument(
        "--inverse",
        required=True,
        metavar="MODEL",
        help=f"{inverse}: a saved sRGB-to-RAW method (.json) or a method that needs no "
        "fitting (upi)",
    )
    parser.add_argument(
        "--forward",
        required=True,
        metavar="MODEL_OR_SPEC",
        help=f"{forward}: a saved RAW-to-sRGB method (.json) or a pipeline spec "
        "(file or shipped name, e.g. camera_default)",
    )
    parser.add_argument(
        "--capture",
        metavar="KEY=VALUE,...",
        help="capture parameters (iso, exposure_time, f_number, focal_length); "
        "default: the image's EXIF, then the reference RAW's",
    )
    parser.add_argument(
        "--clip",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="clip the RAW to [0, 1] before the forward ISP (default: only for a learned "
        "forward method)",
    )
    parser.add_argument("--seed", type=int, default=0, help="the inverse's seed (default 0)")
    parser.add_argument(
        "--bits", type=int, choices=(8, 16), default=16, help="PNG/TIFF bit depth (default 16)"
    )
    parser.add_argument(
        "--format", default="png", help="output type for a folder input (default: %(default)s)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_hdr_arguments(parser: argparse.ArgumentParser) -> None:
    from plugins_builtin.paramisp.applications import DEFAULT_GAINS

    _add_common(parser, "sRGB to RAW", "RAW to sRGB")
    parser.add_argument(
        "--like",
        metavar="RAW",
        help="the camera for the inverse (pattern, levels, white balance, colour matrix) "
        "from this RAW file; default: a 16-bit RGGB sensor",
    )
    parser.add_argument(
        "--gains",
        default=DEFAULT_GAINS,
        help="digital gains of the virtual exposures (default: "
        f"{','.join(f'{g:g}' for g in DEFAULT_GAINS)})",
    )


def _add_transfer_arguments(parser: argparse.ArgumentParser) -> None:
    _add_common(parser, "camera A's sRGB to RAW", "camera B's RAW to sRGB")
    parser.add_argument("--like-a", required=True, metavar="RAW_A", help="a RAW of camera A")
    parser.add_argument(
        "--like-b",
        required=True,
        metavar="RAW_B",
        help="a RAW of camera B: its pattern, levels and colour matrices replace A's",
    )
    parser.add_argument(
        "--white-balance",
        choices=("a", "b"),
        default="a",
        help="keep the image's white balance (a, default) or take B's reference RAW's (b)",
    )


def cmd_import(args: argparse.Namespace) -> int:
    from plugins_builtin.paramisp.official import import_official

    if not args.overwrite and Path(args.out).with_suffix(".json").exists():
        raise InputError(f"{Path(args.out).with_suffix('.json')}: exists (give --overwrite)")
    saved = import_official(args.out, forward=args.forward, inverse=args.inverse)
    print(f"saved {saved}")
    return 0


def _add_import_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", help="the model to write (OUT.json + OUT.safetensors)")
    parser.add_argument("--forward", help="the authors' checkpoint of the forward (RAW->sRGB) net")
    parser.add_argument("--inverse", help="the authors' checkpoint of the inverse (sRGB->RAW) net")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing model")


GROUP = Command(
    "paramisp",
    "ParamISP's applications (HDR from one image, camera transfer) and its released weights",
)
IMPORT = Command(
    "paramisp import",
    "save the authors' released checkpoints as a paramisp model (published config, code mask)",
    run=cmd_import,
    add_arguments=_add_import_arguments,
)
HDR = Command(
    "paramisp hdr",
    "HDR from one sRGB image: inverse ISP, digital gains, forward ISP, exposure fusion",
    run=cmd_hdr,
    add_arguments=_add_hdr_arguments,
)
TRANSFER = Command(
    "paramisp transfer",
    "camera-to-camera transfer: inverse ISP of camera A, forward ISP of camera B",
    run=cmd_transfer,
    add_arguments=_add_transfer_arguments,
)
COMMANDS = (GROUP, HDR, TRANSFER, IMPORT)
