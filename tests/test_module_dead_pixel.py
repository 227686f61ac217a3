"""dead_pixel_correction: fast-openISP's DPC, transcribed, on normalised mosaics."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ispengine import Pipeline, get_registry
from plugins_builtin.camera_modules.dead_pixel import (
    DeadPixelCorrection,
    correct_dead_pixels,
    correct_dead_pixels_numpy,
)

# fast-openISP's helpers.get_bayer_indices: (x, y) of R, Gr, Gb, B.
SOURCE_INDICES = {
    "rggb": ((0, 0), (1, 0), (0, 1), (1, 1)),
    "bggr": ((1, 1), (0, 1), (1, 0), (0, 0)),
    "grbg": ((1, 0), (0, 0), (1, 1), (0, 1)),
    "gbrg": ((0, 1), (1, 1), (0, 0), (1, 0)),
}


def source_dpc(bayer: np.ndarray, threshold: int, pattern: str) -> np.ndarray:
    """fast-openISP modules/dpc.py in integers: pad by 2 (reflect), split, 3×3 shifts."""
    padded = np.pad(bayer.astype(np.int64), 2, mode="reflect")
    out = np.empty_like(bayer, dtype=np.int64)
    height, width = bayer.shape
    for x0, y0 in SOURCE_INDICES[pattern]:
        plane = padded[y0::2, x0::2]
        h, w = height // 2, width // 2
        s = [plane[a : a + h, b : b + w] for a in range(3) for b in range(3)]
        c = s[4]
        mask = np.all([np.abs(c - s[k]) > threshold for k in (0, 1, 2, 3, 5, 6, 7, 8)], axis=0)
        grads = np.stack(
            [
                np.abs(2 * c - s[1] - s[7]),
                np.abs(2 * c - s[3] - s[5]),
                np.abs(2 * c - s[0] - s[8]),
                np.abs(2 * c - s[6] - s[2]),
            ],
            axis=-1,
        )
        pairs = np.stack([s[1] + s[7], s[3] + s[5], s[0] + s[8], s[6] + s[2]], axis=-1) >> 1
        chosen = np.take_along_axis(pairs, np.argmin(grads, axis=-1)[..., None], -1)[..., 0]
        out[y0::2, x0::2] = np.where(mask, chosen, c)
    return out


def mosaic_with_dead_pixels(size=(32, 48), seed=0):
    """A smooth 10-bit mosaic with noise and isolated stuck sites (0 or 1023) away from
    the border; returns the mosaic, the clean level and the stuck sites."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : size[0], 0 : size[1]]
    smooth = 400 + 150 * np.sin(xx / 7.0) * np.cos(yy / 9.0)
    bayer = np.round(smooth + rng.normal(0, 4, size)).astype(np.int64)
    rows, cols = np.meshgrid(np.arange(3, size[0] - 3, 6), np.arange(3, size[1] - 3, 7))
    rows, cols = rows.ravel(), cols.ravel()
    bayer[rows, cols] = rng.choice([0, 1023], rows.size)
    return np.clip(bayer, 0, 1023), smooth, (rows, cols)


@pytest.mark.parametrize("pattern", ["rggb", "bggr", "grbg", "gbrg"])
def test_matches_fast_openisp_transcription(pattern):
    bayer, _, _ = mosaic_with_dead_pixels()
    expected = source_dpc(bayer, 30, pattern)
    # integers: |d| > 30 is |d| > 30.5; the source halves with a right shift (floor)
    stage = DeadPixelCorrection(threshold=30.5 / 1023, pattern=pattern)
    got = stage(bayer / 1023.0) * 1023
    assert np.array_equal(np.floor(got + 1e-9).astype(np.int64), expected)
    assert np.max(np.abs(got - expected)) <= 0.5 + 1e-9


def test_dead_pixels_are_replaced_and_others_kept():
    bayer, smooth, (rows, cols) = mosaic_with_dead_pixels(seed=3)
    x = bayer / 1023.0
    y = DeadPixelCorrection()(x)
    assert np.all(np.abs(y[rows, cols] * 1023 - smooth[rows, cols]) < 25)  # the local level
    changed = y != x
    changed[rows, cols] = False
    assert not changed.any()  # 4-level noise never passes a 30-level threshold


def test_compiled_and_array_paths_agree_and_patterns_do_not_matter():
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (2, 16, 20))
    threshold = rng.uniform(0, 0.3, (16, 20))
    a = correct_dead_pixels_numpy(x, threshold)
    b = correct_dead_pixels(x, threshold, np)
    assert np.array_equal(a, b)
    outs = [DeadPixelCorrection(threshold=0.1, pattern=p)(x) for p in ("rggb", "gbrg")]
    assert np.array_equal(outs[0], outs[1])


@settings(max_examples=30, deadline=None)
@given(threshold=st.floats(0, 1), seed=st.integers(0, 2**16))
def test_output_stays_within_the_neighbourhood_range(threshold, seed):
    x = np.random.default_rng(seed).uniform(0, 1, (8, 10))
    y = DeadPixelCorrection(threshold=threshold)(x)
    assert y.shape == x.shape and np.all((y >= 0) & (y <= 1))
    assert np.array_equal(DeadPixelCorrection(threshold=1.0)(x), x)


def test_edge_cases_constant_batch_float32():
    assert np.array_equal(
        DeadPixelCorrection(threshold=0)(np.full((6, 8), 0.3)), np.full((6, 8), 0.3)
    )
    rng = np.random.default_rng(2)
    batch = rng.uniform(0, 1, (3, 8, 12)).astype(np.float32)
    stage = DeadPixelCorrection(threshold=0.05)
    out = stage(batch)
    assert out.dtype == np.float32
    for k in range(3):
        assert np.array_equal(out[k], stage(batch[k]))
    # a per-pixel threshold map
    out_map = stage(batch, {"threshold": np.full((8, 12), 0.05)})
    assert np.array_equal(out_map, out)


def test_registered_and_runs_from_a_spec():
    assert "dead_pixel_correction" in get_registry().names("filter")
    pipe = Pipeline.from_dict(
        {
            "input": "raw_mosaic",
            "output": "raw_mosaic",
            "stage": [
                {
                    "type": "dead_pixel_correction",
                    "params": {"threshold": 30 / 1023},
                    "from_metadata": {"pattern": "cfa_pattern"},
                }
            ],
        }
    )
    bayer, _, _ = mosaic_with_dead_pixels()
    out = pipe(bayer / 1023.0, metadata={"cfa_pattern": "grbg"})
    assert np.array_equal(out, DeadPixelCorrection(pattern="grbg")(bayer / 1023.0))
