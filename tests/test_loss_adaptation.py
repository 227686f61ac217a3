"""Combining loss terms: fixed weights and dynamic loss adaptation."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from ispengine.learning.loss_adaptation import EPSILON, combine_gradients  # noqa: E402


def _terms(theta):
    big = 1000.0 * (theta**2).sum()  # gradient 2000·θ
    small = 0.001 * theta.sum()  # gradient 0.001·1
    return {"big": big, "small": small}


def test_dynamic_adaptation_gives_every_term_unit_gradient_norm():
    theta = torch.tensor([1.0, 2.0], requires_grad=True)
    shown = combine_gradients(_terms(theta), {"big": 1.0, "small": 1.0}, [theta], dynamic=True)
    g_big = torch.tensor([2000.0, 4000.0])
    g_small = torch.tensor([0.001, 0.001])
    expected = g_big / g_big.norm() + g_small / g_small.norm()
    torch.testing.assert_close(theta.grad, expected)
    assert shown["big"] == pytest.approx(1000.0 * 5 / (float(g_big.norm()) + EPSILON))
    assert shown["small"] == pytest.approx(0.003 / (float(g_small.norm()) + EPSILON), rel=1e-4)


def test_weights_scale_adapted_terms():
    theta = torch.tensor([1.0, 2.0], requires_grad=True)
    combine_gradients(_terms(theta), {"big": 2.0, "small": 0.5}, [theta], dynamic=True)
    g_big = torch.tensor([2000.0, 4000.0])
    g_small = torch.tensor([0.001, 0.001])
    torch.testing.assert_close(
        theta.grad, 2.0 * g_big / g_big.norm() + 0.5 * g_small / g_small.norm()
    )


def test_fixed_weights_give_the_weighted_sum():
    theta = torch.tensor([1.0, 2.0], requires_grad=True)
    shown = combine_gradients(_terms(theta), {"big": 1.0, "small": 3.0}, [theta], dynamic=False)
    torch.testing.assert_close(theta.grad, torch.tensor([2000.003, 4000.003]))
    assert shown == pytest.approx({"big": 5000.0, "small": 0.009})


def test_zero_weight_terms_and_unused_parameters():
    theta = torch.tensor([1.0, 2.0], requires_grad=True)
    other = torch.tensor([3.0], requires_grad=True)  # no term depends on it
    shown = combine_gradients(
        _terms(theta), {"big": 0.0, "small": 1.0}, [theta, other], dynamic=True
    )
    assert set(shown) == {"small"}
    torch.testing.assert_close(other.grad, torch.zeros(1))
    torch.testing.assert_close(theta.grad, torch.tensor([1.0, 1.0]) / 2**0.5)
