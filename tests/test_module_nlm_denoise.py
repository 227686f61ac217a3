"""``nlm_denoise``: fast-openISP's nlm transcribed, the scikit-image and OpenCV backends."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ispengine import InputError, ParamError, Pipeline, get_registry
from plugins_builtin.camera_modules.nlm_denoise import NlmDenoise


def fast_openisp_nlm(y: np.ndarray, window: int, patch: int, h: float) -> np.ndarray:
    """modules/nlm.py of fast-openISP in floats (weights exp(-D / h^2), no LUT)."""
    radius, half = window // 2, patch // 2
    padded = np.pad(y, radius, mode="reflect")
    total, weights = np.zeros_like(y), np.zeros_like(y)
    height, width = y.shape
    for dy in range(window):
        for dx in range(window):
            shifted = padded[dy : dy + height, dx : dx + width]
            squares = np.pad((y - shifted) ** 2, half, mode="reflect")
            distance = (
                sum(
                    squares[u : u + height, v : v + width]
                    for u in range(patch)
                    for v in range(patch)
                )
                / patch**2
            )
            weight = np.exp(-distance / h**2)
            total += weight * shifted
            weights += weight
    return total / weights


def ycbcr(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.uniform(0.0, 1.0, shape + (3,))


@settings(max_examples=25, deadline=None)
@given(
    window=st.sampled_from([3, 5, 9, 21]),
    patch=st.sampled_from([1, 3, 5, 9]),
    h=st.floats(0.0001, 1.0),
    seed=st.integers(0, 2**16),
)
def test_numba_backend_matches_fast_openisp(window, patch, h, seed):
    x = ycbcr(np.random.default_rng(seed), (9, 11))
    out = NlmDenoise(search_window=window, patch_size=patch, h=h)(x)
    np.testing.assert_allclose(
        out[..., 0], fast_openisp_nlm(x[..., 0], window, patch, h), atol=2e-6
    )
    np.testing.assert_array_equal(out[..., 1:], x[..., 1:])


def test_skimage_backend_is_denoise_nl_means_on_luma():
    from skimage.restoration import denoise_nl_means

    x = ycbcr(np.random.default_rng(1), (20, 24))
    out = NlmDenoise(backend="skimage", search_window=7, patch_size=5, h=0.2)(x)
    ref = denoise_nl_means(x[..., 0], 5, 3, 0.2, fast_mode=True, preserve_range=True)
    np.testing.assert_allclose(out[..., 0], ref)
    np.testing.assert_array_equal(out[..., 1:], x[..., 1:])


def test_opencv_backend_is_fast_nl_means_on_8bit_luma():
    cv2 = pytest.importorskip("cv2")
    x = ycbcr(np.random.default_rng(2), (20, 24))
    out = NlmDenoise(backend="opencv", search_window=9, patch_size=3, h=30 / 255)(x)
    levels = np.round(x[..., 0] * 255).astype(np.uint8)
    ref = cv2.fastNlMeansDenoising(levels, None, h=30.0, templateWindowSize=3, searchWindowSize=9)
    np.testing.assert_array_equal(out[..., 0], ref / 255.0)
    np.testing.assert_array_equal(out[..., 1:], x[..., 1:])


def test_reduces_noise_keeps_constants_and_batches():
    rng = np.random.default_rng(3)
    flat = np.concatenate([np.full((2, 24, 24, 1), 0.4), np.full((2, 24, 24, 2), 0.5)], -1)
    np.testing.assert_allclose(NlmDenoise(h=1.0)(flat), flat, atol=1e-12)
    noisy = flat + np.concatenate(
        [rng.normal(0, 0.02, (2, 24, 24, 1)), np.zeros((2, 24, 24, 2))], -1
    )
    out = NlmDenoise(h=0.05)(noisy)
    assert np.std(out[..., 0]) < 0.6 * np.std(noisy[..., 0])
    per_image = NlmDenoise()(noisy, {"h": [0.0001, 0.05]})
    np.testing.assert_allclose(per_image[0], noisy[0], atol=1e-9)  # h tiny: unchanged
    np.testing.assert_allclose(per_image[1], out[1])
    assert NlmDenoise()(noisy.astype(np.float32)).dtype == np.float32


def test_declarations_registry_and_pipeline():
    for bad in ({"search_window": 4}, {"search_window": 23}, {"patch_size": 2}, {"h": 0.0}):
        with pytest.raises(ParamError):
            NlmDenoise(**bad)
    registry = get_registry()
    assert "nlm_denoise" in registry.names("filter")
    assert registry.inverse_kind("nlm_denoise") == "none"
    pipe = Pipeline.from_dict(
        {"stage": [{"type": "nlm_denoise", "params": {"h": 0.05, "search_window": 5}}]}
    )
    x = ycbcr(np.random.default_rng(4), (12, 12))
    np.testing.assert_allclose(pipe(x), NlmDenoise(h=0.05, search_window=5)(x))
    with pytest.raises(InputError, match="numpy"):
        NlmDenoise().apply(x.tolist(), {"h": np.float64(0.1)}, None)


def test_float32_input_runs_in_float32_near_the_float64_result():
    """float32 input is filtered in float32 (squared differences, weights and sums): its
    result stays within 2e-6 of the float64 transcription (float32 rounding of
    the distances and sums, 1.4e-7 here)."""
    x = ycbcr(np.random.default_rng(5), (33, 40))
    out = NlmDenoise(h=0.05)(x.astype(np.float32))
    assert out.dtype == np.float32
    ref = fast_openisp_nlm(x[..., 0].astype(np.float32).astype(np.float64), 9, 3, 0.05)
    np.testing.assert_allclose(out[..., 0], ref, atol=2e-6)
