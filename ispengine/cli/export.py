"""``ispengine export``: a trained forward ISP model to ONNX.

``ispengine export MODEL OUT.onnx [--height H] [--width W] [--overwrite]`` loads a
saved RAW-to-sRGB method (``MODEL``: the ``.json`` written by ``ispengine train``),
writes its network as ONNX with dynamic batch, height and width
(:func:`ispengine.learning.onnx_export.export_onnx`) and, when onnxruntime is
installed, prints the largest difference between ONNX Runtime's output and
torch's on a random input of H × W input pixels. Methods without an exportable
network (fixed pipelines) are refused in one line; an existing output is kept
unless ``--overwrite``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ispengine.core.commands import Command
from ispengine.core.errors import InputError


def cmd_export(args: argparse.Namespace) -> int:
    from ispengine.learning.onnx_export import export_onnx
    from ispengine.learning.raw_to_srgb import load_raw_to_srgb

    out = Path(args.out)
    if out.suffix.lower() != ".onnx":
        raise InputError(f"{out}: give an output file ending in .onnx")
    if out.exists() and not args.overwrite:
        raise InputError(f"{out}: exists (add --overwrite to replace it)")
    for side, value in (("--height", args.height), ("--width", args.width)):
        if not 1 <= value <= 8192:
            raise InputError(f"{side}: expected 1 to 8192 input pixels, got {value}")
    method = load_raw_to_srgb(args.model)
    exportable = getattr(method, "export_module", None)
    if exportable is None:
        raise InputError(f"{args.model}: method '{method.name}' has no network to export")
    out.parent.mkdir(parents=True, exist_ok=True)
    difference = export_onnx(exportable(), out, height=args.height, width=args.width)
    check = (
        "onnxruntime not installed: not checked"
        if difference is None
        else f"max |ONNX - torch| = {difference:.2e}"
    )
    print(f"export ({method.name}): {out} ({check})")
    return 0


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="a saved RAW-to-sRGB method (.json from ispengine train)")
    parser.add_argument("out", help="the ONNX file to write (.onnx)")
    parser.add_argument(
        "--height", type=int, default=64, help="input height used to trace and check (64)"
    )
    parser.add_argument(
        "--width", type=int, default=64, help="input width used to trace and check (64)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")


COMMAND = Command(
    "export",
    "write a trained forward ISP network as ONNX (checked against torch)",
    run=cmd_export,
    add_arguments=_add_arguments,
)
