"""``ispengine invert SPEC INPUT OUTPUT``: run a pipeline's automatic inverse."""

from __future__ import annotations

import argparse

from ispengine.cli.run import add_transform_arguments, transform
from ispengine.core.commands import Command


def cmd_invert(args: argparse.Namespace) -> int:
    return transform(args, invert=True)


COMMAND = Command(
    "invert",
    "run a pipeline's inverse on an image",
    run=cmd_invert,
    add_arguments=lambda parser: add_transform_arguments(parser, "dng"),
)
