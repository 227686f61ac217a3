"""ispengine: a plugin-based, extensible camera ISP engine.

Public API::

    from ispengine import Pipeline, Stage, InverseStage, ParamSpec, hookimpl
    pipe = Pipeline.from_toml("function_isp.toml")
    srgb = pipe(camera_rgb)
    back = pipe.inverse()(srgb)

Importing this package never imports torch or cupy.
"""

from ispengine.errors import (
    InputError,
    ISPEngineError,
    ParamError,
    PluginError,
    SpecError,
    UnknownComponentError,
)
from ispengine.hookspecs import hookimpl
from ispengine.learned import LearnedInverseStage
from ispengine.params import (
    MATRIX_3X3,
    PER_CFA_CHANNEL,
    PER_CHANNEL,
    SCALAR,
    OptionSpec,
    ParamSpec,
)
from ispengine.pipeline import Pipeline
from ispengine.plugins import PluginHost, get_plugin_host, get_registry
from ispengine.stage import InverseStage, Stage

__version__ = "0.1.0"

__all__ = [
    "ISPEngineError",
    "InputError",
    "InverseStage",
    "LearnedInverseStage",
    "MATRIX_3X3",
    "OptionSpec",
    "PER_CFA_CHANNEL",
    "PER_CHANNEL",
    "ParamError",
    "ParamSpec",
    "Pipeline",
    "PluginError",
    "PluginHost",
    "SCALAR",
    "SpecError",
    "Stage",
    "UnknownComponentError",
    "get_plugin_host",
    "get_registry",
    "hookimpl",
    "__version__",
]
