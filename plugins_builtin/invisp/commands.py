"""``ispengine invisp import``: the authors' released Invertible-ISP weights as a model.

The network's size is read from the checkpoint (8 blocks of growth 32 for the
authors' ``published`` network); the saved model serves the ``invisp``
sRGB-to-RAW and RAW-to-sRGB methods and the ``invisp_forward`` stage.
"""

from __future__ import annotations

import argparse

from ispengine.core.commands import Command
from ispengine.core.errors import InputError
from ispengine.learning.checkpoint_import import add_import_arguments, import_command


def _build(args: argparse.Namespace):
    from ispengine.learning.weights import load_checkpoint_state
    from plugins_builtin.invisp.method import InvertibleISP
    from plugins_builtin.invisp.networks import CONFIGS, config_of

    found = config_of(load_checkpoint_state(args.checkpoint), str(args.checkpoint))
    name = next((name for name, config in CONFIGS.items() if config == found), None)
    if name is None:
        raise InputError(
            f"{args.checkpoint}: a network of {found.blocks} blocks, growth {found.growth}, "
            "matches neither the published (8, 32) nor the small (4, 8) configuration"
        )
    return InvertibleISP(config=name)


GROUP = Command("invisp", "Invertible-ISP's released weights")
IMPORT = Command(
    "invisp import",
    "save the authors' released Invertible-ISP checkpoint as an invisp model",
    run=import_command(_build),
    add_arguments=add_import_arguments,
)
COMMANDS = (GROUP, IMPORT)
