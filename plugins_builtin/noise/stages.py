"""Noise-synthesis filter stages: ``upi_noise``, ``cycleisp_noise``, ``semiisp_noise``.

Each adds shot + read noise ``y = x + N(0, max(shot·x + read, 0))`` element-wise
to linear RAW values (:mod:`.models` gives the formulas and sources). The three
stages differ only in the model the levels are drawn from and in the defaults
of ``shot`` and ``read``.

Drawn or given levels (option ``levels``):
    ``drawn``: ``shot`` and ``read`` are drawn from the model, per image (each
        image of a batch gets its own); the ``shot`` / ``read`` parameters must
        then stay at their defaults, and per-call values for them are refused.
    ``given``: the ``shot`` / ``read`` parameters are used (constants, per-image
        values or per-pixel maps, e.g. from a predictor or a calibration).
    When ``levels`` is not given it is ``given`` if ``shot`` or ``read`` is,
    otherwise ``drawn``. In TOML::

        [[stage]]
        type = "upi_noise"
        params = { seed = 7 }                           # levels drawn, UPI model

        [[stage]]
        type = "semiisp_noise"
        params = { shot = 0.004, read = 1e-4, seed = 3 } # levels given

Randomness: the output is a deterministic function of the input, the
parameters and ``seed`` (same seed, same output, bit for bit; calling the stage
twice gives the same noise). Vary ``seed`` per call (``pipe(x, {"upi_noise":
{"seed": i}})``) or pass a batch for independent noise per image.

* numpy (and any backend other than torch): ``rng = numpy.random.default_rng(seed)``;
  in ``drawn`` mode first the levels of each image in C order of the batch axes
  (``draw_*_levels(rng)``), then ``z = rng.standard_normal(x.shape)``
  (float64); the result is computed in float64 and stored in the input's dtype.
  A single image therefore equals ``add_noise(x, draw_*_levels(rng), rng)``.
* torch: the levels come from the same numpy generator (so they match the
  numpy path), the pixel noise from ``torch.Generator(device=x.device)``
  seeded with ``seed``, ``torch.randn`` in the tensor's dtype on its device. The
  numpy and torch noise streams differ: the same seed gives the same levels
  but a different noise image. Differentiable in ``x`` and in given levels.

Parameters:
    shot: scalar in [0, 0.05], the variance per unit signal (``given`` mode);
        default the model's median level.
    read: scalar in [0, 0.05], the signal-independent variance (``given`` mode);
        default the model's median level.
    seed: integer in [0, 2**31 − 1], default 0; one value per call.
Options:
    levels: ``drawn`` | ``given`` (see above).
    layout: ``mosaic`` (default, ``(..., H, W)``), ``packed`` (``(..., H, W, 4)``)
        or ``rgb`` (``(..., H, W, 3)``): the data the stage sits on in a
        pipeline; the noise is element-wise in every layout.
No inverse. The output is not clipped (it may leave [0, 1]).

Source: the level distributions of :mod:`.models`: T. Brooks, B. Mildenhall, T. Xue, J.
Chen, D. Sharlet, J. T. Barron, "Unprocessing Images for Learned Raw Denoising", CVPR
2019 (``upi_noise``, as in the authors' released code); S. W. Zamir et al., "CycleISP:
Real Image Restoration via Improved Data Synthesis", CVPR 2020 (``cycleisp_noise``, as
in the authors' released code); M. Yoshimura, J. Otsuka, R. Berdan, T. Ohashi,
"SemiISP/SemiIE: Semi-Supervised Image Signal Processor and Image Enhancement Leveraging
One-to-Many Mapping sRGB-to-RAW", arXiv:2504.02345, 2025, §3.4 Eq. 15 and appendix A.3
(``semiisp_noise``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import array_api_compat
import numpy as np

from ispengine.core.arrays import check_image, safe_power, to_host
from ispengine.core.errors import ParamError
from ispengine.core.params import SCALAR, OptionSpec, ParamSpec
from ispengine.core.stage import Stage
from plugins_builtin.noise.models import (
    NoiseLevels,
    draw_cycleisp_levels,
    draw_semiisp_levels,
    draw_upi_levels,
    noisy,
)

SEED_MAX = 2**31 - 1
LEVEL_NAMES = ("shot", "read")
LAYOUTS = ("mosaic", "packed", "rgb")


def _params(shot: float, read: float) -> tuple[ParamSpec, ...]:
    return (
        ParamSpec(
            "shot",
            SCALAR,
            0.0,
            0.05,
            default=shot,
            description="shot-noise variance per unit signal (levels = given)",
        ),
        ParamSpec(
            "read",
            SCALAR,
            0.0,
            0.05,
            default=read,
            description="read-noise variance (levels = given)",
        ),
        ParamSpec(
            "seed",
            SCALAR,
            0.0,
            SEED_MAX,
            default=0,
            local=False,
            description="random seed, an integer; same seed, same output",
        ),
    )


class NoiseStage(Stage):
    """Shot + read Gaussian noise with levels drawn from a model or given.

    Subclasses set ``name``, ``model`` (the model's name in :data:`.NOISE_MODELS`),
    ``draw_levels`` and ``params`` (with the model's default levels).
    """

    model: ClassVar[str] = ""
    draw_levels: ClassVar[Callable[[np.random.Generator], NoiseLevels]]
    options = (
        OptionSpec(
            "levels",
            ("drawn", "given"),
            default="drawn",
            description="drawn: from the model per image; given: the shot and read params",
        ),
        OptionSpec(
            "layout",
            LAYOUTS,
            default="mosaic",
            description="layout of the data the noise is added to (element-wise)",
        ),
    )
    input_layout = "mosaic"
    output_layout = "mosaic"
    input_range = (0.0, 1.0)

    def __init__(self, **values: Any) -> None:
        if values.get("levels") is None:
            given = any(values.get(name) is not None for name in LEVEL_NAMES)
            values["levels"] = "given" if given else "drawn"
        super().__init__(**values)
        if self.config["levels"] == "drawn":
            for name in LEVEL_NAMES:
                default = self.param_spec(name).default
                if not np.array_equal(to_host(self.values[name]), default):
                    raise ParamError(
                        key=name,
                        message=f"given, but levels = 'drawn' draws shot and read from the "
                        f"{self.model} model (set levels = 'given' to use it)",
                    )
        # The layout option decides the data this instance accepts in a pipeline.
        self.input_layout = self.output_layout = self.config["layout"]

    @classmethod
    def check_params(cls, values: Mapping[str, np.ndarray]) -> None:
        seed = values.get("seed")
        if seed is not None and not np.all(np.floor(seed) == seed):
            raise ParamError(
                key="seed", message=f"expected an integer, got {np.asarray(seed).tolist()!r}"
            )

    # -- application ------------------------------------------------------
    def __call__(self, x: Any, params: Mapping[str, Any] | None = None) -> Any:
        """Add noise to ``x``; ``params`` may override ``seed`` (and, when the
        levels are given, ``shot`` / ``read``) for this call."""
        xp = check_image(x, self.input_layout, where="input")
        overrides = dict(params or {})
        seed = self._seed(overrides.pop("seed", None))
        if self.config["levels"] == "drawn":
            passed = [name for name in LEVEL_NAMES if name in overrides]
            if passed:
                raise ParamError(
                    key=passed[0],
                    message=f"levels = 'drawn' draws shot and read from the {self.model} "
                    "model; a per-call value needs levels = 'given'",
                )
        return self._add(x, overrides, xp, seed)

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        """The noise with the stage's constants (``p`` is not used: the seed and the
        levels need exact values; :meth:`__call__` takes per-call overrides)."""
        return self._add(x, {}, xp, self._seed(None))

    def _seed(self, value: Any) -> int:
        spec = self.param_spec("seed")
        # The seed is a host number (it seeds numpy's generator): a device value is read back.
        seed = to_host(self.values["seed"] if value is None else spec.coerce_constant(value))
        self.check_params({"seed": seed})
        return int(seed)

    def _batch(self, x: Any) -> tuple[int, ...]:
        shape = tuple(x.shape)
        return shape[:-2] if self.input_layout == "mosaic" else shape[:-3]

    def _drawn(self, rng: np.random.Generator, x: Any) -> tuple[np.ndarray, np.ndarray]:
        """Levels of each image in C order, shaped to broadcast against ``x``."""
        batch = self._batch(x)
        draws = [type(self).draw_levels(rng) for _ in range(math.prod(batch))]
        tail = (1,) * (x.ndim - len(batch))
        shot = np.array([d.shot for d in draws], dtype=np.float64).reshape(batch + tail)
        read = np.array([d.read for d in draws], dtype=np.float64).reshape(batch + tail)
        return shot, read

    def _given(self, like: Any, overrides: Mapping[str, Any], xp: Any) -> tuple[Any, Any]:
        p = self.resolve(like, xp, overrides)
        shot, read = p["shot"], p["read"]
        if self.input_layout != "mosaic":  # per-image / per-pixel values meet the channels
            shot = shot[..., None] if shot.ndim > 0 else shot
            read = read[..., None] if read.ndim > 0 else read
        return shot, read

    def _add(self, x: Any, overrides: Mapping[str, Any], xp: Any, seed: int) -> Any:
        rng = np.random.default_rng(seed)
        drawn = self.config["levels"] == "drawn"
        if array_api_compat.is_torch_array(x):
            return self._add_torch(x, overrides, xp, seed, rng, drawn)
        if drawn:
            self.resolve(x, xp, overrides)  # checks unknown names only
            shot, read = self._drawn(rng, x)
        else:  # resolve against a float64 view of x's shape: levels keep full precision
            like = np.broadcast_to(np.zeros((), np.float64), tuple(x.shape))
            shot, read = self._given(like, overrides, np)
            shot, read = np.asarray(shot), np.asarray(read)
        z = rng.standard_normal(tuple(x.shape))
        if isinstance(x, np.ndarray):
            return noisy(x, shot, read, z)
        # Another array-API backend (e.g. CuPy): the numpy stream, moved to the device.
        device = array_api_compat.device(x)
        shot, read, z = (xp.asarray(a, dtype=x.dtype, device=device) for a in (shot, read, z))
        return x + safe_power(xp.maximum(shot * x + read, 0), 0.5, xp) * z

    def _add_torch(
        self,
        x: Any,
        overrides: Mapping[str, Any],
        xp: Any,
        seed: int,
        rng: np.random.Generator,
        drawn: bool,
    ) -> Any:
        import torch

        if drawn:
            self.resolve(x, xp, overrides)
            shot, read = (
                torch.as_tensor(a, dtype=x.dtype, device=x.device) for a in self._drawn(rng, x)
            )
        else:
            shot, read = self._given(x, overrides, xp)
        generator = torch.Generator(device=x.device)
        generator.manual_seed(seed)
        z = torch.randn(tuple(x.shape), generator=generator, dtype=x.dtype, device=x.device)
        variance = torch.clamp(shot * x + read, min=0)
        return x + safe_power(variance, 0.5, xp) * z


class UPINoise(NoiseStage):
    """UPI noise (Brooks et al. 2019): ``ln(shot) ~ U(ln 1e-4, ln 0.012)``,
    ``ln(read) = 2.18·ln(shot) + 1.20 + N(0, 0.26)``; ``y = x + N(0, shot·x + read)``.

    Default given levels: the median draw, shot 1.1e-3, read 1.2e-6.
    """

    name = "upi_noise"
    model = "upi"
    draw_levels = staticmethod(draw_upi_levels)
    params = _params(1.1e-3, 1.2e-6)


class CycleISPNoise(NoiseStage):
    """CycleISP noise (reference code): UPI's constants in log10,
    ``log10(shot) ~ U(log10 1e-4, log10 0.012)``,
    ``log10(read) = 2.18·log10(shot) + 1.20 + N(0, 0.26)``: a noisier-read
    distribution than UPI's (see :mod:`plugins_builtin.noise.models`).

    Default given levels: the median draw, shot 1.1e-3, read 5.6e-6.
    """

    name = "cycleisp_noise"
    model = "cycleisp"
    draw_levels = staticmethod(draw_cycleisp_levels)
    params = _params(1.1e-3, 5.6e-6)


class SemiISPNoise(NoiseStage):
    """SemiISP noise (Yoshimura et al., "SemiISP/SemiIE", arXiv:2504.02345, 2025, §3.4
    Eq. 15 and appendix A.3): per image ``σ_s² ~ U(0, 0.01)``,
    ``σ_r² ~ U(0, 0.0002)``; ``y ~ N(x, σ_s²·x + σ_r²)``.

    Default given levels: the means, shot 5e-3, read 1e-4.
    """

    name = "semiisp_noise"
    model = "semiisp"
    draw_levels = staticmethod(draw_semiisp_levels)
    params = _params(5e-3, 1e-4)


NOISE_STAGES: tuple[type[NoiseStage], ...] = (UPINoise, CycleISPNoise, SemiISPNoise)
