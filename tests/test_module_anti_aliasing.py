"""anti_aliasing_filter: fast-openISP's AAF, transcribed, on normalised mosaics."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ispengine import Pipeline, get_registry
from plugins_builtin.camera_modules.anti_aliasing import AntiAliasingFilter

SOURCE_INDICES = {  # fast-openISP's helpers.get_bayer_indices: (x, y) of R, Gr, Gb, B
    "rggb": ((0, 0), (1, 0), (0, 1), (1, 1)),
    "gbrg": ((0, 1), (1, 1), (0, 0), (1, 0)),
}


def source_aaf(bayer: np.ndarray, pattern: str) -> np.ndarray:
    """fast-openISP modules/aaf.py in integers: 8·centre + 8 neighbours, >> 4."""
    padded = np.pad(bayer.astype(np.int64), 2, mode="reflect")
    out = np.empty_like(bayer, dtype=np.int64)
    h, w = bayer.shape[0] // 2, bayer.shape[1] // 2
    for x0, y0 in SOURCE_INDICES[pattern]:
        plane = padded[y0::2, x0::2]
        shifts = [plane[a : a + h, b : b + w] for a in range(3) for b in range(3)]
        total = sum((8 if k == 4 else 1) * s for k, s in enumerate(shifts))
        out[y0::2, x0::2] = total >> 4
    return out


@pytest.mark.parametrize("pattern", ["rggb", "gbrg"])
def test_matches_fast_openisp_transcription(pattern):
    bayer = np.random.default_rng(0).integers(0, 1024, (24, 36))
    got = AntiAliasingFilter(pattern=pattern)(bayer.astype(np.float64)) * 16
    # the source's right shift rounds the exact weighted sum down
    assert np.allclose(got, np.round(got))
    assert np.array_equal(np.round(got).astype(np.int64) >> 4, source_aaf(bayer, pattern))


def test_frequency_response_on_a_plane():
    # R plane alternating +-1 along rows (plane Nyquist along one axis): gain 1/4
    rows = np.arange(16)[:, None] // 2
    x = 0.5 + 0.25 * np.where(rows % 2 == 0, 1.0, -1.0) * np.ones((16, 16))
    y = AntiAliasingFilter()(x)
    inner = (slice(4, -4), slice(4, -4))
    assert np.allclose(y[inner] - 0.5, (x[inner] - 0.5) / 4)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), level=st.floats(0, 1))
def test_constant_kept_and_output_in_range(seed, level):
    assert np.allclose(AntiAliasingFilter()(np.full((6, 8), level)), level, atol=1e-15)
    x = np.random.default_rng(seed).uniform(0, 1, (6, 8))
    y = AntiAliasingFilter()(x)
    assert np.all((y >= 0) & (y <= 1)) and abs(y.mean() - x.mean()) < 0.1


def test_batch_and_float32():
    batch = np.random.default_rng(1).uniform(0, 1, (2, 8, 10)).astype(np.float32)
    out = AntiAliasingFilter()(batch)
    assert out.dtype == np.float32
    assert np.array_equal(out[1], AntiAliasingFilter()(batch[1]))


def test_registered_and_runs_from_a_spec():
    assert "anti_aliasing_filter" in get_registry().names("filter")
    pipe = Pipeline.from_dict(
        {
            "input": "raw_mosaic",
            "output": "raw_mosaic",
            "stage": [{"type": "anti_aliasing_filter", "params": {"pattern": "bggr"}}],
        }
    )
    x = np.random.default_rng(2).uniform(0, 1, (8, 8))
    assert np.array_equal(pipe(x), AntiAliasingFilter()(x))
