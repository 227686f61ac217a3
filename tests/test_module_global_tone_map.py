"""``global_tone_map``: Reinhard et al. 2002, eqs. 3–4; exact inverse; edges."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ispengine import Pipeline, get_registry
from ispengine.testing import assert_round_trip, stage_examples
from plugins_builtin.camera_modules.global_tone_map import GlobalToneMap, GlobalToneMapInverse
from plugins_builtin.filters.tone_curve import ToneCurve
from tests.fused_checks import assert_fused_equals_unfused, group_sizes


def reinhard(rgb: np.ndarray, exposure: float, white: float | None) -> np.ndarray:
    """Reinhard et al. 2002 eq. 4 (eq. 3 for white None) on L, RGB scaled by L_d / L_w."""
    lum = rgb @ np.array([0.2126, 0.7152, 0.0722])
    scaled = exposure * lum
    mapped = (
        scaled / (1 + scaled) if white is None else scaled * (1 + scaled / white**2) / (1 + scaled)
    )
    return rgb * (mapped / lum)[..., None]


@pytest.mark.parametrize("exposure, white", [(1.0, 4.0), (0.3, 1.0), (5.0, 100.0), (2.0, None)])
def test_matches_reinhard_equations(exposure, white):
    rgb = np.random.default_rng(0).uniform(0.01, 8.0, (9, 11, 3))
    options = {"operator": "simple"} if white is None else {"white": white}
    ours = GlobalToneMap(exposure=exposure, **options)(rgb)
    np.testing.assert_allclose(ours, reinhard(rgb, exposure, white), rtol=1e-12)


def test_grey_agrees_with_tone_curve_roll_off():
    grey = np.linspace(0, 3.9, 40)[:, None, None] * np.ones((1, 1, 3))
    ours = GlobalToneMap(white=4.0)(grey)
    np.testing.assert_allclose(ours, ToneCurve(white=4.0)(grey), atol=1e-12)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_round_trip_over_whole_ranges(dtype, data):
    assert_round_trip(GlobalToneMapInverse, data.draw(stage_examples(GlobalToneMap)), dtype)


def test_edges_black_negative_white_one_and_batch():
    x = np.random.default_rng(1).uniform(0, 8, (2, 3, 4, 3))
    np.testing.assert_allclose(GlobalToneMap(white=1.0)(x), x)  # eq. 4 with white 1: identity
    zero = np.zeros((2, 2, 3))
    assert np.all(GlobalToneMap(exposure=3.0)(zero) == 0)
    below_black = np.full((1, 2, 3), -0.01)
    y = GlobalToneMap(exposure=3.0)(below_black)
    np.testing.assert_allclose(y, 3.0 * below_black)
    back = GlobalToneMapInverse.from_forward(GlobalToneMap(exposure=3.0))(y)
    np.testing.assert_allclose(back, below_black)
    chroma = GlobalToneMap(exposure=2.0, operator="simple")(x)
    np.testing.assert_allclose(chroma[..., 0] / chroma[..., 1], x[..., 0] / x[..., 1])
    assert np.all(chroma @ np.array([0.2126, 0.7152, 0.0722]) < 1)
    per_image = GlobalToneMap()(x, {"exposure": [0.5, 2.0]})
    np.testing.assert_allclose(per_image[1], GlobalToneMap(exposure=2.0)(x[1]))


def test_registered_and_runs_from_spec():
    assert get_registry().inverse_kind("global_tone_map") == "exact"
    pipe = Pipeline.from_dict(
        {"stage": [{"type": "global_tone_map", "params": {"exposure": 0.5, "white": 8}}]}
    )
    x = np.random.default_rng(2).uniform(0, 8, (6, 7, 3))
    np.testing.assert_allclose(pipe.inverse()(pipe(x)), x, rtol=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    exposure=st.floats(0.05, 10),
    white=st.floats(1, 100),
    operator=st.sampled_from(["extended", "simple"]),
    seed=st.integers(0, 100),
)
def test_fused_chain_equals_stage_by_stage(exposure, white, operator, seed):
    """global_tone_map → gamma_curve → rgb_to_ycbcr runs as one fused pass (forward and
    inverse), equal to the stage-by-stage result in float32."""
    pytest.importorskip("numba")
    pipeline = Pipeline.from_dict(
        {
            "stage": [
                {
                    "type": "global_tone_map",
                    "params": {"exposure": exposure, "white": white, "operator": operator},
                },
                {"type": "gamma_curve", "params": {"gamma": 0.45}},
                {"type": "rgb_to_ycbcr"},
            ]
        }
    )
    x = np.random.default_rng(seed).uniform(0, 8, (6, 7, 3)).astype(np.float32)
    x[0, 0] = 0.0
    y = pipeline(x, fuse=False)
    for candidate, data in ((pipeline, x), (pipeline.inverse(), y)):
        assert group_sizes(candidate) == [3]
        assert_fused_equals_unfused(candidate, data)


def test_simple_inverse_out_of_range_matches_unfused():
    """Luminance ≥ 1 is outside the simple operator's range: Inf (NaN for 0) both ways."""
    pytest.importorskip("numba")
    inverse = Pipeline(
        [GlobalToneMapInverse(operator="simple"), GlobalToneMapInverse(operator="simple")]
    )
    assert group_sizes(inverse) == [2]
    x = np.array([[[1.5, 1.5, 1.5], [0.2, 0.3, 0.1]]])
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(inverse(x), inverse(x, fuse=False), rtol=1e-12)
