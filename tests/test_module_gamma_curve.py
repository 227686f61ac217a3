"""``gamma_curve``: fast-openISP's gac and interpolated tables, round trips, edges."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ispengine import ParamError, Pipeline, get_registry
from ispengine.testing import StageExample, assert_round_trip, stage_examples
from plugins_builtin.camera_modules.gamma_curve import GammaCurve, GammaCurveInverse
from tests.fused_checks import assert_fused_equals_unfused, group_sizes


def fast_openisp_gac(rgb10: np.ndarray, gain: int, gamma: float) -> np.ndarray:
    """modules/gac.py of fast-openISP, transcribed (10-bit in, 8-bit LUT out, gain x256)."""
    x = np.arange(1024)
    lut = ((x / 1023) ** gamma * 255).astype(np.uint8)
    return lut[np.clip((gain * rgb10) >> 8, 0, 1023)]


@pytest.mark.parametrize("gain, gamma", [(256, 0.42), (200, 0.5), (300, 2.2)])
def test_matches_fast_openisp_gac(gain, gamma):
    rgb10 = np.random.default_rng(0).integers(0, 1024 * 256 // max(gain, 256), (16, 16, 3))
    ours = GammaCurve(gain=gain / 256, gamma=gamma)(rgb10 / 1023.0)
    theirs = fast_openisp_gac(rgb10, gain, gamma)
    # their LUT truncates to 8 bits and their gain floors to 10 bits
    assert np.max(np.abs(ours * 255 - theirs)) <= 1.0 + 255 * (gamma * 2 / 1023) ** min(gamma, 1)


def test_table_interpolates_and_extrapolates():
    table = [0.0, 0.5, 0.75, 1.0]
    stage = GammaCurve(mode="table", table=table)
    x = np.linspace(-0.2, 1.2, 57)[:, None, None] * np.ones((1, 1, 3))
    expected = np.interp(x, np.linspace(0, 1, 4), table)
    inside = (x >= 0) & (x <= 1)
    np.testing.assert_allclose(stage(x)[inside], expected[inside], atol=1e-12)
    np.testing.assert_allclose(stage(x)[x < 0], 1.5 * x[x < 0])  # first segment's slope
    np.testing.assert_allclose(stage(x)[x > 1], 1 + 0.75 * (x[x > 1] - 1))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_power_round_trip_over_whole_ranges(dtype, data):
    example = data.draw(stage_examples(GammaCurve))
    assert_round_trip(GammaCurveInverse, example, dtype)


@st.composite
def increasing_tables(draw):
    """Strictly increasing tables of 2-33 values in [0, 1], steps at least 1e-3 of the span."""
    steps = np.array(draw(st.lists(st.floats(1e-3, 1.0), min_size=1, max_size=32)))
    span = draw(st.floats(0.05, 1.0))
    start = draw(st.floats(0.0, 1.0 - span))
    table = start + span * np.concatenate([[0.0], np.cumsum(steps)]) / steps.sum()
    return np.clip(table, 0.0, 1.0).tolist()


@pytest.mark.parametrize("dtype, tolerance", [("float64", 1e-9), ("float32", 1e-4)])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_table_round_trip_over_random_increasing_tables(dtype, tolerance, data):
    table = data.draw(increasing_tables())
    image = data.draw(st.integers(0, 2**32 - 1).map(np.random.default_rng)).uniform(0, 1, (5, 6, 3))
    example = StageExample({}, {"mode": "table", "table": table}, image)
    assert_round_trip(GammaCurveInverse, example, dtype, tolerance=tolerance)


def test_tables_refused_with_clear_errors():
    with pytest.raises(ParamError, match="at least 2"):
        GammaCurve(mode="table", table=[0.5])
    with pytest.raises(ParamError, match="non-decreasing"):
        GammaCurve(mode="table", table=[0.0, 0.6, 0.4, 1.0])
    flat = GammaCurve(mode="table", table=[0.0, 0.5, 0.5, 1.0])  # the forward is fine
    assert flat(np.full((1, 1, 3), 0.5)).tolist() == [[[0.5, 0.5, 0.5]]]
    with pytest.raises(ParamError, match="strictly increasing table; entries 1 and 2"):
        GammaCurveInverse.from_forward(flat)
    pipe = Pipeline.from_dict(
        {"stage": [{"type": "gamma_curve", "params": {"mode": "table", "table": [0, 0, 1]}}]}
    )
    with pytest.raises(ParamError, match="strictly increasing"):
        pipe.inverse()


def test_extremes_zero_and_batch():
    x = np.random.default_rng(1).uniform(0, 1, (2, 4, 5, 3)).astype(np.float32)
    for gain, gamma in [(0.25, 0.1), (4.0, 5.0), (1.0, 1.0)]:
        y = GammaCurve(gain=gain, gamma=gamma)(x)
        assert y.dtype == np.float32
        np.testing.assert_allclose(y, (gain * x.astype(np.float64)) ** gamma, rtol=2e-6)
    assert GammaCurve(gamma=0.1)(np.zeros((2, 2, 3))).tolist() == np.zeros((2, 2, 3)).tolist()
    per_image = GammaCurve()(x, {"gamma": [0.5, 2.0]})
    np.testing.assert_allclose(per_image[1], x[1] ** 2, rtol=1e-6)


def test_registered_and_runs_from_spec():
    assert get_registry().inverse_kind("gamma_curve") == "exact"
    pipe = Pipeline.from_dict(
        {"stage": [{"type": "gamma_curve", "params": {"gamma": 0.42, "gain": 1.2}}]}
    )
    x = np.random.default_rng(2).uniform(0, 1, (6, 7, 3))
    np.testing.assert_allclose(pipe(x), (1.2 * x) ** 0.42)
    np.testing.assert_allclose(pipe.inverse()(pipe(x)), x, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    gain=st.floats(0.25, 4),
    gamma=st.floats(0.1, 5),
    steps=st.lists(st.floats(0.01, 1), min_size=1, max_size=16),
    seed=st.integers(0, 100),
)
def test_power_and_table_chain_is_one_fused_pass(gain, gamma, steps, seed):
    """power gamma → table gamma → global_tone_map runs as one fused pass (forward and
    inverse; the table packed into the kernel), equal to the stage-by-stage result."""
    pytest.importorskip("numba")
    table = np.concatenate([[0.0], np.cumsum(steps)])
    table = (table / table[-1]).tolist()
    pipeline = Pipeline(
        [
            GammaCurve(gain=gain, gamma=gamma),
            GammaCurve(mode="table", table=table),
            get_registry().get("stage", "global_tone_map").cls(exposure=2.0),
        ]
    )
    x = np.random.default_rng(seed).uniform(-0.1, 1.2, (5, 7, 3)).astype(np.float32)
    for candidate, data in ((pipeline, x), (pipeline.inverse(), pipeline(x, fuse=False))):
        assert group_sizes(candidate) == [3]
        assert_fused_equals_unfused(candidate, data)


def test_per_pixel_gamma_runs_unfused():
    pytest.importorskip("numba")
    pipeline = Pipeline([GammaCurve(gamma=0.5), GammaCurveInverse(gamma=0.5)])
    assert group_sizes(pipeline) == [2]
    x = np.random.default_rng(2).uniform(0, 1, (4, 5, 3))
    maps = {"gamma_curve": {"gamma": np.full((4, 5), 0.8)}}
    assert GammaCurve.capabilities.channel.pack(GammaCurve(gamma=0.5)).shape == (3, 3)
    np.testing.assert_allclose(pipeline(x, maps), pipeline(x, maps, fuse=False), atol=1e-12)
