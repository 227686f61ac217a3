"""``ispengine ssdnet import``: the authors' released SSDNet weights as an ``ssdnet`` model.

The authors' BasicSR checkpoint (``{"params": state_dict}``) loads into the
``published`` configuration; with ``--without-error-branch`` the soft-supervision
branch (``sigma.*``) of the file is left out and the model converts with the plain
prediction.
"""

from __future__ import annotations

import argparse

from ispengine.core.commands import Command
from ispengine.learning.checkpoint_import import add_import_arguments, import_command


def _build(args: argparse.Namespace):
    from plugins_builtin.ssdnet.method import SSDNetMethod

    soft = not args.without_error_branch
    return SSDNetMethod(config=args.config, soft_supervision=soft, samples=50 if soft else 0)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    add_import_arguments(parser)
    parser.add_argument(
        "--config",
        choices=("published", "small"),
        default="published",
        help="the network size the checkpoint holds (default: %(default)s)",
    )
    parser.add_argument(
        "--without-error-branch",
        action="store_true",
        help="leave out the soft-supervision branch (convert with the plain prediction)",
    )


GROUP = Command("ssdnet", "SSDNet's released weights")
IMPORT = Command(
    "ssdnet import",
    "save the authors' released SSDNet checkpoint as an ssdnet model",
    run=import_command(_build),
    add_arguments=_add_arguments,
)
COMMANDS = (GROUP, IMPORT)
