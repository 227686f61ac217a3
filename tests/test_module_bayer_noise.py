"""bayer_noise_reduction: a bilateral filter on each CFA plane."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ispengine import Pipeline, get_registry
from plugins_builtin.camera_modules.bayer_noise import BayerNoiseReduction, bayer_bilateral


def reference_bilateral(x, strength, range_sigma, spatial_sigma, pattern_offset):
    """Tomasi & Manduchi's bilateral filter on one CFA plane, written as loops over a
    plane extracted from the reflect-padded mosaic."""
    padded = np.pad(x, 4, mode="reflect")
    a, b = pattern_offset
    plane = padded[a::2, b::2]
    h, w = x.shape[0] // 2, x.shape[1] // 2
    out = np.empty((h, w))
    for i in range(h):
        for j in range(w):
            c = plane[i + 2, j + 2]
            num = den = 0.0
            for di in range(-2, 3):
                for dj in range(-2, 3):
                    v = plane[i + 2 + di, j + 2 + dj]
                    weight = np.exp(-((2 * di) ** 2 + (2 * dj) ** 2) / (2 * spatial_sigma**2))
                    weight *= np.exp(-((v - c) ** 2) / (2 * range_sigma**2))
                    num += weight * v
                    den += weight
            out[i, j] = c + strength * (num / den - c)
    return out


def test_matches_a_loop_transcription_of_the_bilateral_filter():
    x = np.random.default_rng(0).uniform(0.2, 0.6, (10, 12))
    stage = BayerNoiseReduction(strength=0.8, range_sigma=0.1, spatial_sigma=3.0)
    compiled = stage(x)
    exact = x + 0.8 * (bayer_bilateral(x, 0.1, 3.0, np) - x)
    for a in (0, 1):
        for b in (0, 1):
            expected = reference_bilateral(x, 0.8, 0.1, 3.0, (a, b))
            assert np.allclose(exact[a::2, b::2], expected, rtol=0, atol=1e-12)
            assert np.allclose(compiled[a::2, b::2], expected, rtol=0, atol=2e-6)


def test_reduces_noise_on_a_flat_mosaic_and_keeps_its_mean():
    rng = np.random.default_rng(1)
    x = 0.4 + 0.02 * rng.standard_normal((64, 64))
    y = BayerNoiseReduction(range_sigma=0.1)(x)
    assert np.var(y[8:-8, 8:-8]) < 0.25 * np.var(x[8:-8, 8:-8])
    assert abs(y.mean() - x.mean()) < 1e-3


def test_keeps_an_edge_much_steeper_than_the_range_sigma():
    x = np.where(np.arange(32)[None, :] < 16, 0.2, 0.8) * np.ones((32, 32))
    y = BayerNoiseReduction(range_sigma=0.02, spatial_sigma=4.0)(x)
    assert np.max(np.abs(y - x)) < 1e-12


@settings(max_examples=30, deadline=None)
@given(
    level=st.floats(0, 1),
    strength=st.floats(0, 1),
    range_sigma=st.floats(0.001, 1),
    spatial_sigma=st.floats(0.5, 8),
)
def test_constant_mosaic_unchanged_over_the_ranges(level, strength, range_sigma, spatial_sigma):
    stage = BayerNoiseReduction(
        strength=strength, range_sigma=range_sigma, spatial_sigma=spatial_sigma
    )
    assert np.allclose(stage(np.full((6, 8), level)), level, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), range_sigma=st.floats(0.001, 1))
def test_output_within_the_window_range_and_strength_zero_is_identity(seed, range_sigma):
    x = np.random.default_rng(seed).uniform(0, 1, (8, 8))
    y = BayerNoiseReduction(range_sigma=range_sigma)(x)
    assert np.all((y >= x.min() - 1e-12) & (y <= x.max() + 1e-12))
    assert np.array_equal(BayerNoiseReduction(strength=0.0)(x), x)


def test_batch_per_image_and_per_pixel_parameters():
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 1, (2, 8, 10)).astype(np.float32)
    sigma_map = rng.uniform(0.01, 0.3, (2, 8, 10))
    spatial = np.array([1.0, 5.0])
    out = BayerNoiseReduction()(x, {"range_sigma": sigma_map, "spatial_sigma": spatial})
    assert out.dtype == np.float32
    for n in range(2):
        single = BayerNoiseReduction(spatial_sigma=float(spatial[n]))(
            x[n], {"range_sigma": sigma_map[n]}
        )
        assert np.array_equal(out[n], single)


def test_registered_and_runs_from_a_spec():
    assert "bayer_noise_reduction" in get_registry().names("filter")
    pipe = Pipeline.from_dict(
        {
            "input": "raw_mosaic",
            "output": "raw_mosaic",
            "stage": [{"type": "bayer_noise_reduction", "params": {"range_sigma": 0.08}}],
        }
    )
    x = np.random.default_rng(3).uniform(0, 1, (8, 8))
    assert np.array_equal(pipe(x), BayerNoiseReduction(range_sigma=0.08)(x))


def test_torch_input_runs_the_exact_array_path():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(4).uniform(0, 1, (2, 8, 12))
    stage = BayerNoiseReduction(range_sigma=0.2)
    out = stage(torch.from_numpy(x)).numpy()
    assert np.allclose(out, x + bayer_bilateral(x, 0.2, 2.0, np) - x, atol=1e-12)
    assert np.allclose(out, stage(x), atol=2e-6)
