"""Pipelines: configured stages in order, built from TOML or Python, with automatic inverses.

>>> from ispengine import Pipeline
>>> pipe = Pipeline.from_dict({"stage": [{"type": "gain", "params": {"p_h": 0.7}}]})
>>> import numpy as np
>>> x = np.full((2, 2, 3), 0.25)
>>> bool(np.allclose(pipe.inverse()(pipe(x)), x))
True

Before any stage runs, a call checks the input's layout against the first stage's
(:meth:`Pipeline.check_input_layout`): a mosaic pipeline refuses an RGB ``(H, W, 3)``
or packed RAW ``(H, W, 4)`` array at once instead of reading it as a batch of mosaics.
Spec size, nesting and stage-count limits are in :mod:`ispengine.core.spec`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from attrs import frozen

from ispengine.core.arrays import check_finite, check_image, namespace
from ispengine.core.errors import (
    InputError,
    ISPEngineError,
    ParamError,
    SpecError,
    UnknownComponentError,
)
from ispengine.core.registry import Registry
from ispengine.core.settings import resolve_paths, spec_folder, table_error
from ispengine.core.spec import SPACES, PipelineSpec, load_spec_file, parse_spec
from ispengine.core.stage import InverseStage, Stage
from ispengine.kernels.cuda.runtime import runs_on_device
from ispengine.kernels.fused_groups import DeviceCompileError, FusedGroup
from ispengine.kernels.fused_groups import segments as fused_segments

# What an input whose last axis has this many entries is, for a mosaic pipeline.
LAYOUT_NAMES = {3: "an RGB image (H, W, 3)", 4: "a packed RAW image (H, W, 4)"}


@frozen
class InverseChoice:
    """How one stage of a pipeline is inverted: the inverse class and its settings."""

    cls: type[InverseStage]
    settings: dict[str, Any]


@frozen
class Step:
    """A stage in a pipeline, with its label (unique within the pipeline)."""

    label: str
    stage: Stage


class Pipeline:
    """An ordered chain of configured stages.

    Build one with :meth:`from_toml`, :meth:`from_dict` or directly from stage
    instances. Call it on an image (numpy, torch or cupy; float32/float64);
    :meth:`inverse` returns the inverse pipeline (built with ``inverse_of``, the
    pipeline it inverts, so that :meth:`bind` binds the forward and inverts it).
    """

    def __init__(
        self,
        stages: Sequence[Stage | tuple[str, Stage]],
        *,
        name: str = "pipeline",
        input: str = "camera_rgb",
        output: str = "srgb",
        inverse_choices: Mapping[str, InverseChoice] | None = None,
        registry: Registry | None = None,
        source: str = "<python>",
        bindings: Mapping[str, Mapping[str, str]] | None = None,
        inverse_of: Pipeline | None = None,
        input_geometry: Mapping[str, Any] | None = None,
    ) -> None:
        steps = []
        used: set[str] = set()  # a set: checking each label against a list was quadratic
        for item in stages:
            label, stage = item if isinstance(item, tuple) else (item.name, item)
            if label in used:
                label = f"{label}_{len(steps) + 1}"
            used.add(label)
            steps.append(Step(label, stage if registry is None else stage.with_registry(registry)))
        if not steps:
            raise SpecError("a pipeline needs at least one stage", source=source)
        self.steps: tuple[Step, ...] = tuple(steps)
        self.name = name
        self.input = input
        self.output = output
        self.source = source
        self.inverse_choices = dict(inverse_choices or {})
        for key, space in (("input", input), ("output", output)):
            if space not in SPACES:
                raise SpecError(
                    f"unknown colour space {space!r} (known: {', '.join(SPACES)})",
                    source=source,
                    key=key,
                )
        # How a headerless sensor dump fed to this pipeline is laid out (the spec's
        # ``[input]`` table, see :mod:`ispengine.core.spec`); None when not declared.
        self.input_geometry: dict[str, Any] | None = (
            dict(input_geometry) if input_geometry else None
        )
        self._registry = registry
        # The forward pipeline this one inverts: binding metadata binds it, then inverts.
        self._inverse_of = inverse_of
        self._groups: list[tuple[int, FusedGroup | None]] | None = None
        # Stage values taken from each input's metadata: {label: {param or option: key}}.
        self.bindings: dict[str, dict[str, str]] = {
            label: dict(b) for label, b in (bindings or {}).items() if b
        }
        unknown = sorted(set(self.bindings) - {s.label for s in self.steps})
        if unknown:
            raise SpecError(f"from_metadata: no stage is labelled {unknown[0]!r}", source=source)
        # A parameter predictor (``[predictor]`` table) fills the free parameters of
        # every call that passes no ``params``; see :mod:`ispengine.core.predictor`.
        self.predictor: Any = None
        self._check_layouts()

    # -- construction ---------------------------------------------------------
    @classmethod
    def from_toml(cls, path: str | Path, *, registry: Registry | None = None) -> Pipeline:
        """Load and validate a TOML spec file."""
        return cls.from_dict(load_spec_file(path), source=str(path), registry=registry)

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, source: str = "<dict>", registry: Registry | None = None
    ) -> Pipeline:
        """Build from a spec dict with the same schema as the TOML files."""
        if not isinstance(data, Mapping):
            raise SpecError(f"a spec is a table (dict), got {type(data).__name__}", source=source)
        return cls.from_spec(parse_spec(dict(data), source), registry=registry)

    @classmethod
    def from_spec(cls, spec: PipelineSpec, *, registry: Registry | None = None) -> Pipeline:
        registry = registry or _default_registry()
        base = spec_folder(spec.source)
        steps = []
        for entry in spec.stages:
            at = {"source": spec.source, "stage_index": entry.index, "stage_type": entry.type}
            try:
                record = registry.get("stage", entry.type)
            except UnknownComponentError as error:
                if entry.type not in registry.names("filter"):
                    raise SpecError(str(error), key="type", **at) from None
                record = registry.get("filter", entry.type)
            stage = _build(lambda r=record, e=entry: _configured(r.cls, e.params, base), at)
            settable = {p.name for p in stage.params} | {o.name for o in stage.options}
            for name in entry.from_metadata:
                if name not in settable:
                    raise SpecError(
                        f"{entry.type!r} has no parameter or option {name!r} "
                        f"(known: {', '.join(sorted(settable)) or 'none'})",
                        key=f"from_metadata.{name}",
                        **at,
                    )
            missing = [m for m in stage.missing_params() if m not in entry.from_metadata]
            if missing:
                spec_ = stage.param_spec(missing[0])
                raise SpecError(
                    f"missing required parameter (range {spec_.range_text()})",
                    key=f"params.{missing[0]}",
                    **at,
                )
            steps.append((entry.label, stage))
        choices = {}
        for label, inverse in spec.inverse.items():
            entry = next(e for e in spec.stages if e.label == label)
            at = {
                "source": spec.source,
                "stage_index": entry.index,
                "stage_type": entry.type,
                "key": f"inverse.{label}",
            }
            records = registry.inverses_of(entry.type)
            if not records:
                raise SpecError("this stage has no registered inverse", **at)
            if inverse.method is not None:
                records = [r for r in records if r.method == inverse.method]
                if not records:
                    available = ", ".join(registry.inverse_kinds(entry.type))
                    raise SpecError(f"no {inverse.method!r} inverse (available: {available})", **at)
            chosen = records[0].cls
            settings = _build(
                lambda c=chosen, s=inverse.settings: c.coerce_settings(
                    s, base=spec_folder(spec.source)
                ),
                {k: v for k, v in at.items() if k != "key"},
                prefix=f"{at['key']}.",
            )
            choices[label] = InverseChoice(chosen, settings)
        pipeline = cls(
            steps,
            name=spec.name,
            input=spec.input,
            output=spec.output,
            inverse_choices=choices,
            registry=registry,
            source=spec.source,
            bindings={e.label: e.from_metadata for e in spec.stages},
            input_geometry=spec.input_geometry,
        )
        if spec.predictor is not None:
            pipeline.predictor = _build_predictor(pipeline, spec, registry)
        return pipeline

    def _check_layouts(self) -> None:
        expected = SPACES.get(self.input, "rgb")
        for index, step in enumerate(self.steps, start=1):
            if step.stage.input_layout != expected:
                raise SpecError(
                    f"expects {step.stage.input_layout} input but receives {expected} "
                    f"(from {'the pipeline input' if index == 1 else 'the previous stage'})",
                    source=self.source,
                    stage_index=index,
                    stage_type=step.stage.name,
                )
            expected = step.stage.output_layout
        if SPACES.get(self.output, "rgb") != expected:
            raise SpecError(
                f"pipeline output {self.output!r} needs {SPACES[self.output]} data "
                f"but the last stage gives {expected}",
                source=self.source,
                key="output",
            )

    # -- application ----------------------------------------------------------
    @property
    def stages(self) -> tuple[Stage, ...]:
        return tuple(step.stage for step in self.steps)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(step.label for step in self.steps)

    def __call__(
        self,
        x: Any,
        params: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        check: bool = True,
        fuse: bool = True,
        metadata: Mapping[str, Any] | None = None,
        out_dtype: Any = None,
    ) -> Any:
        """Run every stage in order.

        Args:
            x: the input image (layout of the pipeline's ``input`` space), or a
                :class:`~ispengine.io.raw.RawImage`, whose mosaic is the input and
                whose :meth:`~ispengine.io.raw.RawImage.metadata` fills the
                ``from_metadata`` values.
            params: per-call values by stage label, e.g. per-image arrays or
                per-pixel maps from a predictor; they override the constants.
            check: reject NaN/Inf inputs (one pass over the image).
            fuse: run runs of two or more pixelwise stages with constant
                parameters as one compiled pass (numpy inputs, Numba installed;
                see :mod:`ispengine.kernels.fused`). Results equal the stage-by-stage ones
                to rounding.
            metadata: values for the stages' ``from_metadata`` bindings (e.g.
                ``raw.metadata()``), when ``x`` is an array.
            out_dtype: the output type: ``None`` (as computed: the input's float
                type, float32 for RAW numbers), ``np.float32``, ``np.float64``,
                ``np.float16``, or ``np.uint8``/``np.uint16``, quantised as
                :func:`~ispengine.io.image_files.write_image` does (``round(clip(v,
                0, 1) · (2^bits − 1))``, see :mod:`ispengine.kernels.output`). A fused
                last group writes it in the same pass; otherwise the result is
                converted afterwards, with the same values. numpy results only.
                :meth:`render` also returns the number of clipped values.
        """
        from ispengine.io.raw.image import RawImage
        from ispengine.kernels.output import OutputRequest, output_dtype

        if out_dtype is not None and not isinstance(out_dtype, OutputRequest):
            out_dtype = OutputRequest(output_dtype(out_dtype))

        if isinstance(x, RawImage):
            metadata = {**x.metadata(), **(metadata or {})}
        else:
            self.check_input_layout(x)
        if self.bindings:
            metadata = self._require_metadata(metadata)
            bound = self.bind(metadata)
            return bound(x, params, check=check, fuse=fuse, metadata=metadata, out_dtype=out_dtype)
        if isinstance(x, RawImage):
            if fuse and not params and self.predictor is None and self._takes_raw_numbers(x.mosaic):
                return self._run_stages(
                    x.mosaic, {}, fuse=True, raw_numbers=True, request=out_dtype
                )
            x = np.asarray(x.mosaic, dtype=np.float32 if x.mosaic.itemsize <= 2 else np.float64)
        params = self._call_params(x, params, metadata)
        if check:
            check_finite(x, namespace(x), where=f"{self.name} input")
        fuse = fuse and not params and (isinstance(x, np.ndarray) or runs_on_device(x))
        return self._run_stages(x, params, fuse=fuse, request=out_dtype)

    def render(self, x: Any, out_dtype: Any, params: Any = None, **options: Any) -> tuple[Any, int]:
        """``(self(x, params, out_dtype=out_dtype, **options), clipped)``: the output in
        ``out_dtype`` and how many values quantising it clipped to [0, 1] (0 for float
        types); what ``ispengine run`` writes to 8/16-bit files."""
        from ispengine.kernels.output import OutputRequest, output_dtype

        request = OutputRequest(output_dtype(out_dtype))
        image = self(x, params, out_dtype=request, **options)
        return image, request.clipped

    def check_input_layout(self, x: Any) -> None:
        """Refuse, before any stage runs, an input whose layout is not the first stage's.

        For a mosaic pipeline (``(H, W)``, or a batch ``(N, H, W)``), an array of three
        or more axes whose last axis has 3 entries is an RGB image ``(H, W, 3)`` (a
        mosaic's width is even), and one whose last axis has 4 entries and whose
        second-to-last more is a packed RAW image ``(H, W, 4)``, not a batch of
        mosaics 4 samples wide and taller than that; both are refused with an
        :class:`InputError` naming the two layouts. Other layouts are checked by the
        first stage, whose message already names the expected shape."""
        shape = tuple(getattr(x, "shape", ()))
        if self.steps[0].stage.input_layout != "mosaic" or len(shape) < 3:
            return
        if shape[-1] == 3 or (shape[-1] == 4 and shape[-2] > 4):
            raise InputError(
                f"{self.name} expects a RAW mosaic (H, W) or a batch of them (N, H, W), "
                f"got {LAYOUT_NAMES[shape[-1]]} of shape {shape}"
            )

    def _require_metadata(self, metadata: Mapping[str, Any] | None) -> Mapping[str, Any]:
        """``metadata``, which a pipeline with ``from_metadata`` bindings cannot run without."""
        if metadata is None:
            label, names = next(iter(self.bindings.items()))
            raise ParamError(
                f"stage {label!r} takes {', '.join(names)} from the input's metadata; "
                "pass a RawImage or metadata=..."
            )
        return metadata

    def _call_params(
        self,
        x: Any,
        params: Mapping[str, Mapping[str, Any]] | None,
        metadata: Mapping[str, Any] | None = None,
    ) -> dict[str, Mapping[str, Any]]:
        """The per-call values by label: ``params``, else the predictor's for ``x`` (and
        the input's ``metadata``, for a predictor that declares it reads it)."""
        if self.predictor is not None and not params:
            if self.predictor.reads_metadata:
                params = self.predictor(x, metadata=dict(metadata or {}))
            else:
                params = self.predictor(x)
        params = dict(params or {})
        unknown = sorted(set(params) - set(self.labels))
        if unknown:
            raise ParamError(
                key="params",
                message=f"no stage is labelled {unknown[0]!r} (labels: {', '.join(self.labels)})",
            )
        return params

    def _takes_raw_numbers(self, mosaic: np.ndarray) -> bool:
        """Whether a mosaic of unsigned raw numbers can go straight into the fused camera
        front end that starts this pipeline (no float copy first; integers need no
        finiteness check)."""
        if mosaic.dtype.kind != "u" or min(mosaic.shape[-2:]) <= 2:
            return False
        group = self._fused_groups()[0][1]
        return group is not None and group.starts_on_mosaic

    def _run_stages(
        self,
        x: Any,
        params: Mapping[str, Mapping[str, Any]],
        *,
        fuse: bool,
        raw_numbers: bool = False,
        request: Any = None,
    ) -> Any:
        """Run every stage in order, fused groups where ``fuse``; errors name the stage.

        ``raw_numbers``: ``x`` is a mosaic of unsigned raw numbers checked by
        :meth:`_takes_raw_numbers`, which the first (fused) group reads directly.
        ``request``: an :class:`~ispengine.kernels.output.OutputRequest`, written by a
        fused last group or converted at the end.
        """
        groups = self._fused_groups() if fuse else [(i, None) for i in range(len(self.steps))]
        for first, group in groups:
            try:
                if group is None:
                    step = self.steps[first]
                    x = step.stage(x, params.get(step.label))
                else:
                    fused = None
                    if (raw_numbers or _fusable(self.steps[first].stage, x)) and group.accepts(x):
                        last = first + group.size == len(self.steps)
                        with contextlib.suppress(DeviceCompileError):  # CUDA cannot compile it
                            fused = group.run(x, request if last else None)
                    if fused is None:  # too small for the fused kernels, or not on the device
                        for step in self.steps[first : first + group.size]:
                            x = step.stage(x, params.get(step.label))
                    else:
                        x = fused
            except (InputError, ParamError) as error:
                raise type(error)(
                    f"stage {first + 1} ({self.steps[first].label}): {error}"
                ) from None
            raw_numbers = False
        return x if request is None else request.finish(x)

    def _fused_groups(self) -> list[tuple[int, FusedGroup | None]]:
        """How the stages run with fusion (computed once; see
        :func:`ispengine.kernels.fused_groups.segments`)."""
        if self._groups is None:
            self._groups = fused_segments(self.stages)
        return self._groups

    def bind(self, metadata: Mapping[str, Any]) -> Pipeline:
        """This pipeline with every ``from_metadata`` value taken from ``metadata``.

        A value ``metadata`` lacks stays unknown when it is bound to an option that
        may be absent (default ``None``, e.g. a capture parameter the file's EXIF
        does not give); for anything else it is an error.

        An inverse pipeline (from :meth:`inverse`) binds the forward pipeline and
        inverts the result. Raises :class:`ParamError` naming the stage when a key
        is missing or a value is outside the parameter's declared range.
        """
        if self._inverse_of is not None and self.bindings:
            return self._inverse_of.bind(metadata).inverse()
        steps = []
        for index, step in enumerate(self.steps, start=1):
            names = self.bindings.get(step.label)
            if not names:
                steps.append((step.label, step.stage))
                continue
            stage = step.stage
            values = stage.constants() | stage.config
            optional = {o.name for o in stage.options if not o.required and o.default is None}
            for name, key in names.items():
                if key not in metadata and name in optional:
                    continue  # an option that may be unknown (e.g. a missing EXIF field)
                if key not in metadata:
                    raise ParamError(
                        f"stage {index} ({step.label}): {name} comes from metadata {key!r}, "
                        "which the input does not have"
                    )
                values[name] = metadata[key]
            try:
                if isinstance(stage, InverseStage):
                    bound = type(stage).from_forward(
                        type(stage.forward_stage)(**values), **stage.inverse_config
                    )
                else:
                    bound = type(stage)(**values)
            except ParamError as error:
                raise ParamError(f"stage {index} ({step.label}), from metadata: {error}") from None
            bound.given = stage.given
            steps.append((step.label, bound))
        bound_pipeline = Pipeline(
            steps,
            name=self.name,
            input=self.input,
            output=self.output,
            inverse_choices=self.inverse_choices,
            registry=self._registry,
            source=self.source,
        )
        bound_pipeline.predictor = self.predictor
        return bound_pipeline

    def inverse(self) -> Pipeline:
        """The inverse pipeline: each stage's registered inverse, in reverse order.

        A stage's inverse is the one chosen in its ``[inverse.<label>]`` table, or
        the most accurate registered one (exact, then lut, numerical, learned).
        Raises :class:`ISPEngineError` naming the first stage without an inverse.
        """
        registry = self._registry or _default_registry()
        steps = []
        for index in range(len(self.steps), 0, -1):
            step = self.steps[index - 1]
            stage = step.stage
            if isinstance(stage, InverseStage):
                steps.append((step.label, stage.forward_stage))
                continue
            choice = self.inverse_choices.get(step.label)
            if choice is None:
                records = registry.inverses_of(stage.name)
                if not records:
                    raise ISPEngineError(
                        f"{self.source}: stage {index} ({stage.name}) has no registered inverse "
                        "(inverse kind: none); the pipeline cannot be inverted"
                    )
                choice = InverseChoice(records[0].cls, {})
            steps.append((step.label, choice.cls.from_forward(stage, **choice.settings)))
        inverse = Pipeline(
            steps,
            name=f"{self.name}-inverse",
            input=self.output,
            output=self.input,
            registry=registry,
            source=self.source,
            bindings=self.bindings,
            inverse_of=self,
        )
        return inverse

    def __repr__(self) -> str:
        chain = " -> ".join(f"{s.label}:{s.stage.name}" for s in self.steps)
        return f"Pipeline({self.name!r}: {self.input} -> [{chain}] -> {self.output})"


def _build_predictor(pipeline: Pipeline, spec: PipelineSpec, registry: Registry) -> Any:
    """The ``[predictor]`` table's predictor for ``pipeline``; its path settings
    (``weights``) are relative to the spec file's folder."""
    settings = {k: v for k, v in spec.predictor.items() if k != "type"}
    try:
        record = registry.get("param_predictor", spec.predictor["type"])
    except UnknownComponentError as error:
        raise SpecError(str(error), source=spec.source, key="predictor.type") from None
    settings = resolve_paths(record.cls.settings, settings, spec_folder(spec.source))
    try:
        return record.cls(pipeline, **settings)
    except ParamError as error:
        raise table_error(error, spec.source, "predictor.") from None


def _fusable(stage: Stage, x: np.ndarray) -> bool:
    """Check ``x`` like ``stage`` would; False when a mosaic is too small to fuse."""
    check_image(x, stage.input_layout, need_even=stage.needs_even_size)
    return stage.input_layout != "mosaic" or min(x.shape[-2:]) > 2


def _default_registry() -> Registry:
    from ispengine.core.plugins import get_registry

    return get_registry()


def _configured(cls: type[Stage], params: Mapping[str, Any], base: Path | None = None) -> Stage:
    """A stage from spec constants: each exactly its declared shape (or one number);
    relative path options resolve against ``base`` (the spec file's folder)."""
    for spec in cls.params:
        if spec.name in params:
            spec.coerce_constant(params[spec.name])
    return cls(**resolve_paths(cls.options, params, base))


def _build(make: Any, at: dict[str, Any], prefix: str = "params.") -> Any:
    try:
        return make()
    except ParamError as error:
        key = f"{prefix}{error.key}" if error.key is not None else None
        raise SpecError(error.message, key=key, **at) from None
