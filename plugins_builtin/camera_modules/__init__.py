"""A library of classic camera pipeline modules, on par with fast-openISP and Infinite-ISP.

Bayer domain (before demosaicing), RGB and YCbCr domain (after it): dead pixel
correction, lens shading correction, anti-aliasing, Bayer and chroma noise
reduction, automatic white balance and exposure, gamma from a curve or table,
colour-space conversion, non-local means and bilateral denoising, CLAHE, edge
enhancement, false-colour suppression, hue/saturation and brightness/contrast
control, scaling, global tone mapping and HDR stitching. One module per concept,
each documenting its formula, source and parameter ranges.

Every module of this package declares what it registers in module-level tuples:
``STAGES`` (invertible or at least bijective operations, with their inverse
stages in ``INVERSES``) and ``FILTERS`` (operations that discard information and
are never inverted; the rule is in :mod:`ispengine.core.hookspecs`). The plugin
collects them from every module of the package, so a new module needs no edit
here. Modules import only numpy and the engine at import time; heavier libraries
(scikit-image, OpenCV) are imported when a stage runs.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from types import ModuleType

from ispengine.core.hookspecs import hookimpl


@functools.cache
def _modules() -> tuple[ModuleType, ...]:
    """This package's modules, sorted by name (found and imported once)."""
    names = sorted(info.name for info in pkgutil.iter_modules(__path__) if not info.ispkg)
    return tuple(importlib.import_module(f"{__name__}.{name}") for name in names)


def _collected(kind: str) -> tuple:
    return tuple(item for module in _modules() for item in getattr(module, kind, ()))


@hookimpl
def ispengine_register_stages(register):
    for stage in _collected("STAGES"):
        register(stage)


@hookimpl
def ispengine_register_inverse_stages(register):
    for stage in _collected("INVERSES"):
        register(stage)


@hookimpl
def ispengine_register_filters(register):
    for stage in _collected("FILTERS"):
        register(stage)
