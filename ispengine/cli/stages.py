"""``ispengine stages [--json]``: every registered component, its kind, layout,
inverse kinds and settings."""

from __future__ import annotations

import argparse
import json

from ispengine.cli.common import print_table
from ispengine.commands import Command


def _stage_rows(registry) -> list[dict]:
    from ispengine.registry import KINDS

    rows = []
    for kind in KINDS:
        for record in registry.records(kind):
            row = {
                "name": record.name,
                "kind": kind,
                "plugin": record.plugin,
                "distribution": record.distribution,
                "version": record.version,
            }
            cls = record.cls
            if kind in ("stage", "filter", "inverse_stage"):
                row["layout"] = f"{cls.input_layout}->{cls.output_layout}"
                row["options"] = [
                    {"name": o.name, "choices": list(o.choices), "default": o.default}
                    for o in cls.options
                ]
                row["params"] = [
                    {
                        "name": s.name,
                        "shape": list(s.shape),
                        "range": [s.low, s.high],
                        "default": None if s.default is None else s.default.tolist(),
                    }
                    for s in cls.params
                ]
            if kind in ("srgb_to_raw", "param_predictor"):
                row["summary"] = cls.summary
                row["settings"] = [
                    {
                        "name": t.name,
                        "kind": t.kind,
                        "range": t.range_text(),
                        "default": t.default,
                        "description": t.description,
                    }
                    for t in cls.settings
                ]
            if kind == "stage":
                row["inverse"] = registry.inverse_kinds(record.name)
            if kind == "inverse_stage":
                row["inverts"] = record.inverts
                row["method"] = record.method
            rows.append(row)
    return rows


def cmd_stages(args: argparse.Namespace) -> int:
    from ispengine.plugins import get_registry

    rows = _stage_rows(get_registry())
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = []
    for row in rows:
        if row["kind"] == "inverse_stage":
            inverse = f"inverts {row['inverts']} ({row['method']})"
        else:
            inverse = ", ".join(row.get("inverse", [])) or "-"
        params = ", ".join(
            [f"{p['name']}[{p['range'][0]:g},{p['range'][1]:g}]" for p in row.get("params", [])]
            + [f"{o['name']}={'|'.join(o['choices'])}" for o in row.get("options", [])]
            + [f"{t['name']}={t['range']}" for t in row.get("settings", [])]
        )
        table.append(
            [
                row["name"],
                row["kind"],
                row.get("layout", "-"),
                inverse,
                row["plugin"],
                params or "-",
            ]
        )
    print_table(table, ["NAME", "KIND", "LAYOUT", "INVERSE", "PLUGIN", "PARAMS"])
    return 0


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")


COMMAND = Command(
    "stages",
    "registered components with kinds and inverses",
    run=cmd_stages,
    add_arguments=_add_arguments,
)
