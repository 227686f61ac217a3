"""Old module paths of the flat layout, kept importable with a DeprecationWarning.

The core was reorganised into sub-packages by concept (``core``, ``io``,
``kernels``, ``learning``). ``import ispengine.pipeline`` and the like still
work: a meta-path finder maps each old name to its new module, warns once,
and returns the very same module object (so monkeypatching either name
patches both).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings

# Old dotted name -> new dotted name (sub-modules of moved packages follow).
MOVED_MODULES = {
    "ispengine.errors": "ispengine.core.errors",
    "ispengine.params": "ispengine.core.params",
    "ispengine.stage": "ispengine.core.stage",
    "ispengine.spec": "ispengine.core.spec",
    "ispengine.pipeline": "ispengine.core.pipeline",
    "ispengine.registry": "ispengine.core.registry",
    "ispengine.plugins": "ispengine.core.plugins",
    "ispengine.hookspecs": "ispengine.core.hookspecs",
    "ispengine.arrays": "ispengine.core.arrays",
    "ispengine.predictor": "ispengine.core.predictor",
    "ispengine.json_values": "ispengine.core.json_values",
    "ispengine.numerical_inverse": "ispengine.core.numerical_inverse",
    "ispengine.raw": "ispengine.io.raw",
    "ispengine.image_files": "ispengine.io.image_files",
    "ispengine.exif": "ispengine.io.exif",
    "ispengine.atomic": "ispengine.io.atomic",
    "ispengine.convert": "ispengine.io.convert",
    "ispengine.executors": "ispengine.io.executors",
    "ispengine.fused": "ispengine.kernels.fused",
    "ispengine.fused_mosaic": "ispengine.kernels.fused_mosaic",
    "ispengine.curve_table": "ispengine.kernels.curve_table",
    "ispengine.srgb_to_raw": "ispengine.learning.srgb_to_raw",
    "ispengine.training": "ispengine.learning.training",
    "ispengine.datasets": "ispengine.learning.datasets",
    "ispengine.paired_crops": "ispengine.learning.paired_crops",
    "ispengine.weights": "ispengine.learning.weights",
    "ispengine.metrics": "ispengine.learning.metrics",
    "ispengine.cli_train": "ispengine.cli.train",
    "ispengine.demo": "ispengine.cli.demo",
}


def new_name(old: str) -> str | None:
    """The current module of an old dotted name (``ispengine.raw.dng`` included), or None."""
    for prefix, target in MOVED_MODULES.items():
        if old == prefix or old.startswith(prefix + "."):
            return target + old[len(prefix) :]
    return None


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return importlib.import_module(self.target)

    def exec_module(self, module: types.ModuleType) -> None:
        """The target module is already executed."""


class MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Finds old module names and hands out their new modules."""

    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        moved_to = new_name(fullname)
        if moved_to is None:
            return None
        warnings.warn(
            f"{fullname} moved to {moved_to}; import it from there",
            DeprecationWarning,
            stacklevel=2,
        )
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(moved_to))


def install() -> None:
    """Put the finder on ``sys.meta_path`` once."""
    if not any(isinstance(f, MovedModuleFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, MovedModuleFinder())
