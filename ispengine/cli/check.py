"""``ispengine check SPEC``: validate a pipeline spec and show its inverse."""

from __future__ import annotations

import argparse

from ispengine.cli.common import load_pipeline, spec_argument
from ispengine.core.commands import Command
from ispengine.core.errors import ISPEngineError


def cmd_check(args: argparse.Namespace) -> int:
    pipeline = load_pipeline(args.spec)
    print(f"OK {pipeline.source}: {pipeline!r}")
    try:
        print(f"inverse: {pipeline.inverse()!r}")
    except ISPEngineError as error:
        print(f"inverse: not available ({error})")
    return 0


COMMAND = Command(
    "check", "validate a pipeline spec (TOML)", run=cmd_check, add_arguments=spec_argument
)
