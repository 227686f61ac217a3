"""Global calibrations between two cameras (``calibration_3x3``, ``calibration_polynomial``)
and the ``identity`` baseline."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ispengine.core.errors import InputError
from ispengine.learning.raw_to_raw import load_raw_to_raw, rgb_of_packed
from ispengine.learning.srgb_to_raw import Budget
from plugins_builtin.calibration.chart import ALL_ILLUMINANTS, chart_patches, scene_illuminants
from plugins_builtin.calibration.global_fit import (
    Calibration3x3,
    CalibrationPolynomial,
    polynomial_terms,
)
from plugins_builtin.calibration.identity import Identity

CAMERAS = ("nikon_5100", "sigma_sdmerrill")
BUDGET = Budget(steps=1)


class _Pairs:
    """A stand-in for CameraPairs: camera names and anchor pairs of given samples."""

    def __init__(self, cameras=CAMERAS, anchors=()):
        self.cameras = cameras
        self._anchors = list(anchors)

    def anchor_pairs(self, a, b):
        return self._anchors


def _packed_of_rgb(rgb: np.ndarray) -> np.ndarray:
    return np.stack([rgb[..., 0], rgb[..., 1], rgb[..., 1], rgb[..., 2]], axis=-1)


def test_chart_patches_are_white_normalised_per_illuminant():
    patches = chart_patches("nikon_5100", "colorchecker_babelcolor", ("D65", "A"))
    assert patches.shape == (48, 3)
    # the chart's white patch (index 18) reflects about 90 %: G ≈ 0.9 under every light
    np.testing.assert_allclose(patches[[18, 42], 1], 0.9, atol=0.05)


def test_chart_calibration_fits_the_least_squares_matrix_of_the_patches():
    method = Calibration3x3()
    method.fit(_Pairs(), BUDGET)
    a = chart_patches(CAMERAS[0], "colorchecker_babelcolor", ALL_ILLUMINANTS)
    b = chart_patches(CAMERAS[1], "colorchecker_babelcolor", ALL_ILLUMINANTS)
    expected, *_ = np.linalg.lstsq(a, b, rcond=None)
    np.testing.assert_allclose(method.weights["a_to_b"], expected, rtol=1e-8, atol=1e-10)
    mapped = method.map_packed(_packed_of_rgb(a[None] * 0.5), "a_to_b")
    np.testing.assert_allclose(
        rgb_of_packed(mapped)[0], np.clip(0.5 * a @ expected, 0, 1), atol=1e-6
    )


@settings(max_examples=20, deadline=None)
@given(
    st.lists(st.floats(-1.0, 1.0), min_size=9, max_size=9),
    st.integers(0, 2**32 - 1),
)
def test_anchor_calibration_recovers_an_exact_linear_relation(entries, seed):
    matrix = np.eye(3) + 0.3 * np.asarray(entries).reshape(3, 3)
    rng = np.random.default_rng(seed)
    rgb = rng.uniform(0.02, 0.3, size=(12, 12, 3))
    mapped_rgb = rgb @ matrix.T
    if mapped_rgb.max() >= 0.95 or mapped_rgb.min() < 0:
        return  # outside the unclipped range the fit uses

    class _Sample:
        def __init__(self, rgb):
            from ispengine.io.raw.image import RawImage
            from ispengine.learning.raw_to_raw import raw_like

            like = RawImage(np.zeros((24, 24), np.uint16), "rggb", 0.0, 65535.0)
            self.raw = raw_like(_packed_of_rgb(rgb), like)

    method = Calibration3x3(source="anchors", stride=1)
    method.fit(_Pairs(anchors=[(_Sample(rgb), _Sample(mapped_rgb))]), BUDGET)
    np.testing.assert_allclose(method.weights["a_to_b"], matrix.T, atol=2e-3)


def test_polynomial_terms_are_the_nine_second_order_ones():
    rgb = np.array([2.0, 3.0, 5.0])
    np.testing.assert_array_equal(polynomial_terms(rgb), [4, 9, 25, 6, 10, 15, 2, 3, 5])


def test_polynomial_is_at_least_as_good_as_the_matrix_on_its_patches():
    matrix, polynomial = Calibration3x3(), CalibrationPolynomial()
    for method in (matrix, polynomial):
        method.fit(_Pairs(), BUDGET)
    a, b = polynomial.chart_pair(tuple(ALL_ILLUMINANTS))
    error_matrix = np.mean((matrix.features(a) @ matrix.weights["a_to_b"] - b) ** 2)
    error_poly = np.mean((polynomial.features(a) @ polynomial.weights["a_to_b"] - b) ** 2)
    assert error_poly <= error_matrix * 1.0001


def test_scene_illuminants_calibration_needs_the_scene():
    method = Calibration3x3(illuminants="scene")
    method.fit(_Pairs(), BUDGET)
    packed = np.full((4, 4, 4), 0.2, np.float32)
    with pytest.raises(InputError, match="needs the scene's illuminant"):
        method.map_packed(packed, "a_to_b")
    one = method.map_packed(packed, "a_to_b", scene={"illuminants": ["A"]})
    other = method.map_packed(packed, "a_to_b", scene={"illuminants": ["D65"]})
    assert not np.allclose(one, other)
    assert scene_illuminants({"illuminant": "FL2"}) == ("FL2",)


def test_save_and_load_round_trip(tmp_path):
    method = CalibrationPolynomial()
    method.fit(_Pairs(), BUDGET)
    loaded = load_raw_to_raw(method.save(tmp_path / "calibration"))
    assert isinstance(loaded, CalibrationPolynomial) and loaded.cameras == CAMERAS
    packed = np.random.default_rng(0).uniform(0, 0.5, (6, 6, 4)).astype(np.float32)
    np.testing.assert_array_equal(
        loaded.map_packed(packed, "b_to_a"), method.map_packed(packed, "b_to_a")
    )


def test_errors_are_one_line():
    with pytest.raises(InputError, match="not a SynthCam camera"):
        Calibration3x3().fit(_Pairs(cameras=("phone_x", "phone_y")), BUDGET)
    with pytest.raises(InputError, match="anchor images"):
        Calibration3x3(source="anchors").fit(_Pairs(), BUDGET)
    with pytest.raises(InputError, match="not fitted"):
        Calibration3x3().map_packed(np.zeros((2, 2, 4)), "a_to_b")
    with pytest.raises(InputError, match="expected"):
        Calibration3x3().load_state({"a_to_b": np.zeros((9, 3))})


def test_identity_returns_the_input_and_refuses_downsampling():
    packed = np.random.default_rng(1).uniform(size=(3, 5, 4)).astype(np.float32)
    np.testing.assert_array_equal(Identity().map_packed(packed, "b_to_a"), packed)
    with pytest.raises(Exception, match="downsample"):
        Identity().map_packed(packed, "a_to_b", downsample=4)
