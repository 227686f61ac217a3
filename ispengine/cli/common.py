"""Helpers shared by the command modules: one-line errors, tables, common arguments.

Every failure a user can cause prints one line, ``ispengine: error: ...``, and
exits with status 2 (:data:`EXIT_USAGE`); an unexpected error of the core
prints one line and exits with status 1 (:data:`EXIT_INTERNAL`).
``ISPENGINE_DEBUG=1`` shows tracebacks of unexpected errors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ispengine.core.errors import InputError, ISPEngineError

if TYPE_CHECKING:
    from pathlib import Path

    from ispengine.core.pipeline import Pipeline
    from ispengine.learning.srgb_to_raw import Budget, SrgbToRawMethod

EXIT_USAGE = 2
EXIT_INTERNAL = 1
EXIT_INTERRUPTED = 130


def debugging() -> bool:
    """Whether ``ISPENGINE_DEBUG`` asks for tracebacks of unexpected errors."""
    return bool(os.environ.get("ISPENGINE_DEBUG"))


def one_line_errors(call: Callable[[], int]) -> int:
    """``call()``'s exit status, or one line on stderr and the status of its failure."""
    try:
        return call()
    except ISPEngineError as error:
        print(f"ispengine: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        print(f"ispengine: error: {where}{error.strerror or error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("ispengine: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # last resort: one line, never a traceback, unless debugging
        if debugging():
            raise
        print(
            f"ispengine: internal error: {type(error).__name__}: {error} "
            "(set ISPENGINE_DEBUG=1 for a traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def one_line_warning(message, category, filename, lineno, line=None) -> str:
    """A ``warnings.formatwarning`` that prints ``ispengine: warning: MESSAGE``."""
    return f"ispengine: warning: {message}\n"


def warn_clipped(values: int, size: int, where: str) -> None:
    """One warning that ``values`` of ``size`` output values were clipped in ``where``."""
    if values:
        share = 100.0 * values / size
        print(
            f"ispengine: warning: {values} values ({share:.2f}%) outside the output range were "
            f"clipped in {where}; write .npy to keep them",
            file=sys.stderr,
        )


def print_table(rows: list[list[str]], header: list[str]) -> None:
    """Left-aligned columns, two spaces apart, under ``header``."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = (str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())


def add_executor_arguments(
    parser: argparse.ArgumentParser, what: str, default: str = "process"
) -> None:
    """``--executor``, ``--workers`` and ``--address`` (see :mod:`ispengine.io.executors`)."""
    from ispengine.io.executors import EXECUTORS

    parser.add_argument(
        "--executor",
        default=default,
        choices=EXECUTORS,
        help=f"{what} (default: %(default)s; process: a local process pool; dask: a cluster)",
    )
    parser.add_argument("--workers", type=int, help="worker processes (default: CPU count)")
    parser.add_argument("--address", help="Dask scheduler address (default: a local cluster)")


def registered_names(kind: str) -> str:
    """The names registered as ``kind`` (``"srgb_to_raw"``, ...), for help texts; never
    imports the components and never fails (a broken plugin must not break ``--help``)."""
    try:
        from ispengine.core.plugins import get_plugin_host

        return ", ".join(get_plugin_host().registry.names(kind)) or "none installed"
    except Exception:
        return "see `ispengine plugins`"


def parse_setting(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` of ``--set``: a JSON value, or a bare word as a string."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = value  # a bare word is a string
    return key.strip(), parsed


def add_setting_argument(parser: argparse.ArgumentParser) -> None:
    """``--set KEY=VALUE`` (repeatable): a method setting."""
    parser.add_argument(
        "--set",
        type=parse_setting,
        action="append",
        metavar="KEY=VALUE",
        help="a method setting (JSON value or a word; repeatable)",
    )


def training_request(args: argparse.Namespace) -> tuple[Budget, Path]:
    """The budget and the output path of a ``train`` command's arguments (``--steps``,
    ``--seconds``, ``--resume``, ``--checkpoint``, ``--out``), checked: one line for a
    missing budget, ``--resume`` without a checkpoint, or a folder as ``--out``."""
    from pathlib import Path

    from ispengine.core.errors import ParamError
    from ispengine.learning.srgb_to_raw import Budget

    if args.steps is None and args.seconds is None:
        raise ParamError(key="train", message="give a budget: --steps N, --seconds S, or both")
    if args.resume and not args.checkpoint:
        raise ParamError(key="train", message="--resume needs --checkpoint PATH")
    out = Path(args.out)
    if out.is_dir():
        raise InputError(f"{out}: is a folder; give a file name for --out, e.g. {out / 'model'}")
    return Budget(steps=args.steps, seconds=args.seconds), out


def build_method(
    name: str, settings: dict[str, Any], weights: str | None = None
) -> SrgbToRawMethod:
    """The method ``name`` with ``settings``, or loaded from the saved ``weights``
    (which must hold method ``name``; ``settings`` are then not used)."""
    from ispengine.learning.srgb_to_raw import SrgbToRawMethod, method_class

    cls = method_class(name)
    if weights:
        method = SrgbToRawMethod.load(weights)
        if method.name != cls.name:
            raise InputError(f"{weights}: holds method '{method.name}', not '{name}'")
        return method
    return cls(**settings)


def spec_argument(parser: argparse.ArgumentParser) -> None:
    """The positional ``spec``: a spec file or the name of a shipped spec."""
    parser.add_argument("spec", help="spec file, or the name of a shipped spec")


def load_pipeline(spec: str) -> Pipeline:
    """The pipeline of a spec file or of a shipped spec's name."""
    from ispengine.core.pipeline import Pipeline
    from ispengine.specs import resolve_spec

    return Pipeline.from_toml(resolve_spec(spec))
