"""``hue_saturation``: fast-openISP's hsc, round trip over the whole ranges, edges."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ispengine import ParamError, Pipeline, get_registry
from ispengine.testing import assert_round_trip, stage_examples
from plugins_builtin.camera_modules.hue_saturation import HueSaturation, HueSaturationInverse
from tests.fused_checks import assert_fused_equals_unfused, group_sizes


def fast_openisp_hsc(cbcr8: np.ndarray, hue_offset: float, saturation_gain: int) -> np.ndarray:
    """modules/hsc.py of fast-openISP, transcribed (fixed point: sin/cos and gain x256)."""
    angle = np.pi * hue_offset / 180
    sin, cos = int(256 * np.sin(angle)), int(256 * np.cos(angle))
    cb, cr = cbcr8[..., 0].astype(np.int64) - 128, cbcr8[..., 1].astype(np.int64) - 128
    out_cb = ((saturation_gain * ((cos * cb - sin * cr) >> 8)) >> 8) + 128
    out_cr = ((saturation_gain * ((sin * cb + cos * cr) >> 8)) >> 8) + 128
    return np.clip(np.stack([out_cb, out_cr], -1), 0, 255)


@pytest.mark.parametrize("hue, gain", [(0, 256), (30, 256), (-120, 200), (90, 384)])
def test_matches_fast_openisp_hsc(hue, gain):
    rng = np.random.default_rng(0)
    ycbcr8 = np.concatenate(
        [rng.integers(16, 236, (12, 12, 1)), rng.integers(64, 193, (12, 12, 2))], -1
    )
    ours = HueSaturation(hue=hue, saturation=gain / 256)(ycbcr8 / 255.0) * 255
    theirs = fast_openisp_hsc(ycbcr8[..., 1:], hue, gain)
    assert np.max(np.abs(ours[..., 1:] - theirs)) <= 3.0  # their fixed-point rounding
    np.testing.assert_allclose(ours[..., 0], ycbcr8[..., 0])


def test_float_formula():
    x = np.random.default_rng(1).uniform(0, 1, (5, 6, 3))
    y = HueSaturation(hue=40.0, saturation=1.5)(x)
    t = np.deg2rad(40.0)
    u, v = x[..., 1] - 0.5, x[..., 2] - 0.5
    np.testing.assert_allclose(y[..., 1], 0.5 + 1.5 * (np.cos(t) * u - np.sin(t) * v))
    np.testing.assert_allclose(y[..., 2], 0.5 + 1.5 * (np.sin(t) * u + np.cos(t) * v))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_round_trip_over_whole_ranges(dtype, data):
    assert_round_trip(HueSaturationInverse, data.draw(stage_examples(HueSaturation)), dtype)


def test_extremes_neutral_and_batch():
    neutral = np.concatenate([np.full((2, 4, 4, 1), 0.3), np.full((2, 4, 4, 2), 0.5)], -1)
    y = HueSaturation(hue=180.0, saturation=4.0)(neutral)
    np.testing.assert_allclose(y, neutral)
    x = np.random.default_rng(2).uniform(0, 1, (2, 4, 4, 3))
    flipped = HueSaturation(hue=180.0)(x)  # 180 degrees negates the chroma
    np.testing.assert_allclose(flipped[..., 1:] - 0.5, -(x[..., 1:] - 0.5), atol=1e-12)
    per_image = HueSaturation()(x, {"saturation": [0.5, 2.0]})
    np.testing.assert_allclose(per_image[1, ..., 1:] - 0.5, 2 * (x[1, ..., 1:] - 0.5))
    with pytest.raises(ParamError, match="saturation"):
        HueSaturation(saturation=0.0)


def test_registered_and_runs_from_spec():
    assert get_registry().inverse_kind("hue_saturation") == "exact"
    pipe = Pipeline.from_dict(
        {
            "stage": [
                {"type": "rgb_to_ycbcr"},
                {"type": "hue_saturation", "params": {"hue": 15, "saturation": 1.2}},
                {"type": "ycbcr_to_rgb"},
            ]
        }
    )
    x = np.random.default_rng(3).uniform(0, 1, (6, 7, 3))
    np.testing.assert_allclose(pipe.inverse()(pipe(x)), x, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(hue=st.floats(-180, 180), saturation=st.floats(0.05, 4), seed=st.integers(0, 100))
def test_fused_chain_equals_stage_by_stage(hue, saturation, seed):
    """rgb_to_ycbcr → hue_saturation → ycbcr_to_rgb runs as one fused pass (and so does
    its inverse), equal to the stage-by-stage result in float32."""
    pytest.importorskip("numba")
    pipeline = Pipeline.from_dict(
        {
            "stage": [
                {"type": "rgb_to_ycbcr"},
                {"type": "hue_saturation", "params": {"hue": hue, "saturation": saturation}},
                {"type": "ycbcr_to_rgb"},
            ]
        }
    )
    x = np.random.default_rng(seed).uniform(0, 1, (7, 9, 3)).astype(np.float32)
    for candidate in (pipeline, pipeline.inverse()):
        assert group_sizes(candidate) == [3]
        assert_fused_equals_unfused(candidate, x)


def test_per_pixel_maps_run_unfused():
    """A per-pixel hue map cannot be packed: the stage runs on its own, same result."""
    pytest.importorskip("numba")
    stage = HueSaturation(saturation=1.2)
    assert HueSaturation.capabilities.pixel.pack(stage) is not None
    pipeline = Pipeline([HueSaturation(), HueSaturationInverse(hue=10.0, saturation=2.0)])
    assert pipeline._fused_groups()[0][1] is not None
    x = np.random.default_rng(1).uniform(0, 1, (4, 5, 3))
    maps = {"hue_saturation": {"hue": np.full((4, 5), 20.0)}}
    np.testing.assert_allclose(pipeline(x, maps), pipeline(x, maps, fuse=False), atol=1e-12)
