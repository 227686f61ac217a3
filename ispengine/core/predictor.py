"""The parameter-predictor interface: a network that predicts a pipeline's stage parameters.

A predictor serves any :class:`~ispengine.core.pipeline.Pipeline` whose stages
declare their parameters (:class:`~ispengine.core.params.ParamSpec`). It predicts
every declared parameter the pipeline leaves free: parameters given as
constants (in the TOML ``params`` table or to the stage's constructor) and
values bound ``from_metadata`` are kept; everything else is predicted
(the DNN encoder ``P = DNN(Resize(I_R))`` of M. Yoshimura, J. Otsuka, T. Ohashi,
"PQDynamicISP: Dynamically Controlled Image Signal Processor for Any Image Sensors
Pursuing Perceptual Quality", arXiv:2403.10091, 2024, as used by Yoshimura et al.,
"SemiISP/SemiIE", arXiv:2504.02345, 2025, §3.1, Eqs. 1–2).

Outputs are squashed into each parameter's declared range,
``low + (high − low) · sigmoid(z)``, so a prediction is always valid for the
stage; a raw output of 0 gives the middle of the range, and :func:`unsquash`
gives the raw value of any in-range value (predictors start at the declared
defaults this way).

Plugins register subclasses of :class:`ParamPredictor` through
``ispengine_register_param_predictors``. A predictor is built for one pipeline
(``Predictor(pipeline, **settings)``); calling it on an image returns the
per-call ``params`` argument of :meth:`Pipeline.__call__`:
``{stage label: {parameter name: array}}``, per image (``batch + shape``) in
global mode or per pixel (``batch + (H, W) + shape``) in local mode.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from attrs import frozen

from ispengine.core.errors import ParamError
from ispengine.core.params import ParamSpec
from ispengine.core.settings import SettingBase, coerce_table

if TYPE_CHECKING:
    from ispengine.core.pipeline import Pipeline

# sigmoid outputs are kept this far inside (0, 1) so ``unsquash`` stays finite
# at the range ends.
SQUASH_MARGIN = 1e-6


@frozen
class PredictedParam:
    """One predicted parameter: where it lives in the pipeline and in the output vector.

    Attributes:
        label: the stage's label in the pipeline.
        spec: the stage's declaration of the parameter.
        offset: index of its first element in the flat prediction vector.
    """

    label: str
    spec: ParamSpec
    offset: int

    @property
    def size(self) -> int:
        return self.spec.size

    @property
    def key(self) -> str:
        """``label.name``, the parameter's name in saved banks and reports."""
        return f"{self.label}.{self.spec.name}"


def predicted_params(pipeline: Pipeline) -> tuple[PredictedParam, ...]:
    """The parameters of ``pipeline`` a predictor must produce, in stage order.

    Every declared parameter except constants given explicitly and
    ``from_metadata`` bindings. Raises :class:`ParamError` when nothing is left.
    """
    found: list[PredictedParam] = []
    offset = 0
    for step in pipeline.steps:
        bound = set(pipeline.bindings.get(step.label, {}))
        for spec in step.stage.params:
            if spec.name in step.stage.given or spec.name in bound:
                continue
            found.append(PredictedParam(step.label, spec, offset))
            offset += spec.size
    if not found:
        raise ParamError(
            f"pipeline {pipeline.name!r}: every stage parameter is a constant; "
            "there is nothing to predict"
        )
    return tuple(found)


def squash(raw: Any, spec: ParamSpec, xp: Any) -> Any:
    """``low + (high − low) · sigmoid(raw)``, kept :data:`SQUASH_MARGIN` inside the range."""
    low, high = spec.low, spec.high
    unit = 1 / (1 + xp.exp(-raw))
    unit = SQUASH_MARGIN + (1 - 2 * SQUASH_MARGIN) * unit
    return low + (high - low) * unit


def unsquash(value: Any, spec: ParamSpec) -> np.ndarray:
    """The raw output whose :func:`squash` is ``value`` (clipped into the range)."""
    value = np.asarray(value, dtype=np.float64)
    width = spec.high - spec.low
    if width == 0:
        return np.zeros_like(value)
    unit = (np.clip(value, spec.low, spec.high) - spec.low) / width
    unit = (unit - SQUASH_MARGIN) / (1 - 2 * SQUASH_MARGIN)
    unit = np.clip(unit, SQUASH_MARGIN, 1 - SQUASH_MARGIN)
    return np.log(unit) - np.log1p(-unit)


def default_vector(params: tuple[PredictedParam, ...], pipeline: Pipeline) -> np.ndarray:
    """The raw outputs that give each parameter its current stage value (its default)."""
    stages = {step.label: step.stage for step in pipeline.steps}
    parts = []
    for item in params:
        value = stages[item.label].values[item.spec.name]
        if value is None:  # required parameter without a default: the middle of its range
            value = np.full(item.spec.shape, (item.spec.low + item.spec.high) / 2)
        parts.append(unsquash(np.broadcast_to(value, item.spec.shape), item.spec).ravel())
    return np.concatenate(parts)


def split_vector(vector: Any, params: tuple[PredictedParam, ...], xp: Any) -> dict:
    """Squash a raw vector ``(..., n)`` into ``{label: {name: (..., *shape)}}``."""
    lead = tuple(vector.shape[:-1])
    out: dict[str, dict[str, Any]] = {}
    for item in params:
        raw = vector[..., item.offset : item.offset + item.size]
        value = squash(xp.reshape(raw, lead + item.spec.shape), item.spec, xp)
        out.setdefault(item.label, {})[item.spec.name] = value
    return out


class ParamPredictor:
    """Base class of parameter predictors (see the module docstring).

    Class attributes a subclass sets:
        name: registry name, lower-case.
        summary: one line for listings.
        settings: declared constructor keywords (:mod:`ispengine.core.settings`), given
            in a pipeline's ``[predictor]`` table; their checked values are
            ``predictor.config``. ``mode`` (``global`` or ``local``) and ``weights``
            (a :class:`~ispengine.core.settings.PathSetting`, relative to the spec
            file's folder) are the usual ones.
        reads_metadata: the predictor also reads the input's metadata (the keys of
            :meth:`~ispengine.io.raw.RawImage.metadata`: capture parameters, colour
            data); a pipeline then calls it as ``predictor(image, metadata=...)``.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    settings: ClassVar[tuple[SettingBase, ...]] = ()
    reads_metadata: ClassVar[bool] = False

    def __init__(self, pipeline: Pipeline, **settings: Any) -> None:
        self.config: dict[str, Any] = coerce_table(
            self.settings, settings, f"parameter predictor '{self.name}'"
        )
        self.pipeline = pipeline
        self.params = predicted_params(pipeline)

    @property
    def size(self) -> int:
        """Length of the flat prediction vector."""
        last = self.params[-1]
        return last.offset + last.size

    def __call__(self, image: Any, *, mode: str | None = None) -> dict[str, dict[str, Any]]:
        """Parameters for ``image`` (``(H, W, C)`` or ``(B, H, W, C)``; numpy or torch)."""
        raise NotImplementedError

    def load_weights(self, path: str | Path) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config}, predicts {len(self.params)} parameters)"


def check_mode(mode: str) -> str:
    if mode not in ("global", "local"):
        raise ParamError(key="mode", message=f"expected global or local, got {mode!r}")
    return mode
