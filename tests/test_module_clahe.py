"""``clahe``: scikit-image's and OpenCV's CLAHE on the luma, chroma untouched, edges."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ispengine import ParamError, Pipeline, get_registry
from plugins_builtin.camera_modules.clahe import Clahe


def ycbcr_with_full_range_luma(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    luma = np.round(rng.uniform(0, 1, shape) ** 2 * 255) / 255
    luma[0, 0], luma[-1, -1] = 0.0, 1.0
    return np.stack([luma, rng.uniform(0, 1, shape), rng.uniform(0, 1, shape)], -1)


@settings(max_examples=25, deadline=None)
@given(
    rows=st.integers(1, 6),
    columns=st.integers(1, 6),
    clip=st.floats(0.001, 1.0),
    seed=st.integers(0, 2**16),
)
def test_is_equalize_adapthist_up_to_its_final_stretch(rows, columns, clip, seed):
    from skimage.exposure import equalize_adapthist

    x = ycbcr_with_full_range_luma(np.random.default_rng(seed), (24, 30))
    out = Clahe(tiles=[rows, columns], clip_limit=clip)(x)
    kernel = (math.ceil(24 / rows), math.ceil(30 / columns))
    ref = equalize_adapthist(x[..., 0], kernel_size=kernel, clip_limit=clip, nbins=256)
    luma = out[..., 0]
    stretched = (luma - luma.min()) / (luma.max() - luma.min())
    np.testing.assert_allclose(stretched, ref, atol=1e-6)
    np.testing.assert_array_equal(out[..., 1:], x[..., 1:])


def test_opencv_backend_is_create_clahe_on_8bit_luma():
    cv2 = pytest.importorskip("cv2")
    x = ycbcr_with_full_range_luma(np.random.default_rng(1), (24, 36))
    out = Clahe(backend="opencv", tiles=[4, 6], clip_limit=0.01)(x)
    levels = np.round(x[..., 0] * 255).astype(np.uint8)
    ref = cv2.createCLAHE(clipLimit=2.56, tileGridSize=(6, 4)).apply(levels)
    np.testing.assert_array_equal(out[..., 0], ref / 255.0)
    np.testing.assert_array_equal(out[..., 1:], x[..., 1:])


def test_raises_local_contrast_flat_stays_flat_and_batches():
    rng = np.random.default_rng(2)
    luma = 0.45 + 0.1 * rng.uniform(0, 1, (32, 32))
    x = np.stack([luma, np.full_like(luma, 0.5), np.full_like(luma, 0.5)], -1)
    assert np.std(Clahe(clip_limit=0.05)(x)[..., 0]) > 2 * np.std(luma)
    flat = np.full((2, 16, 16, 3), 0.5)
    out = Clahe()(flat)
    assert np.ptp(out[..., 0]) == 0 and 0.0 < out[0, 0, 0, 0] < 1.0  # not stretched to white
    batch = np.stack([x, x[::-1]])
    both = Clahe()(batch, {"clip_limit": [0.01, 0.5]})
    np.testing.assert_allclose(both[1], Clahe(clip_limit=0.5)(x[::-1]))
    assert Clahe()(x.astype(np.float32)).dtype == np.float32


def test_declarations_registry_and_pipeline():
    for bad in ({"tiles": [0, 4]}, {"tiles": [2.5, 4]}, {"tiles": [4]}, {"clip_limit": 0.0}):
        with pytest.raises(ParamError):
            Clahe(**bad)
    assert "clahe" in get_registry().names("filter")
    pipe = Pipeline.from_dict({"stage": [{"type": "clahe", "params": {"tiles": [2, 2]}}]})
    x = ycbcr_with_full_range_luma(np.random.default_rng(3), (16, 16))
    np.testing.assert_allclose(pipe(x), Clahe(tiles=[2, 2])(x))
