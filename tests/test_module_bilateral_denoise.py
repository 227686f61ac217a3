"""``bilateral_denoise``: fast-openISP's bnf transcribed pixel by pixel, edges, declarations."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ispengine import ParamError, Pipeline, get_registry
from plugins_builtin.camera_modules.bilateral_denoise import BilateralDenoise


def direct_bilateral(y: np.ndarray, size: int, spatial: float, intensity: float) -> np.ndarray:
    """modules/bnf.py of fast-openISP, one pixel at a time, in floats."""
    r = size // 2
    padded = np.pad(y, r, mode="reflect")
    out = np.empty_like(y)
    for i in range(y.shape[0]):
        for j in range(y.shape[1]):
            total = weights = 0.0
            for k in range(-r, r + 1):
                for m in range(-r, r + 1):
                    value = padded[i + r + k, j + r + m]
                    w = np.exp(-(k * k + m * m) / (2 * spatial**2)) * np.exp(
                        -((value - y[i, j]) ** 2) / (2 * intensity**2)
                    )
                    total += w * value
                    weights += w
            out[i, j] = total / weights
    return out


@settings(max_examples=25, deadline=None)
@given(
    size=st.sampled_from([3, 5, 7, 15]),
    spatial=st.floats(0.1, 20.0),
    intensity=st.floats(0.001, 10.0),
    seed=st.integers(0, 2**16),
)
def test_matches_direct_transcription(size, spatial, intensity, seed):
    x = np.random.default_rng(seed).uniform(0, 1, (7, 9, 3))
    out = BilateralDenoise(kernel_size=size, spatial_sigma=spatial, intensity_sigma=intensity)(x)
    ref = direct_bilateral(x[..., 0], size, spatial, intensity)
    np.testing.assert_allclose(out[..., 0], ref, atol=1e-6)
    np.testing.assert_array_equal(out[..., 1:], x[..., 1:])


def test_keeps_edges_smooths_noise_constants_and_batches():
    rng = np.random.default_rng(1)
    luma = np.where(np.arange(32) < 16, 0.2, 0.8)[None, :].repeat(32, 0)
    noisy = luma + rng.normal(0, 0.01, luma.shape)
    x = np.stack([noisy, np.full_like(luma, 0.5), np.full_like(luma, 0.6)], -1)
    out = BilateralDenoise(intensity_sigma=0.05, spatial_sigma=2.0)(x)[..., 0]
    assert np.std(out[:, 2:12] - 0.2) < 0.6 * np.std(noisy[:, 2:12] - 0.2)
    assert np.all(np.abs(out[:, 15] - 0.2) < 0.02) and np.all(np.abs(out[:, 16] - 0.8) < 0.02)
    flat = np.full((2, 8, 8, 3), 0.3)
    np.testing.assert_allclose(BilateralDenoise()(flat), flat, atol=1e-12)
    batch = np.stack([x, x[::-1]])
    both = BilateralDenoise()(batch, {"spatial_sigma": [0.5, 3.0]})
    np.testing.assert_allclose(both[1], BilateralDenoise(spatial_sigma=3.0)(x[::-1]))
    assert BilateralDenoise()(x.astype(np.float32)).dtype == np.float32


def test_declarations_registry_and_pipeline():
    for bad in ({"kernel_size": 4}, {"kernel_size": 17}, {"intensity_sigma": 0.0}):
        with pytest.raises(ParamError):
            BilateralDenoise(**bad)
    assert "bilateral_denoise" in get_registry().names("filter")
    pipe = Pipeline.from_dict(
        {"stage": [{"type": "bilateral_denoise", "params": {"kernel_size": 3}}]}
    )
    x = np.random.default_rng(2).uniform(0, 1, (6, 6, 3))
    np.testing.assert_allclose(pipe(x), BilateralDenoise(kernel_size=3)(x))


def test_float32_input_runs_in_float32_near_the_float64_result():
    """float32 input is filtered in float32: within 2e-6 of the float64 transcription."""
    x = np.random.default_rng(3).uniform(0, 1, (17, 23, 3))
    out = BilateralDenoise(intensity_sigma=0.1, spatial_sigma=1.5)(x.astype(np.float32))
    assert out.dtype == np.float32
    ref = direct_bilateral(x[..., 0].astype(np.float32).astype(np.float64), 5, 1.5, 0.1)
    np.testing.assert_allclose(out[..., 0], ref, atol=2e-6)
