"""Deprecated: the demo lives in :mod:`ispengine.cli.demo`."""

import warnings

from ispengine.cli.demo import run_demo, synthetic_scene

warnings.warn(
    "ispengine.demo is deprecated; use ispengine.cli.demo", DeprecationWarning, stacklevel=2
)

__all__ = ["run_demo", "synthetic_scene"]
