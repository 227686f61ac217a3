"""Turning an author's released checkpoint into a saved method of the engine.

``ispengine <method> import OUT CHECKPOINT`` commands of plugins call
:func:`import_checkpoint`: the checkpoint's state dict (a flat file, or one
nested by a training framework, :func:`~ispengine.learning.weights.load_checkpoint_state`)
is loaded into a method built with the given settings (its ``load_state``
checks every name, shape and value) and saved as ``OUT.json`` + weights, usable
wherever a trained model is (``--weights OUT.json``). Nothing is written when
the checkpoint does not fit, and an existing model is kept unless ``overwrite``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ispengine.core.errors import InputError


def import_checkpoint(
    method: Any, checkpoint: str | Path, out: str | Path, *, overwrite: bool = False
) -> Path:
    """Load ``checkpoint`` into ``method`` and save it at ``out``; returns the settings file."""
    from ispengine.learning.weights import load_checkpoint_state

    settings_file = Path(out).with_suffix(".json")
    if settings_file.exists() and not overwrite:
        raise InputError(f"{settings_file}: exists (give --overwrite)")
    state = load_checkpoint_state(checkpoint)
    try:
        method.load_state(state)
    except InputError as error:
        raise InputError(f"{checkpoint}: {error}") from None
    return method.save(out)


def add_import_arguments(
    parser: argparse.ArgumentParser, *, checkpoint_help: str | None = None
) -> None:
    """``OUT CHECKPOINT [--overwrite]``, the arguments every import command shares
    (``checkpoint_help`` replaces the help of ``CHECKPOINT``)."""
    parser.add_argument("out", help="the model to write (OUT.json + OUT.safetensors)")
    parser.add_argument(
        "checkpoint",
        help=checkpoint_help
        or "the authors' checkpoint (.pth/.pt/.ckpt of tensors, or .safetensors)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing model")


def import_command(
    build: Callable[[argparse.Namespace], Any],
) -> Callable[[argparse.Namespace], int]:
    """The ``run`` of an import command: ``build(args)`` makes the method to load into."""

    def run(args: argparse.Namespace) -> int:
        saved = import_checkpoint(build(args), args.checkpoint, args.out, overwrite=args.overwrite)
        print(f"saved {saved}")
        return 0

    return run
