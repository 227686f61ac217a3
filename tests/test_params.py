import numpy as np
import pytest

from ispengine import PER_CHANNEL, ParamError, ParamSpec, Stage
from ispengine.core.params import broadcast_param
from plugins_builtin.function_stages.piecewise_gain import Gain

SPEC = ParamSpec("gain", PER_CHANNEL, 0.5, 2.0, default=1.0)


def test_scalar_value_is_repeated_over_channels():
    assert SPEC.coerce(1.5).tolist() == [1.5, 1.5, 1.5]


@pytest.mark.parametrize("bad", [0.4, 2.5, [1.0, 1.0, 9.0], float("nan")])
def test_out_of_range_or_non_finite_values_are_rejected(bad):
    with pytest.raises(ParamError, match="gain"):
        SPEC.coerce(bad)


def test_wrong_shape_is_rejected():
    with pytest.raises(ParamError, match=r"expected shape \(3,\)"):
        SPEC.coerce([1.0, 1.0])


def test_non_numeric_value_is_rejected():
    with pytest.raises(ParamError, match="expected a number"):
        SPEC.coerce("bright")


def test_default_outside_range_is_a_declaration_error():
    with pytest.raises(ParamError):
        ParamSpec("bad", (), 0.0, 1.0, default=3.0)


@pytest.mark.parametrize(
    ("value_shape", "expected"),
    [((3,), (3,)), ((2, 3), (2, 1, 1, 3)), ((4, 5, 3), (4, 5, 3)), ((2, 4, 5, 3), (2, 4, 5, 3))],
)
def test_constants_per_image_and_per_pixel_values_broadcast(value_shape, expected):
    out = broadcast_param(np.ones(value_shape), SPEC, (2, 4, 5), np)
    assert out.shape == expected
    np.broadcast_shapes(out.shape, (2, 4, 5, 3))


def test_mismatched_leading_shape_is_rejected():
    with pytest.raises(ParamError, match="leading shape"):
        broadcast_param(np.ones((7, 3)), SPEC, (2, 4, 5), np)


class Brightness(Stage):
    name = "brightness"
    params = (SPEC,)

    def apply(self, x, p, xp):
        return x * p["gain"]


def test_stage_rejects_unknown_parameters():
    with pytest.raises(ParamError, match="unknown parameter"):
        Brightness(gian=1.0)


def test_per_image_values_override_constants():
    x = np.ones((2, 3, 3, 3))
    out = Brightness(gain=1.0)(x, {"gain": np.array([[0.5] * 3, [2.0] * 3])})
    assert np.allclose(out[0], 0.5) and np.allclose(out[1], 2.0)


def test_per_call_values_are_range_checked():
    with pytest.raises(ParamError, match="outside the valid range"):
        Brightness()(np.ones((2, 2, 3)), {"gain": np.full(3, 5.0)})


def test_numpy_scalar_overrides_are_range_checked():
    with pytest.raises(ParamError, match="outside the valid range"):
        Gain()(np.ones((1, 1, 3)), {"p_h": np.float32(5.0)})
