"""``ispengine stages [--json]``: every registered component, its kind, layout,
inverse kinds and settings."""

from __future__ import annotations

import argparse
import json

from ispengine.cli.common import print_table
from ispengine.core.commands import Command
from ispengine.core.components import COMPONENT_TABLE_HEADER, component_rows, component_table
from ispengine.core.plugins import get_registry


def cmd_stages(args: argparse.Namespace) -> int:
    rows = component_rows(get_registry())
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print_table(component_table(rows), COMPONENT_TABLE_HEADER)
    return 0


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")


COMMAND = Command(
    "stages",
    "registered components with kinds and inverses",
    run=cmd_stages,
    add_arguments=_add_arguments,
)
