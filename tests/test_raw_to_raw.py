"""The raw-to-raw interface: packing, rebuilding a RAW of the target camera, the
neutral transfer, and the registry."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ispengine.core.cfa import PATTERNS
from ispengine.core.errors import InputError, ParamError
from ispengine.io.raw.image import RawImage
from ispengine.learning.raw_to_raw import (
    RawToRawMethod,
    check_direction,
    map_raw,
    packed_raw,
    raw_like,
    raw_to_raw_class,
    rgb_of_packed,
    transfer_neutral,
)


def _raw(pattern: str, rng: np.random.Generator, shape=(8, 12), black=64.0, white=1023.0):
    mosaic = rng.integers(int(black), int(white) + 1, size=shape).astype(np.uint16)
    return RawImage(mosaic, pattern, black, white, wb_gains=[2.0, 1.0, 1.5])


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(PATTERNS), st.integers(0, 2**32 - 1))
def test_packing_round_trips_through_raw_like(pattern, seed):
    rng = np.random.default_rng(seed)
    raw = _raw(pattern, rng)
    packed = packed_raw(raw)
    assert packed.shape == (4, 6, 4) and packed.dtype == np.float32
    rebuilt = raw_like(packed, raw)
    np.testing.assert_array_equal(rebuilt.mosaic, raw.mosaic)
    assert rebuilt.cfa_pattern == pattern


def test_packed_planes_are_r_gr_gb_b_whatever_the_bayer_order():
    mosaic = np.array([[10, 20], [30, 40]], dtype=np.uint16)
    # bggr: B at (0, 0), Gb at (0, 1), Gr at (1, 0), R at (1, 1)
    raw = RawImage(mosaic, "bggr", 0.0, 100.0)
    np.testing.assert_allclose(packed_raw(raw)[0, 0], [0.4, 0.3, 0.2, 0.1], rtol=1e-6)
    rgb = rgb_of_packed(packed_raw(raw))
    np.testing.assert_allclose(rgb[0, 0], [0.4, 0.25, 0.1], rtol=1e-6)


def test_raw_like_maps_between_bayer_orders_and_levels():
    rng = np.random.default_rng(1)
    source = _raw("rggb", rng)
    target = RawImage(np.zeros((8, 12), np.uint16), "gbrg", 0.0, 4095.0)
    moved = raw_like(packed_raw(source), target)
    assert moved.cfa_pattern == "gbrg" and moved.white_level == 4095.0
    np.testing.assert_allclose(packed_raw(moved), packed_raw(source), atol=0.6 / 4095)


def test_raw_like_refuses_planes_that_are_not_packed():
    like = RawImage(np.zeros((8, 12), np.uint16), "rggb", 0.0, 255.0)
    with pytest.raises(InputError, match="packed planes"):
        raw_like(np.zeros((4, 6, 3)), like)


def test_transfer_neutral_is_exact_for_a_global_matrix():
    rng = np.random.default_rng(2)
    source = rng.uniform(0.05, 0.6, size=(16, 16, 4)).astype(np.float32)
    source[..., 2] = source[..., 1]  # equal greens: the 3×3 acts on (R, G, B)
    matrix = np.array([[0.9, 0.2, 0.0], [0.1, 0.8, 0.1], [0.0, 0.3, 0.7]])
    rgb = rgb_of_packed(source) @ matrix.T
    mapped = np.stack([rgb[..., 0], rgb[..., 1], rgb[..., 1], rgb[..., 2]], axis=-1)
    neutral = np.array([0.5, 1.0, 0.7])
    expected = matrix @ neutral
    got = transfer_neutral(source, mapped, neutral, stride=1)
    np.testing.assert_allclose(got, expected / expected[1], rtol=1e-6)


def test_transfer_neutral_falls_back_when_everything_is_clipped():
    clipped = np.ones((4, 4, 4), np.float32)
    np.testing.assert_allclose(transfer_neutral(clipped, clipped, [2.0, 1.0, 3.0]), [2, 1, 3])


class _Doubler(RawToRawMethod):
    name = "doubler_test"

    def map_packed(self, packed, direction, *, scene=None, downsample=None):
        check_direction(direction)
        return np.asarray(packed) * 0.5


def test_map_raw_keeps_the_target_metadata_and_the_source_capture():
    rng = np.random.default_rng(3)
    source = _raw("grbg", rng)
    like = RawImage(np.zeros((8, 12), np.uint16), "bggr", 10.0, 1023.0, wb_gains=[1.2, 1.0, 3.0])
    mapped = map_raw(_Doubler(), source, "a_to_b", like)
    assert mapped.cfa_pattern == "bggr" and mapped.black_level.tolist() == [10.0] * 4
    assert mapped.capture == source.capture
    np.testing.assert_allclose(packed_raw(mapped), 0.5 * packed_raw(source), atol=1 / 1013)
    # a global scale keeps the source's neutral
    np.testing.assert_allclose(mapped.wb_gains, source.wb_gains / source.wb_gains[1], rtol=1e-6)


def test_bad_direction_is_a_one_line_error():
    with pytest.raises(ParamError, match="a_to_b, b_to_a"):
        check_direction("sideways")


def test_builtin_methods_are_registered():
    for name in ("identity", "calibration_3x3", "calibration_polynomial"):
        assert issubclass(raw_to_raw_class(name), RawToRawMethod)
