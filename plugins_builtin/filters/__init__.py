"""Non-invertible image operations (filters): denoising, sharpening, tone mapping.

One module per filter, each documenting its formula, source and parameter
ranges: ``gaussian_denoise``, ``local_wiener_denoise`` (edge-aware, with a
shot + read noise model), ``chroma_denoise``, ``unsharp_mask``, ``tone_curve`` (exposure,
highlight roll-off, S-curve) and ``local_tone_map`` (base/detail compression
of log luminance). They work on RGB ``(..., H, W, 3)``: numpy through
``scipy.ndimage``, other array-API backends (torch, CuPy) through the same
separable Gaussian sums. No inverse is registered for any of them.
"""

from ispengine.core.hookspecs import hookimpl
from plugins_builtin.filters.chroma_denoise import ChromaDenoise
from plugins_builtin.filters.gaussian_denoise import GaussianDenoise
from plugins_builtin.filters.local_tone_map import LocalToneMap
from plugins_builtin.filters.local_wiener_denoise import LocalWienerDenoise
from plugins_builtin.filters.tone_curve import ToneCurve
from plugins_builtin.filters.unsharp_mask import UnsharpMask

FILTERS: tuple = (
    GaussianDenoise,
    LocalWienerDenoise,
    ChromaDenoise,
    UnsharpMask,
    ToneCurve,
    LocalToneMap,
)


@hookimpl
def ispengine_register_filters(register):
    for stage in FILTERS:
        register(stage)
