"""Every declared fast form of every registered stage equals the stage's ``apply``.

For each registered stage, inverse stage and filter, and each form in its
``capabilities`` (:mod:`ispengine.core.capabilities`), the form is evaluated
directly (plain Python calls of the kernel functions, in float64 as the fused
kernels compute) on Hypothesis-drawn constants over the declared ranges and a
small image, and compared with ``apply``. Derivatives are checked against
central finite differences of ``apply``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ispengine import ParamError, Pipeline, PluginHost, get_registry, hookimpl
from ispengine.core.capabilities import Capabilities, ScalarCurve
from ispengine.core.params import PER_CHANNEL, ParamSpec
from ispengine.core.stage import InverseStage, Stage
from ispengine.kernels.fused import constant_channel_params
from ispengine.lut.backend import ArrayLutBackend
from ispengine.lut.inverse import lut_inverse_of

FORMS = ("scalar", "channel", "pixel", "cfa_affine", "cfa_clip", "demosaic", "derivative")
# Settings for which a form declines (returns None) by design, so the stage runs
# unfused: {(stage, form): {option: values}}. Every other setting must give a value.
DECLINED = {
    ("highlights", "cfa_clip"): {"mode": ("blend",)},
    ("brightness_contrast", "pixel"): {"pivot": ("median",)},
    ("brightness_contrast_inverse", "pixel"): {"pivot": ("median",)},
}
KINDS = ("stage", "inverse_stage", "filter")
TOLERANCE = 1e-9  # float64, relative to max(1, |apply|)
# Per-stage tolerances where a form is an approximation by design: the sRGB curves
# run from tables interpolated in sqrt space, whose error is below 5e-9
# (ispengine.kernels.curve_table's measured bound).
TABLE_TOLERANCE = 1e-8
TABLE_STAGES = {"srgb_oetf", "srgb_eotf", "srgb_oetf_inverse", "srgb_eotf_inverse"}
# Central differences with a step of 1e-5·x: truncation ~1e-10 and rounding ~1e-11
# relative for the smooth curves here, so 1e-6 leaves a wide margin.
DERIVATIVE_TOLERANCE = 1e-6

CLASSES = {record.name: record.cls for kind in KINDS for record in get_registry().records(kind)}
CASES = [
    (name, form) for name, cls in sorted(CLASSES.items()) for form in cls.capabilities.offered()
]
SLOW = {
    name for name, cls in CLASSES.items() if issubclass(cls, InverseStage) and cls.method == "lut"
}


def test_the_built_ins_offer_every_form():
    """The generic test below covers each kind of form at least once."""
    assert {form for _, form in CASES} == set(FORMS)


def test_capabilities_list_what_is_offered():
    def curve(x, a):
        return x * a

    assert Capabilities().offered() == ()
    assert Capabilities(scalar=ScalarCurve(curve)).offered() == ("scalar",)


@st.composite
def configured(draw: st.DrawFn, cls: type[Stage]) -> Stage:
    """A stage of ``cls`` with constants drawn over the declared ranges."""
    values = {
        spec.name: draw(
            hnp.arrays(
                np.float64,
                spec.shape,
                elements=st.floats(spec.low, spec.high, allow_nan=False, allow_infinity=False),
            )
        )
        for spec in cls.params
    }
    options = {
        option.name: draw(st.sampled_from(option.choices))
        for option in cls.options
        if hasattr(option, "choices")
    }
    try:
        return cls(**values, **options)
    except ParamError:
        reject()


def _image(draw: st.DrawFn, stage: Stage, height: int, width: int) -> np.ndarray:
    """An input in the stage's domain; an inverse gets its forward stage's output."""
    if isinstance(stage, InverseStage):
        return stage.forward_stage(_image(draw, stage.forward_stage, height, width))
    low, high = stage.input_domain()
    shape = (height, width) if stage.input_layout == "mosaic" else (height, width, 3)
    elements = st.floats(low, high, allow_nan=False, allow_infinity=False)
    return draw(hnp.arrays(np.float64, shape, elements=elements))


@st.composite
def examples(draw: st.DrawFn, cls: type[Stage]) -> tuple[Stage, np.ndarray]:
    stage = draw(configured(cls))
    if stage.input_layout == "mosaic":
        height, width = (2 * draw(st.integers(2, 3)) for _ in range(2))
    else:
        height, width = (draw(st.integers(1, 4)) for _ in range(2))
    return stage, _image(draw, stage, height, width)


def _per_value(x: np.ndarray, function: object) -> np.ndarray:
    out = np.empty_like(x)
    for index in np.ndindex(x.shape[:-1]):
        for c in range(3):
            out[index + (c,)] = function(float(x[index + (c,)]), c)
    return out


def _scalar(stage: Stage, x: np.ndarray) -> np.ndarray:
    forward = stage.capabilities.scalar.forward
    rows = constant_channel_params(stage)
    assert rows is not None, "a scalar curve's parameters must be scalar or per channel"
    if stage.odd_symmetric:
        return _per_value(x, lambda v, c: math.copysign(forward(abs(v), *rows[c]), v))
    return _per_value(x, lambda v, c: forward(v, *rows[c]))


def _channel(stage: Stage, x: np.ndarray) -> np.ndarray:
    form = stage.capabilities.channel
    packed = form.pack(stage)
    assert packed is not None, "constant parameters must pack"
    packed = np.asarray(packed, dtype=np.float64)
    width = packed.shape[-1]
    flat = packed.ravel()
    return _per_value(x, lambda v, c: form.kernel(v, flat, c * width))


def _pixel(stage: Stage, x: np.ndarray) -> np.ndarray:
    form = stage.capabilities.pixel
    packed = form.pack(stage)
    declined = DECLINED.get((stage.name, "pixel"), {})
    if any(stage.config.get(name) in values for name, values in declined.items()):
        assert packed is None, "a declined setting must not pack"
        return None
    assert packed is not None, "constant parameters must pack"
    flat = np.ravel(np.asarray(packed, dtype=np.float64))
    kernel = form.resolve()
    out = np.empty_like(x)
    for index in np.ndindex(x.shape[:-1]):
        r, g, b = (float(v) for v in x[index])
        out[index] = kernel(r, g, b, flat, 0)
    return out


def _cfa_affine(stage: Stage, x: np.ndarray) -> np.ndarray:
    coefficients = stage.capabilities.cfa_affine(stage)
    assert coefficients is not None, "constant parameters must give coefficients"
    scale, offset = (np.asarray(c, dtype=np.float64) for c in coefficients)
    assert scale.shape == offset.shape == (2, 2)
    cells = (x.shape[0] // 2, x.shape[1] // 2)
    return x * np.tile(scale, cells) + np.tile(offset, cells)


def _cfa_clip(stage: Stage, x: np.ndarray) -> np.ndarray | None:
    high = stage.capabilities.cfa_clip(stage)
    declined = DECLINED.get((stage.name, "cfa_clip"), {})
    if any(stage.config.get(name) in values for name, values in declined.items()):
        assert high is None, "a declined setting must not give a bound"
        return None
    assert high is not None, "constant parameters must give a bound"
    high = np.broadcast_to(np.asarray(high, dtype=np.float64), (2, 2))
    cells = (x.shape[0] // 2, x.shape[1] // 2)
    return np.minimum(x, np.tile(high, cells))


def _demosaic(stage: Stage, x: np.ndarray) -> np.ndarray:
    form = stage.capabilities.demosaic
    estimates = form.estimates()
    sites = form.site_table(stage)
    padded = np.pad(x, 2, mode="reflect")
    out = np.empty(x.shape + (3,))
    for i, j in np.ndindex(x.shape):
        green, row, column, cross = estimates(padded, i + 2, j + 2)
        c = x[i, j]
        out[i, j] = (
            (c, green, cross),
            (row, c, column),
            (column, c, row),
            (cross, green, c),
        )[int(sites[i % 2, j % 2])]
    return out


RUN = {
    "scalar": _scalar,
    "channel": _channel,
    "pixel": _pixel,
    "cfa_affine": _cfa_affine,
    "cfa_clip": _cfa_clip,
    "demosaic": _demosaic,
}


def _reference(stage: Stage, x: np.ndarray, form: str) -> np.ndarray:
    """``apply`` through the array API. numpy demosaicing takes the compiled path built
    from the very estimates under test, so that form is compared with torch's."""
    if form == "demosaic":
        torch = pytest.importorskip("torch")
        return stage(torch.from_numpy(x)).numpy()
    return stage(x)


def _assert_close(got: np.ndarray, want: np.ndarray, tolerance: float, what: str) -> None:
    error = np.abs(got - want) / np.maximum(1.0, np.abs(want))
    assert float(np.max(error, initial=0.0)) <= tolerance, (what, float(np.max(error)))


@pytest.mark.parametrize(("name", "form"), [case for case in CASES if case[1] in RUN])
def test_form_equals_apply(name: str, form: str) -> None:
    cls = CLASSES[name]
    tolerance = TABLE_TOLERANCE if name in TABLE_STAGES else TOLERANCE

    @settings(
        max_examples=8 if name in SLOW else 30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(examples(cls))
    def check(example: tuple[Stage, np.ndarray]) -> None:
        stage, x = example
        got = RUN[form](stage, x)
        if got is None:  # a setting the form declines (DECLINED): checked in the form
            return
        _assert_close(got, _reference(stage, x, form), tolerance, repr(stage))

    check()


def _finite_difference(stage: Stage, x: np.ndarray) -> np.ndarray:
    p = stage.resolve(x, np)
    step = 1e-5 * np.abs(x)
    return (stage.apply(x + step, p, np) - stage.apply(x - step, p, np)) / (2 * step)


@st.composite
def derivative_examples(draw: st.DrawFn, cls: type[Stage]) -> tuple[Stage, np.ndarray]:
    """A stage and values inside its domain, at least 1e-3 from 0 (where power curves
    have no finite derivative) and from the domain's ends."""
    stage = draw(configured(cls))
    low, high = stage.input_domain()
    magnitude = st.floats(1e-3, 0.999 * max(abs(low), abs(high)))
    signs = st.sampled_from((-1.0, 1.0) if low < 0 else (1.0,))
    values = draw(st.lists(st.tuples(signs, magnitude), min_size=1, max_size=12))
    x = np.array([s * m for s, m in values] * 3, dtype=np.float64).reshape(-1, 1, 3)
    return stage, x


DERIVATIVE_CASES = sorted({name for name, form in CASES if form in ("derivative", "scalar")})


@pytest.mark.parametrize("name", DERIVATIVE_CASES)
def test_derivatives_match_finite_differences(name: str) -> None:
    cls = CLASSES[name]
    forms = cls.capabilities

    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(derivative_examples(cls))
    def check(example: tuple[Stage, np.ndarray]) -> None:
        stage, x = example
        expected = _finite_difference(stage, x)
        what = repr(stage)
        if forms.derivative is not None:
            got = forms.derivative(stage, x, stage.resolve(x, np), np)
            _assert_close(got, expected, DERIVATIVE_TOLERANCE, what)
        scalar = forms.scalar
        if scalar is None or scalar.derivative is None:
            return
        rows = constant_channel_params(stage)
        magnitude = np.abs(x) if stage.odd_symmetric else x
        got = _per_value(magnitude, lambda v, c: scalar.derivative(v, *rows[c]))
        _assert_close(got, expected, DERIVATIVE_TOLERANCE, what)
        if scalar.forward_and_derivative is not None:
            pairs = [
                _per_value(
                    magnitude, lambda v, c, k=k: scalar.forward_and_derivative(v, *rows[c])[k]
                )
                for k in (0, 1)
            ]
            _assert_close(
                pairs[0],
                _per_value(magnitude, lambda v, c: scalar.forward(v, *rows[c])),
                TOLERANCE,
                what,
            )
            _assert_close(pairs[1], got, TOLERANCE, what)

    check()


# -- a scalar curve of any arity; the LUT backend of the pipeline's own registry ---------


def _linear_scalar(x: float, slope: float) -> float:
    return slope * x


def _linear_derivative(x: float, slope: float) -> float:
    return slope


class Slope(Stage):
    """A one-parameter curve ``y = slope · x`` declaring its scalar form."""

    name = "test_slope"
    monotone = True
    params = (ParamSpec("slope", PER_CHANNEL, 0.5, 2.0, default=1.0),)
    capabilities = Capabilities(scalar=ScalarCurve(_linear_scalar, _linear_derivative))

    def apply(self, x, p, xp):  # noqa: ANN001, ANN201
        return p["slope"] * x


def test_a_one_parameter_scalar_curve_fuses():
    pytest.importorskip("numba")
    stage_cls = Slope
    pipeline = Pipeline([stage_cls(slope=[0.5, 1.0, 2.0]), stage_cls(slope=1.5)])
    assert pipeline._fused_groups()[0][1] is not None
    x = np.random.default_rng(3).uniform(0, 1, (3, 5, 3))
    assert np.allclose(pipeline(x), x * np.array([0.75, 1.5, 3.0]), atol=1e-12)


class RecordingBackend(ArrayLutBackend):
    """The numpy reference backend, counting its calls."""

    name = "numpy"
    calls = 0

    def global_lookup(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        type(self).calls += 1
        return super().global_lookup(*args, **kwargs)


def test_the_lut_backend_comes_from_the_pipelines_registry():
    stage_cls = Slope
    inverse_cls = lut_inverse_of(stage_cls)
    plugin = type(
        "SlopePlugin",
        (),
        {
            "ispengine_register_stages": staticmethod(
                hookimpl(lambda register: register(stage_cls))
            ),
            "ispengine_register_inverse_stages": staticmethod(
                hookimpl(lambda register: register(inverse_cls))
            ),
            "ispengine_register_lut_backends": staticmethod(
                hookimpl(lambda register: register(RecordingBackend))
            ),
        },
    )
    host = PluginHost(load_entry_points=False)
    host.register(plugin, "slope")
    spec = {"stage": [{"type": "test_slope", "params": {"slope": [0.5, 1.0, 2.0]}}]}
    pipeline = Pipeline.from_dict(spec, registry=host.registry)
    x = np.random.default_rng(4).uniform(0, 1, (4, 4, 3))
    before = RecordingBackend.calls
    restored = pipeline.inverse()(pipeline(x), fuse=False)
    assert RecordingBackend.calls == before + 1
    assert np.allclose(restored, x, atol=1e-6)


def _imported_modules(module: str) -> set[str]:
    """Every module ``module`` imports, at module level or inside functions."""
    import ast
    import importlib.util
    from pathlib import Path

    tree = ast.parse(Path(importlib.util.find_spec(module).origin).read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_fused_paths_import_no_plugin_and_form_no_cycle():
    fused = _imported_modules("ispengine.kernels.fused")
    mosaic = _imported_modules("ispengine.kernels.fused_mosaic")
    groups = _imported_modules("ispengine.kernels.fused_groups")
    for names in (fused, mosaic, groups):
        assert not any(name.startswith(("plugins_builtin", "contrib")) for name in names)
    assert not fused & {"ispengine.kernels.fused_mosaic", "ispengine.kernels.fused_groups"}
    assert "ispengine.kernels.fused_groups" not in mosaic
