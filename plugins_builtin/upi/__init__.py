"""UPI (Brooks et al., "Unprocessing Images for Learned Raw Denoising", CVPR 2019).

Registers the ``upi`` sRGB-to-RAW method (:mod:`.method`: the faithful
published inverse and an exactly invertible mode) and the two tone stages of
its forward twin, ``gamma_compression`` and ``smoothstep``, with exact inverses
(:mod:`.stages`; the twin is ``ispengine/specs/upi_forward.toml``). The
published formulas live in :mod:`.reference`, camera banks in :mod:`.bank`;
UPI's noise model is the ``upi_noise`` filter of :mod:`plugins_builtin.noise`.

Source: T. Brooks, B. Mildenhall, T. Xue, J. Chen, D. Sharlet, J. T. Barron,
"Unprocessing Images for Learned Raw Denoising", CVPR 2019, §3, as in the authors'
released code.
"""

from ispengine.core.hookspecs import hookimpl
from plugins_builtin.upi.method import UPI
from plugins_builtin.upi.stages import INVERSE_STAGES, STAGES


@hookimpl
def ispengine_register_stages(register):
    for stage in STAGES:
        register(stage)


@hookimpl
def ispengine_register_inverse_stages(register):
    for stage in INVERSE_STAGES:
        register(stage)


@hookimpl
def ispengine_register_srgb_to_raw(register):
    register(UPI)
