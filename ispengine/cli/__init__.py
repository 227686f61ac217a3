"""The ``ispengine`` command line: one module per command, plus plugin commands.

The core's commands are :class:`~ispengine.core.commands.Command` values
(:data:`CORE_COMMANDS`); plugins add theirs through the
``ispengine_register_commands`` hook, in the same tree (``bench semiisp`` joins
the core's ``bench`` group). A plugin whose commands clash or fail to build
is reported and left out; the rest of the CLI works.

Every failure a user can cause prints one line, ``ispengine: error: ...``, and
exits with status 2; so does any failure of a plugin's command. Nothing is
written on failure. ``ISPENGINE_DEBUG=1`` shows tracebacks of unexpected errors.
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ispengine.cli import (
    bench,
    check,
    demo,
    export,
    invert,
    plugins,
    raw2raw,
    run,
    stages,
    synthcam,
    train,
    unprocess,
)
from ispengine.cli.common import debugging, one_line_errors, one_line_warning
from ispengine.core.commands import Command, CommandRecord, CommandTable
from ispengine.core.errors import ISPEngineError, PluginError

if TYPE_CHECKING:
    from ispengine.core.plugins import PluginHost

CORE_COMMANDS: tuple[Command, ...] = (
    plugins.COMMAND,
    stages.COMMAND,
    check.COMMAND,
    run.COMMAND,
    invert.COMMAND,
    synthcam.GROUP,
    synthcam.GENERATE,
    synthcam.PAIRS,
    synthcam.CAMERAS_COMMAND,
    unprocess.COMMAND,
    train.COMMAND,
    bench.GROUP,
    bench.SRGB2RAW,
    bench.RAW2SRGB,
    bench.RAW2RAW,
    raw2raw.GROUP,
    raw2raw.TRAIN,
    raw2raw.MAP,
    export.COMMAND,
    demo.COMMAND,
)


def command_table(host: PluginHost | None = None) -> CommandTable:
    """The core's commands, then those of ``host``'s plugins (default: the process-wide host)."""
    from ispengine.core.plugins import get_plugin_host

    table = CommandTable()
    table.add_all(CommandRecord(command) for command in CORE_COMMANDS)
    (host or get_plugin_host()).add_commands(table)
    return table


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command: the core's and the installed plugins'."""
    parser = argparse.ArgumentParser(
        prog="ispengine", description="A plugin-based, extensible camera ISP engine."
    )
    parser.add_argument("--version", action="version", version=_version())
    command_table().build(parser)
    return parser


def _version() -> str:
    from ispengine import __version__

    return f"ispengine {__version__}"


def _dispatch(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    record: CommandRecord = args._record
    try:
        status = record.command.run(args)
    except (ISPEngineError, OSError):
        raise
    except Exception as error:  # a plugin's bug: one line naming the plugin
        if record.plugin is None or debugging():
            raise
        raise PluginError(
            f"command '{record.command.name}' of {record.source} failed: "
            f"{type(error).__name__}: {error}"
        ) from error
    return 0 if status is None else status


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command line with the process-wide plugin host's plugins."""
    previous_format = warnings.formatwarning
    warnings.formatwarning = one_line_warning
    try:
        return one_line_errors(lambda: _dispatch(argv))
    finally:
        warnings.formatwarning = previous_format


__all__ = ["CORE_COMMANDS", "build_parser", "command_table", "main"]
