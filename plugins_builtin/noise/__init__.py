"""Noise synthesis: shot + read noise on linear RAW data, for denoising training data.

Three filter stages, one per published level distribution, all adding the
heteroscedastic Gaussian ``y = x + N(0, max(shot·x + read, 0))``:

* ``upi_noise``: Brooks et al. 2019, "Unprocessing Images for Learned Raw
  Denoising" (natural-log level line);
* ``cycleisp_noise``: the CycleISP reference code (UPI's constants in log10);
* ``semiisp_noise``: Yoshimura, Otsuka, Berdan, Ohashi, "SemiISP/SemiIE: Semi-Supervised
  Image Signal Processor and Image Enhancement Leveraging One-to-Many Mapping
  sRGB-to-RAW", arXiv:2504.02345, 2025 (SemiISP), §3.4 Eq. 15 and appendix A.3,
  uniform variances.

:mod:`.models` holds the distributions (``draw_*_levels``, :data:`NOISE_MODELS`)
and :func:`~.models.add_noise` for numpy arrays; :mod:`.stages` the stages, with
levels ``drawn`` from the model or ``given`` as parameters, and a ``seed``.
No inverse is registered for them.
"""

from ispengine.core.hookspecs import hookimpl
from plugins_builtin.noise.models import (
    NOISE_MODELS,
    NoiseLevels,
    add_noise,
    draw_cycleisp_levels,
    draw_semiisp_levels,
    draw_upi_levels,
    noise_std,
)
from plugins_builtin.noise.stages import (
    NOISE_STAGES,
    CycleISPNoise,
    NoiseStage,
    SemiISPNoise,
    UPINoise,
)

__all__ = [
    "NOISE_MODELS",
    "NOISE_STAGES",
    "CycleISPNoise",
    "NoiseLevels",
    "NoiseStage",
    "SemiISPNoise",
    "UPINoise",
    "add_noise",
    "draw_cycleisp_levels",
    "draw_semiisp_levels",
    "draw_upi_levels",
    "noise_std",
]


@hookimpl
def ispengine_register_filters(register):
    for stage in NOISE_STAGES:
        register(stage)
