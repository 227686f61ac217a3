"""On-disk cache of 4-D LUT tables.

Tables are saved under the user cache directory (``$ISPENGINE_CACHE_DIR``,
else ``$XDG_CACHE_HOME/ispengine``, else ``~/.cache/ispengine``) in ``lut/``,
one ``.npz`` file per stage name, stage version, parameter ranges and grid
(:func:`ispengine.lut.table.table_key`). Writes are atomic (temporary file,
then rename), so concurrent builders never leave a torn file: the last one
wins with an identical table. A file that cannot be read, whose stored key
differs, or whose arrays have the wrong shape, are not finite or are not
non-decreasing, is rebuilt, never trusted.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ispengine.core.stage import Stage
from ispengine.io.atomic import atomic_output
from ispengine.lut.table import (
    LutGrid,
    LutTable,
    build_lut_table,
    lut_domain,
    parameter_axes,
    table_digest,
    table_key,
)


def cache_dir() -> Path:
    """The cache root (created on first write)."""
    explicit = os.environ.get("ISPENGINE_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "ispengine"


def table_path(stage: type[Stage], grid: LutGrid) -> Path:
    points = "x".join(str(n) for n in (*grid.param_points, grid.output_points))
    digest = table_digest(table_key(stage, grid))
    return cache_dir() / "lut" / f"{stage.name}-v{stage.version}-{points}-{digest}.npz"


def _load(path: Path, stage: type[Stage], grid: LutGrid) -> LutTable | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            stored_key = json.loads(str(data["key"]))
            nodes, y_lo, y_hi = data["nodes"], data["y_lo"], data["y_hi"]
    except Exception:  # unreadable or truncated: rebuild
        return None
    if stored_key != json.loads(json.dumps(table_key(stage, grid))):
        return None
    axes = parameter_axes(stage, grid)
    shape = tuple(len(a) for a in axes)
    valid = (
        nodes.shape == shape + (grid.output_points,)
        and y_lo.shape == shape
        and y_hi.shape == shape
        and all(np.all(np.isfinite(a)) for a in (nodes, y_lo, y_hi))
        and bool(np.all(np.diff(nodes, axis=-1) >= 0))
    )
    if not valid:
        return None
    return LutTable(stage.name, stage.version, grid, lut_domain(stage), axes, nodes, y_lo, y_hi)


def _save(path: Path, table: LutTable, key: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as temporary, open(temporary, "wb") as handle:
        np.savez(handle, key=json.dumps(key), nodes=table.nodes, y_lo=table.y_lo, y_hi=table.y_hi)


def load_or_build(stage: type[Stage], grid: LutGrid, *, progress: Any = None) -> LutTable:
    """The cached table of ``stage`` on ``grid``, built and saved when missing or invalid."""
    path = table_path(stage, grid)
    if path.exists():
        table = _load(path, stage, grid)
        if table is not None:
            return table
        warnings.warn(f"LUT cache file {path} is corrupt or stale; rebuilding it", stacklevel=2)
    table = build_lut_table(stage, grid, progress=progress)
    try:
        _save(path, table, table_key(stage, grid))
    except OSError as error:  # a read-only cache must not stop the inverse
        warnings.warn(f"cannot write LUT cache {path}: {error}", stacklevel=2)
    return table
