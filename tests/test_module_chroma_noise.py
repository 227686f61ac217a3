"""chroma_noise_filter: fast-openISP's CNF, transcribed, on normalised mosaics."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ispengine import Pipeline, get_registry
from plugins_builtin.camera_modules.chroma_noise import ChromaNoiseFilter

SOURCE_INDICES = {  # fast-openISP's helpers.get_bayer_indices: (x, y) of R, Gr, Gb, B
    "rggb": ((0, 0), (1, 0), (0, 1), (1, 1)),
    "grbg": ((1, 0), (0, 0), (1, 1), (0, 1)),
}


def source_cnf(bayer, threshold, r_gain, b_gain, pattern):
    """fast-openISP modules/cnf.py on a 10-bit-scaled float mosaic, its integer casts and
    shifts made exact divisions."""
    planes = [bayer[y0::2, x0::2] for x0, y0 in SOURCE_INDICES[pattern]]

    def mean_filter(a):
        p = np.pad(a, 2, mode="reflect")
        h, w = a.shape
        return sum(p[i : i + h, j : j + w] for i in range(5) for j in range(5)) / 25

    r, gr, gb, b = planes
    avg_r, avg_b = mean_filter(r), mean_filter(b)
    avg_g = (mean_filter(gr) + mean_filter(gb)) / 2
    t = threshold
    is_r = (r - avg_g > t) & (r - avg_b > t) & (avg_r - avg_g > t) & (avg_r - avg_b < t)
    is_b = (b - avg_g > t) & (b - avg_r > t) & (avg_b - avg_g > t) & (avg_b - avg_r < t)
    y = (306 * avg_r + 601 * avg_g + 117 * avg_b) / 1024

    def cnc(array, avg_c1, avg_c2, gain):
        damp = 1.0 if gain <= 1 else 0.5 if gain <= 1229 / 1024 else 77 / 256
        max_avg = np.maximum(avg_g, avg_c2)
        corrected = max_avg + damp * (array - max_avg)
        fade1 = np.select(
            [y <= v for v in (30, 50, 70, 100, 150, 200, 250)],
            [1.0, 0.9, 0.8, 0.7, 0.6, 0.3, 0.1],
            0.0,
        )
        fade2 = np.select(
            [avg_c1 <= v for v in (30, 50, 70, 100, 150, 200)],
            [1.0, 0.9, 0.8, 0.6, 0.5, 0.3],
            0.0,
        )
        fade = fade1 * fade2
        return fade * corrected + (1 - fade) * array

    r_out = np.where(is_r, cnc(r, avg_r, avg_b, r_gain), r)
    b_out = np.where(is_b, cnc(b, avg_b, avg_r, b_gain), b)
    out = np.empty_like(bayer)
    for (x0, y0), plane in zip(SOURCE_INDICES[pattern], (r_out, gr, gb, b_out), strict=True):
        out[y0::2, x0::2] = plane
    return out


def purple_noisy_mosaic(pattern="rggb", size=(32, 40), seed=0):
    """Dark, B̄ > R̄ > Ḡ (where the source's detector fires), with red and blue noise."""
    rng = np.random.default_rng(seed)
    colour = {"r": 25, "g": 10, "b": 35}
    cell = np.array(
        [[colour[pattern[0]], colour[pattern[1]]], [colour[pattern[2]], colour[pattern[3]]]]
    )
    base = np.tile(cell, (size[0] // 2, size[1] // 2)).astype(float)
    return (base + rng.normal(0, 6, size)).clip(0, 1023) / 1023


@pytest.mark.parametrize("pattern", ["rggb", "grbg"])
@pytest.mark.parametrize("threshold", [0, 3])
def test_matches_fast_openisp_transcription(pattern, threshold):
    x = purple_noisy_mosaic(pattern)
    stage = ChromaNoiseFilter(
        diff_threshold=threshold / 1023, gains=[1860 / 1024, 1, 1280 / 1024], pattern=pattern
    )
    expected = source_cnf(x * 1023, threshold, 1860 / 1024, 1280 / 1024, pattern) / 1023
    y = stage(x)
    assert not np.array_equal(y, x)  # the detector fired somewhere
    assert np.allclose(y, expected, rtol=0, atol=1e-12)


def test_random_mosaic_matches_transcription_and_greens_are_kept():
    x = np.random.default_rng(5).uniform(0, 1, (24, 28))
    y = ChromaNoiseFilter(gains=[2.0, 1.0, 1.1])(x)
    assert np.allclose(y, source_cnf(x * 1023, 0, 2.0, 1.1, "rggb") / 1023, atol=1e-12)
    assert np.array_equal(y[0::2, 1::2], x[0::2, 1::2])
    assert np.array_equal(y[1::2, 0::2], x[1::2, 0::2])


def test_corrected_sites_move_towards_the_local_means():
    x = purple_noisy_mosaic()
    y = ChromaNoiseFilter(gains=[1.816, 1, 1.25])(x)
    changed = y != x
    assert changed.any()
    assert np.all(y[changed] < x[changed])  # excursions above the means are pulled down


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    threshold=st.floats(0, 1),
    gains=st.lists(st.floats(0.05, 20), min_size=3, max_size=3),
)
def test_output_stays_in_range_over_the_parameters(seed, threshold, gains):
    x = np.random.default_rng(seed).uniform(0, 1, (8, 12))
    y = ChromaNoiseFilter(diff_threshold=threshold, gains=gains)(x)
    assert np.all((y >= 0) & (y <= 1)) and y.shape == x.shape
    if gains[0] <= gains[1] and gains[2] <= gains[1]:  # damping 1: nothing changes
        assert np.array_equal(y, x)


def test_edge_cases_constant_batch_and_threshold_map():
    assert np.array_equal(
        ChromaNoiseFilter(gains=[2, 1, 2])(np.full((6, 6), 0.02)), np.full((6, 6), 0.02)
    )
    batch = np.stack([purple_noisy_mosaic(seed=s) for s in (1, 2)]).astype(np.float32)
    stage = ChromaNoiseFilter(gains=[1.816, 1, 1.25])
    out = stage(batch)
    assert out.dtype == np.float32
    assert np.array_equal(out[1], stage(batch[1]))
    with_map = stage(batch, {"diff_threshold": np.full(batch.shape[-2:], 0.005)})
    assert np.array_equal(with_map, stage(batch, {"diff_threshold": 0.005}))
    # a map that is 0 on the first image's left half and 1 elsewhere: only there may it act
    split = np.ones(batch.shape)
    split[0, :, : batch.shape[-1] // 2] = 0.0
    half = stage(batch, {"diff_threshold": split})
    assert np.array_equal(half[0, :, : batch.shape[-1] // 2], out[0, :, : batch.shape[-1] // 2])
    assert np.array_equal(half[0, :, batch.shape[-1] // 2 :], batch[0, :, batch.shape[-1] // 2 :])
    assert np.array_equal(half[1], batch[1])


def test_registered_and_runs_from_a_spec():
    assert "chroma_noise_filter" in get_registry().names("filter")
    pipe = Pipeline.from_dict(
        {
            "input": "raw_mosaic",
            "output": "raw_mosaic",
            "stage": [
                {
                    "type": "chroma_noise_filter",
                    "from_metadata": {"gains": "wb_gains", "pattern": "cfa_pattern"},
                }
            ],
        }
    )
    x = purple_noisy_mosaic("grbg")
    meta = {"wb_gains": [1.816, 1.0, 1.25], "cfa_pattern": "grbg"}
    expected = ChromaNoiseFilter(gains=[1.816, 1.0, 1.25], pattern="grbg")(x)
    assert np.array_equal(pipe(x, metadata=meta), expected)
