"""``ispengine train``: fit an sRGB-to-RAW or RAW-to-sRGB method on a dataset folder and save it.

``ispengine train --method NAME --data DIR --out SAVED [--set KEY=VALUE ...]
[--steps N] [--seconds S] [--seed S] [--checkpoint PATH] [--resume] [--quiet]
[--family auto|srgb2raw|raw2srgb]``
opens ``DIR`` with :func:`ispengine.learning.datasets.open_dataset` (a SynthCam folder
or a folder of RAW files), fits the method on its train split within
``Budget(steps=N, seconds=S)`` (at least one is required), saves it with
``method.save(SAVED)`` and prints one summary line. Analytic methods fit
nothing (or gather statistics, e.g. UPI's ``bank=dataset``) and are saved all
the same. ``ispengine unprocess --method NAME --weights SAVED.json`` uses the
result. ``--family`` picks the method family; ``auto`` (the default) takes the
sRGB-to-RAW method of that name when there is one, else the RAW-to-sRGB method
(``efficient_isp``, ``unet_isp``; ``ispengine export`` and pipeline stages use
the result).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ispengine.cli.common import (
    add_setting_argument,
    build_method,
    registered_names,
    training_request,
)
from ispengine.core.commands import Command
from ispengine.core.errors import InputError


def cmd_train(args: argparse.Namespace) -> int:
    from ispengine.learning.datasets import open_dataset

    budget, out = training_request(args)
    method = _method(args.method, dict(args.set or []), args.family)
    data = Path(args.data)
    if not data.is_dir():
        raise InputError(f"{data}: no such dataset folder")
    dataset = open_dataset(data)
    if args.checkpoint:
        Path(args.checkpoint).parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    report = method.fit(
        dataset,
        budget,
        seed=args.seed,
        checkpoint=args.checkpoint,
        resume=args.resume,
        progress=not args.quiet,
    )
    seconds = time.perf_counter() - start
    out.parent.mkdir(parents=True, exist_ok=True)
    saved = method.save(out)
    loss = "n/a" if report.final_loss is None else f"{report.final_loss:.4g}"
    note = f" ({report.note})" if report.note else ""
    print(
        f"train ({method.name}): {report.steps} steps, {seconds:.1f} s, final loss {loss}"
        f"{note} -> {saved}"
    )
    return 0


def _method(name: str, settings: dict, family: str):
    """The method ``name`` of ``family`` (``auto``: sRGB-to-RAW first) with ``settings``;
    an unknown name gets the sRGB-to-RAW registry's message (with its suggestion)."""
    from ispengine.core.errors import UnknownComponentError
    from ispengine.learning.raw_to_srgb import raw_to_srgb_class

    if family == "srgb2raw":
        return build_method(name, settings)
    unknown: UnknownComponentError | None = None
    if family == "auto":
        try:
            return build_method(name, settings)
        except UnknownComponentError as error:
            unknown = error
    try:
        cls = raw_to_srgb_class(name)
    except UnknownComponentError:
        if unknown is not None:
            raise unknown from None
        raise
    return cls(**settings)


def _add_arguments(train: argparse.ArgumentParser) -> None:
    train.add_argument(
        "--method",
        required=True,
        help=f"registered sRGB-to-RAW method (one of: {registered_names('srgb_to_raw')}) or "
        f"RAW-to-sRGB method (one of: {registered_names('raw_to_srgb')})",
    )
    train.add_argument(
        "--family",
        choices=("auto", "srgb2raw", "raw2srgb"),
        default="auto",
        help="method family (auto: sRGB-to-RAW when that name exists, else RAW-to-sRGB)",
    )
    train.add_argument(
        "--data",
        required=True,
        metavar="DIR",
        help="dataset folder: SynthCam (manifest.json) or RAW files; fits on its train split",
    )
    train.add_argument(
        "--out",
        required=True,
        metavar="SAVED",
        help="where to save: SAVED.json (settings) and, for weights, SAVED.safetensors",
    )
    add_setting_argument(train)
    train.add_argument("--steps", type=int, metavar="N", help="at most N training steps")
    train.add_argument("--seconds", type=float, metavar="S", help="at most S seconds of training")
    train.add_argument(
        "--seed", type=int, default=0, help="seed of initial weights and batches (default 0)"
    )
    train.add_argument("--checkpoint", metavar="PATH", help="save training state here")
    train.add_argument(
        "--resume", action="store_true", help="continue from --checkpoint when it exists"
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")


COMMAND = Command(
    "train",
    "fit an sRGB-to-RAW or RAW-to-sRGB method on a dataset and save it",
    run=cmd_train,
    add_arguments=_add_arguments,
)
