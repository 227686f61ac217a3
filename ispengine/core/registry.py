"""The registry of everything plugins register, with provenance.

Each record names a component, its kind, its class, the plugin and the
distribution (with version) it came from, and for inverse stages the forward
stage it inverts and the method. Names are lower-case and unique within a
kind; a clash is an error naming both sources.
"""

from __future__ import annotations

import difflib
import re

from attrs import frozen

from ispengine.core.errors import PluginError, UnknownComponentError
from ispengine.core.hookspecs import COMPONENT_KINDS
from ispengine.core.stage import INVERSE_METHODS

KINDS = tuple(COMPONENT_KINDS)
KIND_LABELS = {kind: entry.label for kind, entry in COMPONENT_KINDS.items()}
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")


@frozen
class ComponentRecord:
    """One registered component."""

    name: str
    kind: str
    cls: type
    plugin: str
    distribution: str | None = None
    version: str | None = None
    inverts: str | None = None
    method: str | None = None

    @property
    def source(self) -> str:
        if self.distribution:
            return f"plugin '{self.plugin}' ({self.distribution} {self.version})"
        return f"plugin '{self.plugin}'"


class Registry:
    """Components by kind and name."""

    def __init__(self) -> None:
        self._records: dict[str, dict[str, ComponentRecord]] = {kind: {} for kind in KINDS}

    def add(self, record: ComponentRecord) -> None:
        if not NAME_PATTERN.match(record.name):
            raise PluginError(
                f"{record.source}: invalid {KIND_LABELS[record.kind]} name {record.name!r} "
                "(lower-case letters, digits and '_', starting with a letter)"
            )
        # Stages and filters share one namespace: both are pipeline stage types.
        shared = ("stage", "filter") if record.kind in ("stage", "filter") else (record.kind,)
        existing = next(
            (self._records[k][record.name] for k in shared if record.name in self._records[k]), None
        )
        if existing is not None:
            raise PluginError(
                f"{KIND_LABELS[record.kind]} name '{record.name}' is registered twice: "
                f"by {existing.source} and by {record.source}"
            )
        self._records[record.kind][record.name] = record

    def remove_plugin(self, plugin: str) -> None:
        """Forget everything ``plugin`` registered."""
        for records in self._records.values():
            for name in [n for n, r in records.items() if r.plugin == plugin]:
                del records[name]

    def records(self, kind: str) -> list[ComponentRecord]:
        return sorted(self._records[kind].values(), key=lambda r: r.name)

    def names(self, kind: str) -> list[str]:
        return sorted(self._records[kind])

    def get(self, kind: str, name: str) -> ComponentRecord:
        try:
            return self._records[kind][name]
        except KeyError:
            raise UnknownComponentError(self.unknown_message(kind, name)) from None

    def unknown_message(self, kind: str, name: str) -> str:
        names = self.names(kind)
        label = KIND_LABELS[kind]
        message = f"unknown {label} {name!r}"
        close = difflib.get_close_matches(str(name), names, n=1)
        if close:
            message += f" (did you mean '{close[0]}'?)"
        listed = ", ".join(names) if names else "none"
        return f"{message}; registered: {listed}"

    def inverses_of(self, stage_name: str) -> list[ComponentRecord]:
        """Inverse-stage records of a forward stage, in preference order."""
        found = [r for r in self._records["inverse_stage"].values() if r.inverts == stage_name]
        return sorted(found, key=lambda r: (INVERSE_METHODS.index(r.method), r.name))

    def inverse_kinds(self, stage_name: str) -> list[str]:
        """The inverse methods available for a stage; ``["none"]`` when there is none."""
        methods = []
        for record in self.inverses_of(stage_name):
            if record.method not in methods:
                methods.append(record.method)
        return methods or ["none"]

    def inverse_kind(self, stage_name: str) -> str:
        """The default (most accurate) inverse method of a stage, or ``none``."""
        return self.inverse_kinds(stage_name)[0]
