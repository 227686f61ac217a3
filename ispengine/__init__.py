"""ispengine: a plugin-based, extensible camera ISP engine.

Public API::

    from ispengine import Pipeline, Stage, InverseStage, ParamSpec, hookimpl
    pipe = Pipeline.from_toml("function_isp.toml")
    srgb = pipe(camera_rgb)
    back = pipe.inverse()(srgb)

Importing this package never imports torch or cupy.
"""

from ispengine import _moved
from ispengine.core.capabilities import Capabilities
from ispengine.core.commands import Command
from ispengine.core.errors import (
    InputError,
    ISPEngineError,
    ParamError,
    PluginError,
    SpecError,
    UnknownComponentError,
)
from ispengine.core.hookspecs import hookimpl
from ispengine.core.params import (
    MATRIX_3X3,
    PER_CFA_CHANNEL,
    PER_CHANNEL,
    SCALAR,
    OptionSpec,
    ParamSpec,
)
from ispengine.core.pipeline import Pipeline
from ispengine.core.plugins import PluginHost, get_plugin_host, get_registry
from ispengine.core.stage import InverseStage, Stage
from ispengine.learning.learned_inverse import LearnedInverseStage
from ispengine.learning.model_stage import LearnedStage

__version__ = "0.1.0"

_moved.install()

__all__ = [
    "Command",
    "Capabilities",
    "ISPEngineError",
    "InputError",
    "InverseStage",
    "LearnedInverseStage",
    "LearnedStage",
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
