"""The forward-ISP loss terms: content (and its L* form), colour, perceptual, total variation."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ispengine.learning import isp_losses  # noqa: E402
from ispengine.learning.feature_extractors import load_extractor  # noqa: E402


def _image(seed: int = 0, shape=(2, 3, 32, 32)):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=generator)


def test_lab_lightness_matches_colour_science():
    colour = pytest.importorskip("colour")
    rgb = np.random.default_rng(1).random((5, 3))
    expected = colour.XYZ_to_Lab(colour.sRGB_to_XYZ(rgb))[:, 0] / 100
    x = torch.from_numpy(rgb.T.reshape(1, 3, 5, 1))
    got = isp_losses.lab_lightness(x).reshape(-1).numpy()
    np.testing.assert_allclose(got, expected, atol=2e-4)


def test_gaussian_blur_keeps_constants_and_sums_to_one():
    flat = torch.full((1, 3, 30, 30), 0.25)
    torch.testing.assert_close(isp_losses.gaussian_blur(flat), flat)
    taps = isp_losses._gaussian_taps(3.0, 21)
    assert math.isclose(sum(taps), 1.0) and len(taps) == 21
    noisy = _image(2)
    assert float(isp_losses.gaussian_blur(noisy).std()) < float(noisy.std()) / 3
    tiny = _image(3, (1, 3, 4, 5))  # smaller than the kernel: taps shrink
    assert isp_losses.gaussian_blur(tiny).shape == tiny.shape


def test_colour_loss_ignores_texture_but_not_colour():
    base = torch.full((1, 3, 48, 48), 0.5)
    texture = base + 0.05 * torch.sign(torch.randn(1, 1, 48, 48)).expand(1, 3, 48, 48)
    tinted = base * torch.tensor([1.2, 1.0, 0.8]).view(1, 3, 1, 1)
    assert isp_losses.colour_loss(texture, base) < isp_losses.colour_loss(tinted, base) / 10


def _grey_of_same_lightness(x):
    """The grey image whose CIE L* equals ``x``'s at every pixel."""
    lightness = isp_losses.lab_lightness(x) * 100
    f = (lightness + 16) / 116
    y = torch.where(f > 6 / 29, f**3, 3 * (6 / 29) ** 2 * (f - 4 / 29))
    v = torch.where(y <= 0.0031308, 12.92 * y, 1.055 * y.clamp_min(1e-12) ** (1 / 2.4) - 0.055)
    return v.expand(-1, 3, -1, -1)


def test_content_loss_on_lightness_ignores_hue_at_equal_lightness():
    vgg = load_extractor("vgg19", None, width=8)
    colourful = _image(5, (1, 3, 64, 64))
    grey = _grey_of_same_lightness(colourful)
    torch.testing.assert_close(
        isp_losses.lab_lightness(grey), isp_losses.lab_lightness(colourful), atol=1e-4, rtol=0
    )
    same_l = isp_losses.content_loss(vgg, colourful, grey, luminance=True)
    rgb = isp_losses.content_loss(vgg, colourful, grey, luminance=False)
    assert float(rgb) > 0 and float(same_l) < float(rgb) / 100
    assert float(isp_losses.content_loss(vgg, grey, grey)) == 0.0


def test_content_loss_sends_no_gradient_into_the_target():
    vgg = load_extractor("vgg19", None, width=4)
    a, b = _image(0).requires_grad_(True), _image(1).requires_grad_(True)
    isp_losses.content_loss(vgg, a, b).backward()
    assert a.grad is not None and b.grad is None


def test_perceptual_distance_is_zero_on_equal_images_and_grows_with_noise():
    alexnet = load_extractor("alexnet", None, width=8)
    x = _image(4, (1, 3, 64, 64))
    assert float(isp_losses.perceptual_distance(alexnet, x, x)) == pytest.approx(0.0, abs=1e-9)
    small = isp_losses.perceptual_distance(alexnet, x + 0.01 * torch.randn_like(x), x)
    large = isp_losses.perceptual_distance(alexnet, x + 0.2 * torch.randn_like(x), x)
    assert 0 < float(small) < float(large)


def test_total_variation():
    assert float(isp_losses.total_variation(torch.full((1, 3, 8, 8), 0.3))) == 0.0
    ramp = torch.arange(8.0).view(1, 1, 1, 8).expand(1, 1, 8, 8)
    assert float(isp_losses.total_variation(ramp)) == pytest.approx(1.0)
