"""``ispengine check SPEC``: validate a pipeline spec, explain each stage, show its inverse.

For every stage one line: its position and label, the registered name and kind
(stage or filter), its layouts, what it does (the first sentence of its class
docstring), and its values (given, default, or taken from a RAW file's metadata);
then which stages run as one fused pass, and the inverse chain (or why there is
none).
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from ispengine.cli.common import load_pipeline, spec_argument
from ispengine.core.commands import Command
from ispengine.core.errors import ISPEngineError


def _summary(stage: Any) -> str:
    """The first sentence of the stage class's docstring."""
    text = " ".join((type(stage).__doc__ or "").split())
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]


def _value(value: Any) -> str:
    array = np.asarray(value)
    if array.ndim == 0:
        return f"{float(array):.6g}" if array.dtype.kind in "fiu" else str(value)
    if array.size <= 4:
        return "[" + ", ".join(f"{float(v):.4g}" for v in array.ravel()) + "]"
    return f"array {tuple(array.shape)}"


def _values(stage: Any, bound: dict[str, str]) -> str:
    """``name=value`` for every parameter and option; ``name<-KEY`` when taken from metadata."""
    parts = []
    for spec in stage.params:
        if spec.name in bound:
            parts.append(f"{spec.name} <- {bound[spec.name]}")
        else:
            given = "" if spec.name in stage.given else " (default)"
            parts.append(f"{spec.name}={_value(stage.values[spec.name])}{given}")
    for name, value in stage.config.items():
        parts.append(f"{name} <- {bound[name]}" if name in bound else f"{name}={_value(value)}")
    return "; ".join(parts) or "no parameters"


def _kind(stage: Any) -> str:
    from ispengine.core.plugins import get_registry

    registry = get_registry()
    return "filter" if stage.name in registry.names("filter") else "stage"


def explain(pipeline: Any) -> list[str]:
    """One line per stage of ``pipeline`` (see the module docstring)."""
    lines = []
    for index, step in enumerate(pipeline.steps, 1):
        stage = step.stage
        bound = pipeline.bindings.get(step.label, {})
        name = stage.name if step.label == stage.name else f"{stage.name} as '{step.label}'"
        lines.append(
            f"  {index:2d}. {name} ({_kind(stage)}, {stage.input_layout}->"
            f"{stage.output_layout}): {_summary(stage)} [{_values(stage, bound)}]"
        )
    return lines


def _fused(pipeline: Any) -> str:
    groups = [
        (first + 1, first + group.size)
        for first, group in pipeline._fused_groups()
        if group is not None and group.size > 1
    ]
    if not groups:
        return "fused: none (every stage runs on its own)"
    spans = ", ".join(f"stages {a}-{b}" for a, b in groups)
    return f"fused (one pass over the image each): {spans}"


def cmd_check(args: argparse.Namespace) -> int:
    pipeline = load_pipeline(args.spec)
    print(f"OK {pipeline.source}: {pipeline!r}")
    for line in explain(pipeline):
        print(line)
    print(_fused(pipeline))
    try:
        print(f"inverse: {pipeline.inverse()!r}")
    except ISPEngineError as error:
        print(f"inverse: not available ({error})")
    return 0


COMMAND = Command(
    "check",
    "validate a pipeline spec (TOML) and explain each stage",
    run=cmd_check,
    add_arguments=spec_argument,
)
