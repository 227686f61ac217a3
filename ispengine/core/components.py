"""Listings of registered components (``ispengine stages``): every component's
settings in one format, from its declarations (:mod:`ispengine.core.settings`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ispengine.core.registry import KINDS, Registry
from ispengine.core.settings import SettingBase, describe, settings_text

# The declaration groups of each kind of registered component, in display order.
SETTING_GROUPS: dict[str, tuple[str, ...]] = {
    "stage": ("params", "options"),
    "filter": ("params", "options"),
    "inverse_stage": ("params", "options", "inverse_settings"),
    "param_predictor": ("settings",),
    "srgb_to_raw": ("settings",),
    "raw_to_srgb": ("settings",),
    "raw_to_raw": ("settings",),
}


def component_settings(kind: str, cls: type) -> list[tuple[str, tuple[SettingBase, ...]]]:
    """``(group, declarations)`` of a registered component class of ``kind``
    (:data:`SETTING_GROUPS`); groups without declarations are left out."""
    groups = ((group, getattr(cls, group)) for group in SETTING_GROUPS.get(kind, ()))
    return [(group, tuple(declared)) for group, declared in groups if declared]


def component_rows(registry: Registry) -> list[dict[str, Any]]:
    """One JSON-ready record per registered component (``ispengine stages --json``):
    name, kind, plugin, distribution, version, ``settings`` (:func:`describe`, each
    tagged with its group), and per kind its layout, inverse kinds, what it inverts,
    or its summary."""
    rows = []
    for kind in KINDS:
        for record in registry.records(kind):
            cls = record.cls
            row: dict[str, Any] = {
                "name": record.name,
                "kind": kind,
                "plugin": record.plugin,
                "distribution": record.distribution,
                "version": record.version,
            }
            if kind in ("stage", "filter", "inverse_stage"):
                row["layout"] = f"{cls.input_layout}->{cls.output_layout}"
            if kind in ("srgb_to_raw", "raw_to_srgb", "raw_to_raw", "param_predictor"):
                row["summary"] = cls.summary
            if kind == "stage":
                row["inverse"] = registry.inverse_kinds(record.name)
            if kind == "inverse_stage":
                row["inverts"] = record.inverts
                row["method"] = record.method
            row["settings"] = [
                record
                for group, declared in component_settings(kind, cls)
                for record in describe(declared, group)
            ]
            row["settings_text"] = settings_text(
                s for _, declared in component_settings(kind, cls) for s in declared
            )
            rows.append(row)
    return rows


COMPONENT_TABLE_HEADER = ["NAME", "KIND", "LAYOUT", "INVERSE", "PLUGIN", "SETTINGS"]


def component_table(rows: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    """The text table of :func:`component_rows` (columns :data:`COMPONENT_TABLE_HEADER`);
    every component's settings in one format, :func:`settings_text`."""
    table = []
    for row in rows:
        if row["kind"] == "inverse_stage":
            inverse = f"inverts {row['inverts']} ({row['method']})"
        else:
            inverse = ", ".join(row.get("inverse", [])) or "-"
        table.append(
            [
                row["name"],
                row["kind"],
                row.get("layout", "-"),
                inverse,
                row["plugin"],
                row["settings_text"],
            ]
        )
    return table
