"""``scale``: block means, OpenCV's INTER_LINEAR / INTER_AREA, sizes, shape-changing pipelines."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ispengine import InputError, ParamError, Pipeline, get_registry
from plugins_builtin.camera_modules.scale import Scale


def direct_bilinear(x: np.ndarray, height: int, width: int) -> np.ndarray:
    """Half-pixel bilinear resampling, one output pixel at a time."""
    n, m = x.shape[:2]
    out = np.empty((height, width, x.shape[2]))
    for i in range(height):
        for j in range(width):
            t = min(max((i + 0.5) * n / height - 0.5, 0), n - 1)
            u = min(max((j + 0.5) * m / width - 0.5, 0), m - 1)
            i0, j0 = int(t), int(u)
            i1, j1 = min(i0 + 1, n - 1), min(j0 + 1, m - 1)
            a, b = t - i0, u - j0
            out[i, j] = (
                (1 - a) * (1 - b) * x[i0, j0]
                + (1 - a) * b * x[i0, j1]
                + a * (1 - b) * x[i1, j0]
                + a * b * x[i1, j1]
            )
    return out


sizes = st.integers(1, 40)


@settings(max_examples=40, deadline=None)
@given(h=sizes, w=sizes, height=sizes, width=sizes, seed=st.integers(0, 2**16))
def test_bilinear_matches_direct_and_area_keeps_the_mean(h, w, height, width, seed):
    x = np.random.default_rng(seed).uniform(0, 1, (h, w, 3))
    out = Scale(width=width, height=height)(x)
    np.testing.assert_allclose(out, direct_bilinear(x, height, width), atol=1e-12)
    area = Scale(method="area", width=width, height=height)(x)
    assert area.shape == (height, width, 3)
    np.testing.assert_allclose(area.mean(axis=(0, 1)), x.mean(axis=(0, 1)), atol=1e-12)
    assert area.min() >= x.min() - 1e-12 and area.max() <= x.max() + 1e-12


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_area_integer_factor_is_block_mean(k):
    x = np.random.default_rng(k).uniform(0, 1, (2, 12, 24, 3))
    out = Scale(method="area", factor=1 / k)(x)
    blocks = x.reshape(2, 12 // k, k, 24 // k, k, 3).mean(axis=(2, 4))
    np.testing.assert_allclose(out, blocks, atol=1e-12)


@pytest.mark.parametrize(
    "shape, size", [((30, 40), (17, 23)), ((24, 36), (12, 18)), ((9, 7), (20, 25))]
)
def test_matches_opencv(shape, size):
    cv2 = pytest.importorskip("cv2")
    x = np.random.default_rng(0).uniform(0, 1, shape + (3,)).astype(np.float32)
    height, width = size
    linear = cv2.resize(x, (width, height), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(Scale(width=width, height=height)(x), linear, atol=1e-5)
    if height <= shape[0] and width <= shape[1]:
        area = cv2.resize(x, (width, height), interpolation=cv2.INTER_AREA)
        np.testing.assert_allclose(
            Scale(method="area", width=width, height=height)(x), area, atol=1e-5
        )


def test_sizes_factor_and_errors():
    x = np.random.default_rng(1).uniform(0, 1, (2, 10, 16, 3))
    assert Scale(factor=0.5)(x).shape == (2, 5, 8, 3)
    assert Scale(factor=0.01)(x).shape == (2, 1, 1, 3)
    assert Scale(method="area", factor=2.5)(x).shape == (2, 25, 40, 3)
    np.testing.assert_array_equal(Scale()(x), x)
    flat = np.full((6, 6, 3), 0.25)
    for method in ("area", "bilinear"):
        np.testing.assert_allclose(Scale(method=method, factor=1.7)(flat), 0.25)
    assert Scale(factor=0.5)(x.astype(np.float32)).dtype == np.float32
    with pytest.raises(ParamError):
        Scale(width=10)
    with pytest.raises(ParamError):
        Scale(width=10, height=10, factor=2.0)
    with pytest.raises(ParamError):
        Scale(width=0, height=10)
    with pytest.raises(InputError, match="exceeds"):
        Scale(factor=64.0)(np.zeros((1100, 2, 3)))
    with pytest.raises(InputError):
        Scale(factor=0.5)(np.zeros((4, 4)))


def test_registered_and_changes_size_inside_a_pipeline():
    assert "scale" in get_registry().names("filter")
    assert get_registry().inverse_kind("scale") == "none"
    pipe = Pipeline.from_dict(
        {
            "stage": [
                {"type": "edge_enhancement"},
                {"type": "scale", "params": {"method": "area", "width": 8, "height": 6}},
                {"type": "clahe", "params": {"tiles": [2, 2]}},
            ]
        }
    )
    out = pipe(np.random.default_rng(2).uniform(0, 1, (12, 16, 3)))
    assert out.shape == (6, 8, 3)
