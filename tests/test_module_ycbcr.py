"""RGB ↔ Y'CbCr (``rgb_to_ycbcr``, ``ycbcr_to_rgb``): reference, round trip, edges."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ispengine import Pipeline, get_registry
from ispengine.testing import assert_round_trip, stage_examples
from plugins_builtin.camera_modules.ycbcr import (
    RgbToYcbcr,
    RgbToYcbcrInverse,
    YcbcrToRgb,
    YcbcrToRgbInverse,
)
from tests.fused_checks import assert_fused_equals_unfused, group_sizes

colour = pytest.importorskip("colour")

WEIGHTS = {"bt601": "ITU-R BT.601", "bt709": "ITU-R BT.709"}


@pytest.mark.parametrize("standard", ["bt601", "bt709"])
@pytest.mark.parametrize("code_range", ["full", "limited"])
def test_matches_colour_science(standard, code_range):
    """colour's float output: legal range is (16 + 219 Y)/255 at out_bits=8 (chroma centred
    on 128/255, as here); full range has chroma centred on 0, here on 0.5."""
    rgb = np.random.default_rng(0).uniform(0, 1, (8, 9, 3))
    ours = RgbToYcbcr(standard=standard, range=code_range)(rgb)
    legal = code_range == "limited"
    theirs = colour.RGB_to_YCbCr(
        rgb,
        K=colour.WEIGHTS_YCBCR[WEIGHTS[standard]],
        in_bits=8,
        in_legal=False,
        in_int=False,
        out_bits=8,
        out_legal=legal,
        out_int=False,
    )
    if not legal:
        theirs = theirs + np.array([0.0, 0.5, 0.5])
    np.testing.assert_allclose(ours, theirs, atol=1e-12)
    back = colour.YCbCr_to_RGB(
        theirs - (0 if legal else np.array([0.0, 0.5, 0.5])),
        K=colour.WEIGHTS_YCBCR[WEIGHTS[standard]],
        in_bits=8,
        in_legal=legal,
        in_int=False,
        out_bits=8,
        out_legal=False,
        out_int=False,
    )
    np.testing.assert_allclose(YcbcrToRgb(standard=standard, range=code_range)(ours), back)


def test_bt601_limited_code_values_and_neutral_chroma():
    stage = RgbToYcbcr(standard="bt601", range="limited")
    black, white = stage(np.zeros((1, 1, 3))), stage(np.ones((1, 1, 3)))
    np.testing.assert_allclose(black[0, 0] * 255, [16, 128, 128], atol=1e-12)
    np.testing.assert_allclose(white[0, 0] * 255, [235, 128, 128], atol=1e-12)
    blue = stage(np.array([[[0.0, 0.0, 1.0]]]))
    assert blue[0, 0, 1] * 255 == pytest.approx(240)
    red = stage(np.array([[[1.0, 0.0, 0.0]]]))
    assert red[0, 0, 2] * 255 == pytest.approx(240)


def test_fast_openisp_csc_integer_matrix_agrees():
    """fast-openISP's csc: ((66, 129, 25; −38, −74, 112; 112, −94, −18) · RGB8) >> 8 + (16,
    128, 128) on 8-bit values: BT.601 limited range up to its integer rounding."""
    rgb8 = np.random.default_rng(1).integers(0, 256, (16, 16, 3))
    matrix = np.array([[66, 129, 25], [-38, -74, 112], [112, -94, -18]])
    theirs = ((rgb8 @ matrix.T) >> 8) + np.array([16, 128, 128])
    ours = RgbToYcbcr(standard="bt601", range="limited")(rgb8 / 255.0) * 255
    assert np.max(np.abs(ours - theirs)) <= 2.0


@pytest.mark.parametrize("inverse", [RgbToYcbcrInverse, YcbcrToRgbInverse])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_round_trip_over_both_options(inverse, dtype, data):
    assert_round_trip(inverse, data.draw(stage_examples(inverse.forward)), dtype)


def test_batch_constant_and_dtype():
    x = np.full((2, 3, 4, 5, 3), 0.25, dtype=np.float32)
    y = RgbToYcbcr(standard="bt709")(x)
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(y[..., 0], 0.25, rtol=1e-6)
    np.testing.assert_allclose(y[..., 1:], 0.5, atol=1e-7)


def test_registered_and_runs_from_spec():
    registry = get_registry()
    assert registry.inverse_kind("rgb_to_ycbcr") == "exact"
    assert registry.inverse_kind("ycbcr_to_rgb") == "exact"
    pipe = Pipeline.from_dict(
        {
            "stage": [
                {"type": "rgb_to_ycbcr", "params": {"standard": "bt709", "range": "limited"}},
                {"type": "ycbcr_to_rgb", "params": {"standard": "bt709", "range": "limited"}},
            ]
        }
    )
    x = np.random.default_rng(2).uniform(0, 1, (6, 7, 3))
    np.testing.assert_allclose(pipe(x), x, atol=1e-12)
    np.testing.assert_allclose(pipe.inverse()(x), x, atol=1e-12)


@pytest.mark.parametrize("standard", ["bt601", "bt709"])
@pytest.mark.parametrize("code_range", ["full", "limited"])
def test_fused_chain_equals_stage_by_stage(standard, code_range):
    """Both conversions (and their inverses) join one fused pass, equal to unfused."""
    pytest.importorskip("numba")
    options = {"standard": standard, "range": code_range}
    pipeline = Pipeline.from_dict(
        {
            "stage": [
                {"type": "rgb_to_ycbcr", "params": options},
                {"type": "ycbcr_to_rgb", "params": {"standard": "bt709", "range": "limited"}},
            ]
        }
    )
    x = np.random.default_rng(5).uniform(0, 1, (2, 8, 9, 3)).astype(np.float32)
    for candidate in (pipeline, pipeline.inverse()):
        assert group_sizes(candidate) == [2]
        assert_fused_equals_unfused(candidate, x)
