"""lens_shading_correction: radial polynomial and gain-map modes, and the exact inverse."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ispengine import ParamError, Pipeline, get_registry
from ispengine.testing import assert_round_trip, stage_examples
from plugins_builtin.camera_modules.lens_shading import (
    LensShadingCorrection,
    LensShadingCorrectionInverse,
)

COLOUR_AT = {"rggb": [[0, 1], [1, 2]], "gbrg": [[1, 2], [0, 1]]}
CHANNEL_AT = {"rggb": [[0, 1], [2, 3]], "gbrg": [[2, 3], [0, 1]]}  # R, Gr, Gb, B


def radial_gain_reference(shape, k1, k2, cx, cy, pattern):
    """The docstring's formula, site by site."""
    height, width = shape
    gain = np.empty(shape)
    half_diagonal = np.hypot(width - 1, height - 1) / 2
    for row in range(height):
        for col in range(width):
            r = np.hypot(col - cx * (width - 1), row - cy * (height - 1)) / half_diagonal
            c = COLOUR_AT[pattern][row % 2][col % 2]
            gain[row, col] = 1 + k1[c] * r**2 + k2[c] * r**4
    return gain


@pytest.mark.parametrize("pattern", ["rggb", "gbrg"])
def test_radial_gain_matches_the_formula(pattern):
    k1, k2 = [0.4, 0.2, 0.5], [0.1, 0.05, 0.3]
    x = np.random.default_rng(0).uniform(0, 1, (10, 14))
    stage = LensShadingCorrection(k1=k1, k2=k2, cx=0.3, cy=0.6, pattern=pattern)
    expected = x * radial_gain_reference(x.shape, k1, k2, 0.3, 0.6, pattern)
    assert np.allclose(stage(x), expected, rtol=1e-12)


def test_radial_extremes():
    x = np.ones((8, 12))
    # centred: r = 1 at the four corners, 0 nowhere (even size), gain 1 + k1 + k2 there
    y = LensShadingCorrection(k1=2.0, k2=1.0)(x)
    assert np.allclose(y[[0, 0, -1, -1], [0, -1, 0, -1]], 4.0)
    # centre in a corner: r = 2 at the opposite corner, the largest gain 1 + 4 k1 + 16 k2
    y = LensShadingCorrection(k1=4.0, k2=4.0, cx=0.0, cy=0.0)(x)
    assert y[0, 0] == 1.0 and np.isclose(y[-1, -1], 81.0) and y.max() == y[-1, -1]
    assert np.array_equal(LensShadingCorrection()(x), x)


@pytest.mark.parametrize("pattern", ["rggb", "gbrg"])
def test_gain_map_matches_scipy_interpolation(pattern):
    from scipy.interpolate import RegularGridInterpolator

    grids = np.random.default_rng(1).uniform(0.5, 3, (4, 3, 5))
    x = np.random.default_rng(2).uniform(0, 1, (12, 16))
    stage = LensShadingCorrection(mode="gain_map", gain_map=grids.tolist(), pattern=pattern)
    y = stage(x)
    h, w = 6, 8
    points = np.stack(np.meshgrid(np.arange(h), np.arange(w), indexing="ij"), axis=-1)
    for channel in range(4):
        a, b = np.argwhere(np.array(CHANNEL_AT[pattern]) == channel)[0]
        grid = RegularGridInterpolator(
            (np.linspace(0, h - 1, 3), np.linspace(0, w - 1, 5)), grids[channel]
        )
        assert np.allclose(y[a::2, b::2], x[a::2, b::2] * grid(points), rtol=1e-12)


def test_gain_map_one_node_is_a_constant_gain_per_channel():
    grids = [[[2.0]], [[1.0]], [[1.5]], [[4.0]]]
    x = np.full((4, 6), 0.25)
    y = LensShadingCorrection(mode="gain_map", gain_map=grids)(x)
    assert np.allclose(y[0::2, 0::2], 0.5) and np.allclose(y[1::2, 1::2], 1.0)


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_radial_round_trip_over_the_declared_ranges(data):
    example = data.draw(stage_examples(LensShadingCorrection, max_size=8))
    for dtype in ("float64", "float32"):
        assert_round_trip(LensShadingCorrectionInverse, example, dtype)


@settings(max_examples=30, deadline=None)
@given(
    grids=st.integers(1, 4).flatmap(
        lambda gh: st.integers(1, 4).flatmap(
            lambda gw: hnp.arrays(np.float64, (4, gh, gw), elements=st.floats(0.125, 16))
        )
    ),
    pattern=st.sampled_from(["rggb", "bggr", "grbg", "gbrg"]),
    seed=st.integers(0, 2**16),
)
def test_gain_map_round_trip(grids, pattern, seed):
    forward = LensShadingCorrection(mode="gain_map", gain_map=grids.tolist(), pattern=pattern)
    inverse = LensShadingCorrectionInverse.from_forward(forward)
    x = np.random.default_rng(seed).uniform(0, 1, (6, 8))
    assert np.max(np.abs(inverse(forward(x)) - x)) <= 1e-12


def test_mode_and_parameter_checks():
    with pytest.raises(ParamError, match="k1"):
        LensShadingCorrection(mode="gain_map", gain_map=[[[1.0]]] * 4, k1=0.5)
    with pytest.raises(ParamError, match="gain_map"):
        LensShadingCorrection(gain_map=[[[2.0]]] * 4)
    with pytest.raises(ParamError, match="gain_map"):
        LensShadingCorrection(mode="gain_map", gain_map=[[[2.0]]] * 3)
    with pytest.raises(ParamError, match="k2"):
        LensShadingCorrection(k2=-0.1)


def test_per_image_parameters_and_batch():
    x = np.random.default_rng(3).uniform(0, 1, (2, 6, 8))
    k1 = np.array([[0.1, 0.2, 0.3], [1.0, 2.0, 3.0]])
    cx = np.array([0.2, 0.7])
    out = LensShadingCorrection()(x, {"k1": k1, "cx": cx})
    for n in range(2):
        single = LensShadingCorrection(k1=k1[n], cx=float(cx[n]))(x[n])
        assert np.allclose(out[n], single, rtol=1e-12)


def test_registered_and_runs_and_inverts_from_a_spec(tmp_path):
    registry = get_registry()
    assert "lens_shading_correction" in registry.names("stage")
    assert registry.inverse_kind("lens_shading_correction") == "exact"
    spec = tmp_path / "lsc.toml"
    spec.write_text(
        """
schema = 1
input = "raw_mosaic"
output = "raw_mosaic"
[[stage]]
type = "lens_shading_correction"
from_metadata = { pattern = "cfa_pattern" }
[stage.params]
mode = "gain_map"
gain_map = [
  [[1.8, 1.4, 1.8], [1.3, 1.0, 1.3], [1.8, 1.4, 1.8]],
  [[1.6, 1.3, 1.6], [1.2, 1.0, 1.2], [1.6, 1.3, 1.6]],
  [[1.6, 1.3, 1.6], [1.2, 1.0, 1.2], [1.6, 1.3, 1.6]],
  [[1.9, 1.5, 1.9], [1.3, 1.0, 1.3], [1.9, 1.5, 1.9]],
]
"""
    )
    pipe = Pipeline.from_toml(spec)
    x = np.random.default_rng(4).uniform(0, 1, (10, 14))
    y = pipe(x, metadata={"cfa_pattern": "bggr"})
    assert y[0, 0] == pytest.approx(1.9 * x[0, 0])  # a blue corner site of bggr
    assert np.allclose(pipe.inverse()(y, metadata={"cfa_pattern": "bggr"}), x, atol=1e-12)
