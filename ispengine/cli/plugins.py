"""``ispengine plugins [--json]``: installed plugins, their distributions, hooks and failures."""

from __future__ import annotations

import argparse
import json

from ispengine.cli.common import print_table
from ispengine.core.commands import Command


def cmd_plugins(args: argparse.Namespace) -> int:
    from ispengine.core.plugins import get_plugin_host

    host = get_plugin_host()
    infos = host.plugins()
    if args.json:
        data = {
            "plugins": [
                {
                    "name": i.name,
                    "distribution": i.distribution,
                    "version": i.version,
                    "hooks": list(i.hooks),
                }
                for i in infos
            ],
            "failures": [
                {"name": f.name, "distribution": f.distribution, "error": f.error}
                for f in host.failures
            ],
        }
        print(json.dumps(data, indent=2))
        return 0
    rows = [
        [i.name, f"{i.distribution or '-'} {i.version or ''}".strip(), ", ".join(i.hooks)]
        for i in infos
    ]
    print_table(rows, ["PLUGIN", "DISTRIBUTION", "HOOKS"])
    for failure in host.failures:
        print(f"FAILED {failure.name} ({failure.distribution or '-'}): {failure.error}")
    return 0


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")


COMMAND = Command(
    "plugins",
    "installed plugins, their distributions and hooks",
    run=cmd_plugins,
    add_arguments=_add_arguments,
)
