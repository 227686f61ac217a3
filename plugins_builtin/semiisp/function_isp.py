"""The function ISP ``f_ISP(I; DNN(I))`` of SemiISP / PQDynamicISP.

:class:`FunctionISP` joins a pipeline of stages with declared parameters (by
default the shipped ``semiisp_function_isp.toml``: f_CS ∘ f_GM ∘ f_GA ∘ f_CC)
and the ``pqdynamic`` predictor of its free parameters. The forward runs the
stages' torch path, so it is differentiable and trainable; the inverse runs
the pipeline's registered inverses (the LUT inverse of f_GM by default) in
numpy with one global parameter set (SemiISP §3.1, Eq. 9).

Source: Yoshimura, Otsuka, Berdan, Ohashi, "SemiISP/SemiIE: Semi-Supervised Image Signal
Processor and Image Enhancement Leveraging One-to-Many Mapping sRGB-to-RAW",
arXiv:2504.02345, 2025 (SemiISP), §3.1 Eqs. 1–9
and appendix A.1.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ispengine.core.errors import InputError
from ispengine.core.pipeline import Pipeline
from ispengine.specs import resolve_spec
from plugins_builtin.semiisp.predictor import PQDynamicPredictor

DEFAULT_SPEC = "semiisp_function_isp"
ENHANCE_SPEC = "semiisp_enhance"


class FunctionISP:
    """A pipeline and the predictor of its free parameters.

    Args:
        spec: a pipeline spec (shipped name or path); its ``[predictor]`` table
            gives the predictor settings, which ``predictor_settings`` override.
        inverse: ``lut`` (the paper's table, finished by one Newton step; default) or
            ``exact`` (closed form): how f_GM / f_IT invert.
    """

    def __init__(
        self, spec: str | Path = DEFAULT_SPEC, *, inverse: str = "lut", **predictor_settings: Any
    ) -> None:
        path = resolve_spec(str(spec))
        data = _load(path)
        table = dict(data.get("predictor") or {"type": "pqdynamic"})
        if table.get("type") != "pqdynamic":
            raise InputError(f"{path}: the function ISP needs a [predictor] of type pqdynamic")
        table.update(predictor_settings)
        data["predictor"] = table
        for label in ("gamma_tone", "inverse_tone"):
            if label in data.get("inverse", {}):
                # LUT lookup + one safeguarded Newton step (ispengine.lut.table): float precision
                # also where a curve is steep (e.g. g1 = 4), where the lookup alone is ~1e-4.
                extra = {"global_newton_steps": 1} if inverse == "lut" else {}
                data["inverse"][label] = {"method": inverse, **extra}
        self.spec_path = path
        self.pipeline = Pipeline.from_dict(data, source=str(path))
        self.predictor: PQDynamicPredictor = self.pipeline.predictor
        self._inverse = self.pipeline.inverse()

    @property
    def params(self):
        return self.predictor.params

    @property
    def stages(self) -> dict[str, Any]:
        return {step.label: step.stage for step in self.pipeline.steps}

    # -- forward ----------------------------------------------------------
    def forward(self, x: Any, mode: str | None = None) -> Any:
        """``f_ISP(x; DNN(x))`` for an NHWC torch batch (differentiable)."""
        return self.pipeline(x, self.predictor.predict(x, mode), check=False, fuse=False)

    def forward_with(self, x: Any, params: Mapping[str, Mapping[str, Any]]) -> Any:
        """``f_ISP(x; P)`` with given parameters (numpy or torch)."""
        return self.pipeline(x, params, check=False, fuse=False)

    def render(self, image: np.ndarray, mode: str | None = None) -> np.ndarray:
        """``f_ISP(I; DNN(I))`` of one numpy image ``(H, W, 3)``, float32 (no gradient; run
        on the predictor network's device, returned on the host)."""
        import torch

        device = next(self.predictor.network.parameters()).device
        with torch.no_grad():
            batch = torch.as_tensor(np.asarray(image, dtype=np.float32), device=device)[None]
            return self.forward(batch, mode)[0].float().cpu().numpy()

    def global_params(self, image: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
        """One global-mode parameter set for a numpy image ``(H, W, 3)``."""
        return self.predictor(np.asarray(image, dtype=np.float32), mode="global")

    # -- inverse ----------------------------------------------------------
    def invert(self, srgb: np.ndarray, params: Mapping[str, Mapping[str, Any]]) -> np.ndarray:
        """``f_ISP⁻¹(srgb; P)`` for one global set ``P`` (numpy, float64)."""
        return self._inverse(np.asarray(srgb, dtype=np.float64), params, fuse=False)

    def module(self) -> Any:
        """A ``torch.nn.Module`` view: ``forward(x NHWC) -> sRGB NHWC``, training the
        predictor (what the semi-supervised trainer and ``run_training`` take)."""
        return _module_class()(self)


def _load(path: Path) -> dict[str, Any]:
    from ispengine.core.spec import load_spec_file

    return load_spec_file(path)


@functools.cache
def _module_class() -> type:
    from torch import nn

    class FunctionISPModule(nn.Module):
        """The function ISP as a module; its parameters are the predictor's."""

        def __init__(self, isp: FunctionISP) -> None:
            super().__init__()
            self.predictor = isp.predictor.network
            self._isp = isp

        def forward(self, x: Any) -> Any:
            return self._isp.forward(x)

    return FunctionISPModule
