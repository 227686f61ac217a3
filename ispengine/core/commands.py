"""Command-line subcommands as values: what the core and plugins add to ``ispengine``.

A plugin adds commands through the ``ispengine_register_commands`` hook::

    from ispengine import Command, hookimpl

    def _add_arguments(parser):
        parser.add_argument("--k1", type=float, default=0.3)

    def _run(args) -> int:
        print(args.k1)
        return 0

    @hookimpl
    def ispengine_register_commands(register):
        register(Command("lens", "lens tools"))  # a group
        register(Command("lens show", "print k1", run=_run, add_arguments=_add_arguments))

A name of several words nests under groups: ``"bench semiisp"`` joins the
core's ``bench`` group. The :class:`CommandTable` holds the commands by
name, refuses clashes naming both sources, and builds the argparse tree.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Iterable

from attrs import field, frozen

from ispengine.core.errors import PluginError

WORD_PATTERN = re.compile(r"^[a-z][a-z0-9_-]*$")


def _check_name(command: Command, attribute: object, name: str) -> None:
    words = name.split(" ")
    if not all(WORD_PATTERN.match(word) for word in words):
        raise PluginError(
            f"invalid command name {name!r}: words of lower-case letters, digits, '_' and '-' "
            "(starting with a letter), separated by one space"
        )


@frozen
class Command:
    """A subcommand of ``ispengine``.

    Attributes:
        name: its words, separated by one space (``"demo"``, ``"bench semiisp"``);
            every word but the last names a group.
        help: one line, shown by ``ispengine --help`` (or the group's help).
        run: called with the parsed arguments; returns the exit status (``None``
            counts as 0). ``None`` makes the command a group of subcommands.
        add_arguments: adds the command's arguments to its ``argparse`` parser.
    """

    name: str = field(validator=_check_name)
    help: str
    run: Callable[[argparse.Namespace], int | None] | None = None
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(self.name.split(" "))

    @property
    def is_group(self) -> bool:
        return self.run is None


@frozen
class CommandRecord:
    """A command with where it came from (``plugin`` is ``None`` for the core)."""

    command: Command
    plugin: str | None = None
    distribution: str | None = None
    version: str | None = None

    @property
    def source(self) -> str:
        if self.plugin is None:
            return "the ispengine core"
        if self.distribution:
            return f"plugin '{self.plugin}' ({self.distribution} {self.version})"
        return f"plugin '{self.plugin}'"


class CommandTable:
    """Commands by name, groups before their members, in the order added."""

    def __init__(self) -> None:
        self._records: dict[tuple[str, ...], CommandRecord] = {}

    def records(self) -> list[CommandRecord]:
        return list(self._records.values())

    def add_all(self, records: Iterable[CommandRecord]) -> None:
        """Add one source's commands, all or none.

        Groups go before their members; a missing group is created. Raises
        :class:`PluginError` (naming both sources) on a clash, or when a
        command's ``add_arguments`` fails on a trial parser.
        """
        added = dict(self._records)
        for record in sorted(records, key=lambda r: len(r.command.path)):
            _add(added, record)
        for path, record in added.items():
            if path not in self._records and record.command.add_arguments is not None:
                _try_arguments(record)
        self._records = added

    def build(self, parser: argparse.ArgumentParser) -> None:
        """Add every command to ``parser``; a leaf's parser gets ``_record`` as default."""
        groups = {(): parser.add_subparsers(dest="_command", required=True, metavar="COMMAND")}
        for path, record in self._records.items():
            command = record.command
            sub = groups[path[:-1]].add_parser(
                path[-1], help=command.help, description=command.help
            )
            if command.add_arguments is not None:
                command.add_arguments(sub)
            if command.is_group:
                groups[path] = sub.add_subparsers(
                    dest="_command_" + "_".join(path), required=True, metavar="COMMAND"
                )
            else:
                sub.set_defaults(_record=record)


def _add(records: dict[tuple[str, ...], CommandRecord], record: CommandRecord) -> None:
    path = record.command.path
    for depth in range(1, len(path)):
        parent = records.get(path[:depth])
        if parent is None:
            group = Command(" ".join(path[:depth]), f"commands of {record.source}")
            records[path[:depth]] = CommandRecord(
                group, record.plugin, record.distribution, record.version
            )
        elif not parent.command.is_group:
            raise PluginError(
                f"command '{record.command.name}' of {record.source} needs a group "
                f"'{parent.command.name}', but that is a command of {parent.source}"
            )
    existing = records.get(path)
    if existing is not None:
        if existing.command.is_group and record.command.is_group:
            return  # a group declared again: the first declaration's help stays
        raise PluginError(
            f"command '{record.command.name}' is registered twice: "
            f"by {existing.source} and by {record.source}"
        )
    records[path] = record


def _try_arguments(record: CommandRecord) -> None:
    trial = argparse.ArgumentParser(prog=f"ispengine {record.command.name}", add_help=False)
    try:
        record.command.add_arguments(trial)
    except Exception as error:  # third-party code: report it on one line
        raise PluginError(
            f"command '{record.command.name}' of {record.source}: add_arguments failed: "
            f"{type(error).__name__}: {error}"
        ) from None
