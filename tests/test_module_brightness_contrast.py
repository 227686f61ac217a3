"""``brightness_contrast``: fast-openISP's bcc, round trip over the whole ranges, edges."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ispengine import ParamError, Pipeline, get_registry
from ispengine.testing import assert_round_trip, stage_examples
from plugins_builtin.camera_modules.brightness_contrast import (
    BrightnessContrast,
    BrightnessContrastInverse,
)
from tests.fused_checks import assert_fused_equals_unfused, group_sizes


def fast_openisp_bcc(y8: np.ndarray, brightness_offset: int, contrast_gain: int) -> np.ndarray:
    """modules/bcc.py of fast-openISP, transcribed (8-bit luma, gain x256)."""
    y = np.clip(y8.astype(np.int64) + brightness_offset, 0, 255)
    median = np.median(y).astype(np.int64)
    return np.clip((((y - median) * contrast_gain) >> 8) + median, 0, 255)


@pytest.mark.parametrize("offset, gain", [(0, 256), (20, 256), (-15, 320), (10, 180)])
def test_matches_fast_openisp_bcc(offset, gain):
    rng = np.random.default_rng(0)
    ycbcr8 = rng.integers(40, 200, (15, 17, 3))  # odd count: an integer median; no clipping
    ours = BrightnessContrast(brightness=offset / 255, contrast=gain / 256)(ycbcr8 / 255.0)
    theirs = fast_openisp_bcc(ycbcr8[..., 0], offset, gain)
    assert np.max(np.abs(ours[..., 0] * 255 - theirs)) <= 1.0 + 1e-9  # their >> 8 floors
    np.testing.assert_allclose(ours[..., 1:], ycbcr8[..., 1:] / 255.0)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_round_trip_over_whole_ranges(dtype, data):
    example = data.draw(stage_examples(BrightnessContrast))
    assert_round_trip(BrightnessContrastInverse, example, dtype)


def test_median_is_kept_and_fixed_pivot():
    x = np.random.default_rng(1).uniform(0, 1, (2, 8, 6, 3))
    y = BrightnessContrast(brightness=0.1, contrast=2.5)(x)
    np.testing.assert_allclose(
        np.median(y[..., 0], axis=(1, 2)), np.median(x[..., 0], axis=(1, 2)) + 0.1
    )
    fixed = BrightnessContrast(contrast=2.0, pivot="fixed", midpoint=0.4, domain="rgb")(x)
    np.testing.assert_allclose(fixed, 0.4 + 2.0 * (x - 0.4))


def test_rgb_domain_per_image_contrast_round_trips():
    x = np.random.default_rng(2).uniform(0, 1, (3, 5, 4, 3))
    stage = BrightnessContrast(domain="rgb", brightness=-0.2)
    params = {"contrast": [0.05, 1.0, 4.0]}
    y = stage(x, params)
    back = BrightnessContrastInverse.from_forward(stage)(y, params)
    np.testing.assert_allclose(back, x, atol=1e-12)


def test_constant_image_and_per_pixel_contrast_refused():
    x = np.full((4, 4, 3), 0.3)
    np.testing.assert_allclose(BrightnessContrast(contrast=4.0)(x), x)
    with pytest.raises(ParamError, match="contrast"):
        BrightnessContrast()(x, {"contrast": np.ones((4, 4))})


def test_torch_matches_numpy():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(3).uniform(0, 1, (2, 4, 6, 3))
    stage = BrightnessContrast(brightness=0.05, contrast=1.7)
    np.testing.assert_allclose(stage(torch.from_numpy(x)).numpy(), stage(x), atol=1e-12)
    back = BrightnessContrastInverse.from_forward(stage)(torch.from_numpy(stage(x)))
    np.testing.assert_allclose(back.numpy(), x, atol=1e-12)


def test_registered_and_runs_from_spec():
    assert get_registry().inverse_kind("brightness_contrast") == "exact"
    pipe = Pipeline.from_dict(
        {"stage": [{"type": "brightness_contrast", "params": {"brightness": 0.1, "contrast": 1.5}}]}
    )
    x = np.random.default_rng(4).uniform(0, 1, (6, 7, 3))
    np.testing.assert_allclose(pipe.inverse()(pipe(x)), x, atol=1e-12)


def _chain(pivot, domain="ycbcr", brightness=0.05, contrast=1.4, midpoint=0.45):
    params = {"brightness": brightness, "contrast": contrast, "midpoint": midpoint}
    return Pipeline.from_dict(
        {
            "stage": [
                {"type": "rgb_to_ycbcr"},
                {"type": "hue_saturation", "params": {"hue": 15.0, "saturation": 1.3}},
                {"type": "brightness_contrast", "params": {**params, "pivot": pivot}},
                {"type": "ycbcr_to_rgb"},
            ]
        }
    )


@settings(max_examples=25, deadline=None)
@given(
    brightness=st.floats(-1, 1),
    contrast=st.floats(0.05, 4),
    midpoint=st.floats(0, 1),
    seed=st.integers(0, 100),
)
def test_fixed_pivot_chain_is_one_fused_pass(brightness, contrast, midpoint, seed):
    """rgb_to_ycbcr → hue_saturation → brightness_contrast (fixed) → ycbcr_to_rgb runs
    as one fused pass, forward and inverse, equal to the stage-by-stage result."""
    pytest.importorskip("numba")
    pipeline = _chain("fixed", brightness=brightness, contrast=contrast, midpoint=midpoint)
    x = np.random.default_rng(seed).uniform(0, 1, (6, 8, 3)).astype(np.float32)
    for candidate in (pipeline, pipeline.inverse()):
        assert group_sizes(candidate) == [4]
        assert_fused_equals_unfused(candidate, x)


def test_rgb_domain_fuses_and_median_pivot_splits_the_chain():
    pytest.importorskip("numba")
    x = np.random.default_rng(8).uniform(0, 1, (2, 5, 6, 3)).astype(np.float32)
    rgb = Pipeline(
        [
            BrightnessContrast(brightness=-0.1, contrast=0.7, pivot="fixed", domain="rgb"),
            BrightnessContrastInverse(brightness=0.2, contrast=2.0, pivot="fixed", domain="rgb"),
        ]
    )
    assert group_sizes(rgb) == [2]
    assert_fused_equals_unfused(rgb, x)
    median = _chain("median")
    # The median is a statistic of the whole image: that stage runs on its own.
    assert group_sizes(median) == [2, 1, 1]
    assert_fused_equals_unfused(median, x)
