"""The extension points of ispengine, as pluggy hook specifications.

Hooks only register; they never run per image. Each receives a ``register``
callback taking one value. A plugin module implements any of them with
``@hookimpl`` and is listed under the ``ispengine`` entry-point group.

The component hooks (all but ``ispengine_register_commands``) fill the
registry; :data:`COMPONENT_KINDS`, built here from their declarations, is
the one list of them: the plugin host, the registry and the CLI derive their
hook names, kinds and labels from it.

Which of the two stage hooks a stage uses:

* ``ispengine_register_stages``: the stages of the imaging model, those that
  have an inverse of any kind (exact, LUT, numerical, learned) or may get
  one from a plugin, including learned forward ISPs (``unet_isp``) and
  layout changes whose inverse estimates what they drop (``mosaic``, whose
  inverse is a demosaicing).
* ``ispengine_register_filters``: operations whose purpose is to discard or
  degrade information, and which are never inverted: noise synthesis, blur,
  denoising, sharpening, clipping, quantisation, tone curves and tone
  mapping. The registry refuses an inverse stage for a filter.

Both land in one namespace of pipeline stage types: a TOML ``[[stage]]``
names either.
"""

from collections.abc import Callable

import pluggy
from attrs import frozen

hookspec = pluggy.HookspecMarker("ispengine")
hookimpl = pluggy.HookimplMarker("ispengine")


@frozen
class ComponentKind:
    """A registry kind: its name, the hook that registers it and its label in messages."""

    kind: str
    hook: str
    label: str


#: Every component kind by kind name, in the order of the hooks below.
COMPONENT_KINDS: dict[str, ComponentKind] = {}


def _component_hook(kind: str, label: str) -> Callable[[Callable], Callable]:
    def declare(function: Callable) -> Callable:
        COMPONENT_KINDS[kind] = ComponentKind(kind, function.__name__, label)
        return hookspec(function)

    return declare


@_component_hook("stage", "stage")
def ispengine_register_stages(register):
    """Register forward ISP stages that have or may get an inverse of any kind:
    subclasses of :class:`ispengine.Stage` (see the module docstring for the rule)."""


@_component_hook("inverse_stage", "inverse stage")
def ispengine_register_inverse_stages(register):
    """Register inverse stages: subclasses of :class:`ispengine.InverseStage`
    naming the forward stage (never a filter) they invert and their method."""


@_component_hook("param_predictor", "parameter predictor")
def ispengine_register_param_predictors(register):
    """Register parameter predictors: classes with ``name`` that predict the
    declared parameters of a pipeline's stages from an image."""


@_component_hook("srgb_to_raw", "sRGB-to-RAW method")
def ispengine_register_srgb_to_raw(register):
    """Register sRGB-to-RAW methods: classes with ``name`` that turn an sRGB
    image into one or more RAW images."""


@_component_hook("raw_to_srgb", "RAW-to-sRGB method")
def ispengine_register_raw_to_srgb(register):
    """Register RAW-to-sRGB methods (forward ISPs): subclasses of
    :class:`ispengine.learning.raw_to_srgb.RawToSrgbMethod` with ``name`` that
    render a RAW image as sRGB, learned or not."""


@_component_hook("raw_to_raw", "raw-to-raw method")
def ispengine_register_raw_to_raw(register):
    """Register raw-to-raw methods: subclasses of
    :class:`ispengine.learning.raw_to_raw.RawToRawMethod` with ``name`` that map one
    camera's RAW into another camera's colour space, learned or not."""


@_component_hook("filter", "filter")
def ispengine_register_filters(register):
    """Register filters: operations that discard or degrade information and are
    never inverted (noise, blur, denoise, sharpen, clip, quantize, tone curves,
    JPEG...), subclasses of :class:`ispengine.Stage`; no inverse may name them."""


@_component_hook("lut_backend", "LUT backend")
def ispengine_register_lut_backends(register):
    """Register LUT backends: subclasses of :class:`ispengine.lut.backend.LutBackend`
    (``name``, ``available()``, ``accepts(y)``, ``global_lookup``, ``local_lookup``)."""


@hookspec
def ispengine_register_commands(register):
    """Register command-line subcommands: :class:`ispengine.core.commands.Command`
    values. A name of several words nests under groups (``"bench semiisp"``
    joins the ``bench`` group; a missing group is created, or declared with a
    ``Command`` without ``run``). A clash with a registered command is an error
    naming both sources; the plugin's commands are then skipped."""
