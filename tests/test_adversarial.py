"""Relativistic adversarial losses, R1/R2 penalties, and the colour and texture discriminators."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from ispengine.learning import adversarial  # noqa: E402
from ispengine.learning.feature_extractors import load_extractor  # noqa: E402


def test_relativistic_losses():
    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([0.0, 0.0])
    expected_d = (math.log1p(math.exp(-2.0)) + math.log(2.0)) / 2
    expected_g = (math.log1p(math.exp(2.0)) + math.log(2.0)) / 2
    assert float(adversarial.discriminator_loss(real, fake)) == pytest.approx(expected_d)
    assert float(adversarial.generator_loss(real, fake)) == pytest.approx(expected_g)
    # the generator gains when its logits rise, the discriminator when real ones do
    assert adversarial.generator_loss(real, fake + 1) < adversarial.generator_loss(real, fake)
    assert adversarial.discriminator_loss(real + 1, fake) < adversarial.discriminator_loss(
        real, fake
    )


def test_gradient_penalty_of_a_linear_critic():
    """D(x) = w·x has ‖∇D‖² = ‖w‖² for every input: the penalty is γ/2 ‖w‖²."""
    w = torch.tensor([1.0, -2.0, 2.0], requires_grad=True)
    x = torch.rand(4, 3, requires_grad=True)
    penalty = adversarial.gradient_penalty(x @ w, x, gamma=10.0)
    assert float(penalty.detach()) == pytest.approx(5.0 * 9.0)
    assert penalty.requires_grad  # differentiable: it trains the critic


def test_colour_discriminator_sees_colour_not_texture():
    vit = load_extractor("vit_b_16", None, width=32, depth=1, heads=2, image_size=32, patch=8)
    disc = adversarial.colour_discriminator(vit, hidden=16)
    base = torch.full((1, 3, 64, 64), 0.5)
    texture = base + 0.05 * torch.sign(torch.randn(1, 1, 64, 64)).expand(1, 3, 64, 64)
    tinted = base * torch.tensor([1.4, 1.0, 0.6]).view(1, 3, 1, 1)
    assert disc(base).shape == (1,)
    with torch.no_grad():
        assert abs(float(disc(texture) - disc(base))) < abs(float(disc(tinted) - disc(base)))
    # only the head learns; the extractor is frozen
    assert all(not p.requires_grad for p in vit.parameters())
    assert {id(p) for p in disc.trainable()} == {id(p) for p in disc.head.parameters()}


def test_texture_discriminator_is_blind_to_hue_at_equal_lightness():
    alexnet = load_extractor("alexnet", None, width=8)
    for layer in adversarial.TEXTURE_LAYERS:
        disc = adversarial.texture_discriminator(alexnet, layer, hidden=8)
        x = torch.rand(2, 3, 64, 64)
        swapped = x[:, [0, 0, 0]] * 0 + x.mean(dim=1, keepdim=True)  # grey of similar L*
        assert disc(x).shape == (2,)
        assert torch.isfinite(disc(swapped)).all()
        # gradients reach the image through the frozen extractor (for R1/R2)
        image = x.clone().requires_grad_(True)
        penalty = adversarial.gradient_penalty(disc(image), image)
        penalty.backward()
        assert any(p.grad is not None for p in disc.trainable())


def test_penalty_backpropagates_through_the_vit():
    """R1/R2 need a gradient of a gradient through attention (no fused kernel)."""
    vit = load_extractor("vit_b_16", None, width=32, depth=1, heads=2, image_size=32, patch=8)
    disc = adversarial.colour_discriminator(vit, hidden=8)
    image = torch.rand(2, 3, 32, 32, requires_grad=True)
    adversarial.gradient_penalty(disc(image), image).backward()
    weights = [p for p in disc.trainable() if p.ndim > 1]  # biases do not move ∇ₓD
    assert all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in weights)
