"""Radial lens shading (vignetting) for ispengine, with its exact inverse.

Model: the even-polynomial radial falloff used for lens-shading correction
(e.g. Goldman & Chen, "Vignette and exposure calibration and compensation",
ICCV 2005)::

    y = x · v(r),   v(r) = 1 / (1 + k1 r² + k2 r⁴)

with ``r`` the distance of the pixel centre from the optical centre
``(cx, cy)`` (fractions of width and height from the image centre), scaled so
the corner of a centred image has ``r = 1``. Inverse: ``x = y · (1 + k1 r² + k2 r⁴)``.

Parameter ranges: ``k1, k2`` per channel in [0, 2]; ``cx, cy`` in [-0.25, 0.25].
Per-image values are accepted; per-pixel maps are not (the model is global).

Command: ``ispengine vignette falloff`` prints the falloff curve of a setting
(:mod:`.command`).
"""

from ispengine import PER_CHANNEL, SCALAR, InverseStage, ParamSpec, Stage, hookimpl


def radial_gain(x, p, xp):
    """``1 + k1 r² + k2 r⁴`` for every pixel of ``x`` of shape ``(..., H, W, 3)``."""
    height, width = x.shape[-3], x.shape[-2]
    device = getattr(x, "device", None)
    rows = (xp.arange(height, dtype=x.dtype, device=device) + 0.5) / height - 0.5
    cols = (xp.arange(width, dtype=x.dtype, device=device) + 0.5) / width - 0.5
    dy = rows[:, None, None] - p["cy"][..., None]
    dx = cols[None, :, None] - p["cx"][..., None]
    r2 = 2.0 * (dx * dx + dy * dy)
    return 1 + p["k1"] * r2 + p["k2"] * r2 * r2


class Vignette(Stage):
    """Radial lens-shading falloff, ``(..., H, W, 3) -> (..., H, W, 3)``."""

    name = "vignette"
    params = (
        ParamSpec(
            "k1",
            PER_CHANNEL,
            0.0,
            2.0,
            default=0.3,
            local=False,
            description="r^2 coefficient of the falloff",
        ),
        ParamSpec(
            "k2",
            PER_CHANNEL,
            0.0,
            2.0,
            default=0.1,
            local=False,
            description="r^4 coefficient of the falloff",
        ),
        ParamSpec(
            "cx",
            SCALAR,
            -0.25,
            0.25,
            default=0.0,
            local=False,
            description="optical centre, fraction of the width from the image centre",
        ),
        ParamSpec(
            "cy",
            SCALAR,
            -0.25,
            0.25,
            default=0.0,
            local=False,
            description="optical centre, fraction of the height from the image centre",
        ),
    )

    def apply(self, x, p, xp):
        return x / radial_gain(x, p, xp)


class VignetteCorrection(InverseStage):
    """Exact inverse of :class:`Vignette`: multiply by the radial gain."""

    name = "vignette_correction"
    forward = Vignette
    method = "exact"

    def apply(self, x, p, xp):
        return x * radial_gain(x, p, xp)


@hookimpl
def ispengine_register_stages(register):
    register(Vignette)


@hookimpl
def ispengine_register_inverse_stages(register):
    register(VignetteCorrection)


@hookimpl
def ispengine_register_commands(register):
    from ispengine_vignette.command import COMMANDS

    for command in COMMANDS:
        register(command)
