"""Deprecated: the ``unprocess`` command lives in :mod:`ispengine.cli.unprocess`,
``bench srgb2raw`` in :mod:`ispengine.cli.bench` and :func:`build_method` in
:mod:`ispengine.cli.common`; ``bench semiisp`` moved into the semiisp plugin."""

import warnings

from ispengine.cli.bench import cmd_bench_srgb2raw
from ispengine.cli.common import build_method
from ispengine.cli.unprocess import (
    IMAGE_SUFFIXES,
    UnprocessJob,
    UnprocessOutcome,
    cached_method,
    cmd_unprocess,
    unprocess_job,
)

warnings.warn(
    "ispengine.cli_srgb2raw is deprecated; use ispengine.cli.unprocess, ispengine.cli.bench "
    "and ispengine.cli.common",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = [
    "IMAGE_SUFFIXES",
    "UnprocessJob",
    "UnprocessOutcome",
    "build_method",
    "cached_method",
    "cmd_bench_srgb2raw",
    "cmd_unprocess",
    "unprocess_job",
]
