"""Pipeline specs shipped with ispengine, usable by name on the command line."""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any


def specs_in(folder: Any) -> dict[str, Path]:
    """The ``.toml`` files of a package folder (an :mod:`importlib.resources` traversable),
    by name (file stem)."""
    return {
        Path(entry.name).stem: Path(str(entry))
        for entry in folder.iterdir()
        if entry.name.endswith(".toml")
    }


def shipped_specs() -> dict[str, Path]:
    """Shipped spec names (file stems) and their paths."""
    return specs_in(resources.files(__name__))


def resolve_named(name_or_path: str | Path, shipped: Mapping[str, Path]) -> Path:
    """An existing file, else the spec of that name in ``shipped`` (with or without
    ``.toml``), else the path as given (its reader reports it missing)."""
    path = Path(name_or_path)
    try:
        if path.exists():
            return path
    except (OSError, ValueError):  # e.g. a name too long for the file system
        return path
    return shipped.get(
        str(name_or_path), shipped.get(path.stem if path.suffix == ".toml" else "", path)
    )


def resolve_spec(name_or_path: str) -> Path:
    """A spec path: an existing file, else a shipped spec of that name (with or without
    ``.toml``), else the path as given.

    Only resolves names: nothing is opened here. Reading the spec
    (:func:`ispengine.core.spec.load_spec_file`) refuses what is not a regular file
    (a device such as ``/dev/zero``, a FIFO, a folder) and anything over the size limit
    :data:`ispengine.core.spec.MAX_SPEC_BYTES` with one line."""
    return resolve_named(name_or_path, shipped_specs())
