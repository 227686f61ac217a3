import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from ispengine.core.numerical_inverse import invert_monotone
from plugins_builtin.function_stages.gamma_tone import GammaTone, GammaToneNumericalInverse


@given(power=st.floats(0.2, 5.0), y=st.floats(0.0, 1.0))
def test_inverts_powers_to_float64_precision(power, y):
    target = np.array([y])
    for dfdx in (None, lambda t: power * np.where(t > 0, t, 0) ** (power - 1)):
        x = invert_monotone(lambda t: np.where(t > 0, t, 0) ** power, target, 0.0, 1.0, dfdx=dfdx)
        assert abs(x[0] - y ** (1 / power)) <= 1e-12


def test_targets_outside_the_range_clip_to_the_ends():
    x = invert_monotone(lambda t: 2 * t, np.array([-1.0, 3.0]), 0.0, 1.0)
    assert x.tolist() == [0.0, 1.0]


def test_flat_segments_still_converge_inside_the_bracket():
    def step(t):
        return np.clip(3 * t - 1, 0, 1)

    x = invert_monotone(step, np.array([0.5]), 0.0, 1.0, dfdx=lambda t: np.full_like(t, 0.0))
    assert abs(step(x)[0] - 0.5) < 1e-12


def test_numerical_inverse_covers_values_above_one():
    forward = GammaTone(g1=2.2, g2=0.8, k=0.3)
    x = np.array([[[1.2, 1.5, -1.3]]])
    restored = GammaToneNumericalInverse.from_forward(forward)(forward(x))
    assert np.allclose(restored, x, atol=1e-12)
