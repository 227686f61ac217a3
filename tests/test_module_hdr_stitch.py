"""hdr_stitch: a long and a short exposure of one synthetic scene, stitched on the mosaic."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ispengine import ISPEngineError, ParamError, Pipeline, get_registry
from plugins_builtin.camera_modules.hdr_stitch import HdrStitch


def scene(size=(32, 48), peak=6.0, seed=0):
    """Scene radiance on the long exposure's scale: a smooth gradient up to ``peak``
    (well above the long exposure's white point 1) with a little texture."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0.05, peak, size[1])[None, :] * np.ones(size)
    return ramp * (1 + 0.05 * rng.uniform(-1, 1, size))


def exposures(radiance, ratio):
    long = np.clip(radiance, 0, 1)
    short = np.clip(radiance / ratio, 0, 1)
    return long, short


def test_recovers_the_scene_where_the_long_exposure_clipped():
    radiance = scene()
    long, short = exposures(radiance, 8.0)
    y = HdrStitch(ratio=8.0, knee=0.8)(long, {"short": short})
    clipped = long >= 1
    assert clipped.mean() > 0.5
    cells = np.kron(np.max(long.reshape(16, 2, 24, 2), axis=(1, 3)), np.ones((2, 2)))
    recovered = cells >= 1  # every site of the cell is replaced by the short exposure
    assert np.allclose(y[recovered], radiance[recovered], rtol=1e-12)
    kept = cells <= 0.8
    assert np.array_equal(y[kept], long[kept])
    assert y.max() > 5  # linear output beyond the long exposure's white point
    # between knee and white, both exposures agree on the scene, so any blend does too
    assert np.allclose(y, radiance, rtol=1e-12)


def test_weight_formula_against_a_direct_evaluation():
    rng = np.random.default_rng(1)
    long, short = rng.uniform(0, 1, (8, 10)), rng.uniform(0, 1, (8, 10))
    y = HdrStitch(ratio=4.0, knee=0.5)(long, {"short": short})
    expected = np.empty_like(long)
    for i in range(8):
        for j in range(10):
            m = long[i - i % 2 : i - i % 2 + 2, j - j % 2 : j - j % 2 + 2].max()
            s = min(max((m - 0.5) / 0.5, 0.0), 1.0)
            w = s * s * (3 - 2 * s)
            expected[i, j] = (1 - w) * long[i, j] + w * 4.0 * short[i, j]
    assert np.allclose(y, expected, rtol=0, atol=1e-14)


@settings(max_examples=40, deadline=None)
@given(ratio=st.floats(1, 64), knee=st.floats(0, 0.99), seed=st.integers(0, 2**16))
def test_output_range_and_continuity_over_the_parameters(ratio, knee, seed):
    rng = np.random.default_rng(seed)
    long, short = rng.uniform(0, 1, (6, 8)), rng.uniform(0, 1, (6, 8))
    y = HdrStitch(ratio=ratio, knee=knee)(long, {"short": short})
    assert np.all((y >= 0) & (y <= ratio + 1e-12))
    lo, hi = np.minimum(long, ratio * short), np.maximum(long, ratio * short)
    assert np.all((y >= lo - 1e-12) & (y <= hi + 1e-12))  # a convex blend


def test_edge_cases_batch_shapes_and_dtype():
    radiance = np.stack([scene(seed=s) for s in (1, 2)])
    long, short = exposures(radiance, 8.0)
    stage = HdrStitch(ratio=8.0)
    out = stage(long.astype(np.float32), {"short": short.astype(np.float32)})
    assert out.dtype == np.float32
    assert np.allclose(out[1], stage(long[1], {"short": short[1]}), rtol=1e-6)
    with pytest.raises(ParamError, match="short"):
        stage(long, {"short": short[:, :-2]})  # not the mosaic's shape
    with pytest.raises(ParamError, match="short"):
        stage(long)  # required


def test_registered_runs_in_a_pipeline_and_specs_must_give_the_map():
    assert "hdr_stitch" in get_registry().names("filter")
    radiance = scene()
    long, short = exposures(radiance, 8.0)
    pipe = Pipeline([("hdr", HdrStitch(ratio=8.0))], input="raw_mosaic", output="raw_mosaic")
    assert np.allclose(pipe(long, {"hdr": {"short": short}}), radiance, rtol=1e-12)
    # a spec must give every required parameter, and from_metadata takes only the
    # camera's keys: the per-pixel short exposure cannot come from a TOML spec yet
    spec = {"input": "raw_mosaic", "output": "raw_mosaic", "stage": [{"type": "hdr_stitch"}]}
    with pytest.raises(ISPEngineError, match="short"):
        Pipeline.from_dict(spec)
    spec["stage"][0]["from_metadata"] = {"short": "short_exposure"}
    with pytest.raises(ISPEngineError, match="short_exposure"):
        Pipeline.from_dict(spec)
    # with a constant given in the spec, a per-call map replaces it
    spec["stage"][0] = {"type": "hdr_stitch", "params": {"short": 0.0, "ratio": 8.0}}
    from_spec = Pipeline.from_dict(spec)
    assert np.allclose(from_spec(long, {"hdr_stitch": {"short": short}}), radiance, rtol=1e-12)
