"""Deprecated: the ``train`` command lives in :mod:`ispengine.cli.train`."""

import warnings

from ispengine.cli.train import cmd_train

warnings.warn(
    "ispengine.cli_train is deprecated; use ispengine.cli.train",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["cmd_train"]
