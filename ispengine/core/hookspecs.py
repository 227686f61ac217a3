"""The extension points of ispengine, as pluggy hook specifications.

Hooks only register components; they never run per image. Each receives a
``register`` callback taking one class. A plugin module implements any of
them with ``@hookimpl`` and is listed under the ``ispengine`` entry-point group.
"""

import pluggy

hookspec = pluggy.HookspecMarker("ispengine")
hookimpl = pluggy.HookimplMarker("ispengine")


@hookspec
def ispengine_register_stages(register):
    """Register forward ISP stages: subclasses of :class:`ispengine.Stage`."""


@hookspec
def ispengine_register_inverse_stages(register):
    """Register inverse stages: subclasses of :class:`ispengine.InverseStage`
    naming the forward stage they invert and their method."""


@hookspec
def ispengine_register_param_predictors(register):
    """Register parameter predictors: classes with ``name`` that predict the
    declared parameters of a pipeline's stages from an image."""


@hookspec
def ispengine_register_srgb_to_raw(register):
    """Register sRGB-to-RAW methods: classes with ``name`` that turn an sRGB
    image into one or more RAW images."""


@hookspec
def ispengine_register_filters(register):
    """Register filters: non-invertible operations (noise, blur, JPEG...),
    subclasses of :class:`ispengine.Stage` without an inverse."""


@hookspec
def ispengine_register_lut_backends(register):
    """Register LUT backends: subclasses of :class:`ispengine.lut.backend.LutBackend`
    (``name``, ``available()``, ``accepts(y)``, ``global_lookup``, ``local_lookup``)."""
