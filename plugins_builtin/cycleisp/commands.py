"""``ispengine cycleisp import``: the authors' released CycleISP weights as a ``cycleisp`` model.

Zamir et al., "CycleISP: Real Image Restoration via Improved Data Synthesis",
CVPR 2020. The authors release one checkpoint per network; RGB2RAW is the
positional ``CHECKPOINT`` (what ``unprocess`` runs), RAW2RGB and CCM are
optional and given together (the model then has ``train_raw2rgb=true``).
See :mod:`plugins_builtin.cycleisp.checkpoint` for the mapping and checks.
"""

from __future__ import annotations

import argparse

from ispengine.core.commands import Command
from ispengine.learning.checkpoint_import import add_import_arguments


def _run(args: argparse.Namespace) -> int:
    from plugins_builtin.cycleisp.checkpoint import import_official

    saved = import_official(
        args.out,
        args.checkpoint,
        raw2rgb=args.raw2rgb,
        ccm=args.ccm,
        config=args.config,
        overwrite=args.overwrite,
    )
    print(f"saved {saved}")
    return 0


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    add_import_arguments(
        parser, checkpoint_help="the authors' RGB2RAW checkpoint (.pth/.pt of tensors)"
    )
    parser.add_argument("--raw2rgb", metavar="CKPT", help="the authors' RAW2RGB checkpoint")
    parser.add_argument(
        "--ccm", metavar="CKPT", help="the authors' CCM checkpoint (with --raw2rgb)"
    )
    parser.add_argument(
        "--config",
        choices=("published", "small"),
        default="published",
        help="the network size the checkpoints hold (default: %(default)s)",
    )


GROUP = Command("cycleisp", "CycleISP's released weights")
IMPORT = Command(
    "cycleisp import",
    "save the authors' released CycleISP checkpoints (RGB2RAW [+ RAW2RGB, CCM]) as a model",
    run=_run,
    add_arguments=_add_arguments,
)
COMMANDS = (GROUP, IMPORT)
