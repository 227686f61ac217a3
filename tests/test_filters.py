"""The filter plugin: registration, documented behaviour, parameter checks, backends."""

from __future__ import annotations

import numpy as np
import pytest

from ispengine import ISPEngineError, ParamError, Pipeline, get_registry
from plugins_builtin.filters import FILTERS
from plugins_builtin.filters.chroma_denoise import ChromaDenoise
from plugins_builtin.filters.gaussian_denoise import GaussianDenoise
from plugins_builtin.filters.local_tone_map import LocalToneMap, luminance
from plugins_builtin.filters.local_wiener_denoise import LocalWienerDenoise
from plugins_builtin.filters.tone_curve import ToneCurve
from plugins_builtin.filters.unsharp_mask import UnsharpMask

NAMES = [f.name for f in FILTERS]


def flat_noisy(level: float = 0.4, sigma: float = 0.05, size=(64, 64), seed: int = 0):
    rng = np.random.default_rng(seed)
    return level + sigma * rng.standard_normal(size + (3,))


def smooth_texture(size=(64, 64), seed: int = 1) -> np.ndarray:
    """A band-limited random image in about [0.2, 0.8]."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.standard_normal(size + (3,)), (2.0, 2.0, 0))
    return 0.5 + 0.3 * field / np.abs(field).max()


def high_frequency_energy(x: np.ndarray) -> float:
    """Energy of the discrete Laplacian away from the border (a high-pass measure)."""
    lap = 4 * x[1:-1, 1:-1] - x[:-2, 1:-1] - x[2:, 1:-1] - x[1:-1, :-2] - x[1:-1, 2:]
    return float(np.sum(lap[4:-4, 4:-4] ** 2))


def test_filters_are_registered_without_inverse():
    registry = get_registry()
    assert set(NAMES) <= set(registry.names("filter"))
    for name in NAMES:
        assert registry.inverse_kind(name) == "none"
        assert registry.get("filter", name).cls.__doc__


def test_filter_pipeline_runs_and_refuses_to_invert():
    pipe = Pipeline.from_dict(
        {"stage": [{"type": "tone_curve", "params": {"contrast": 1.3}}, {"type": "unsharp_mask"}]}
    )
    out = pipe(smooth_texture())
    assert out.shape == (64, 64, 3)
    with pytest.raises(ISPEngineError, match="no registered inverse"):
        pipe.inverse()


@pytest.mark.parametrize(
    "stage",
    [
        GaussianDenoise(sigma=2.0),
        LocalWienerDenoise(noise_scale=0.0, noise_offset=0.05**2, radius=2.0),
    ],
)
def test_denoisers_reduce_noise_on_a_flat_image(stage):
    x = flat_noisy()
    y = stage(x)
    inner = (slice(8, -8), slice(8, -8))
    assert np.var(y[inner]) < 0.1 * np.var(x[inner])
    assert abs(y.mean() - x.mean()) < 1e-3


def test_gaussian_denoise_strength_zero_is_identity_and_full_matches_theory():
    x = flat_noisy()
    assert np.array_equal(GaussianDenoise(strength=0.0)(x), x)
    sigma = 2.0
    y = GaussianDenoise(sigma=sigma)(x)
    expected = np.var(x) / (4 * np.pi * sigma**2)
    assert 0.5 * expected < np.var(y[8:-8, 8:-8]) < 1.5 * expected


def test_local_wiener_keeps_edges_that_gaussian_blurs():
    rng = np.random.default_rng(3)
    step = np.zeros((64, 64, 3))
    step[:, 32:] = 0.8
    noisy = step + 0.02 * rng.standard_normal(step.shape)
    wiener = LocalWienerDenoise(noise_scale=0.0, noise_offset=0.02**2, radius=2.0)(noisy)
    gaussian = GaussianDenoise(sigma=2.0)(noisy)
    edge = (slice(None), slice(29, 35))
    assert np.abs(wiener - step)[edge].mean() < 0.5 * np.abs(gaussian - step)[edge].mean()
    flat = (slice(8, -8), slice(4, 24))
    assert np.var(wiener[flat]) < 0.2 * np.var(noisy[flat])


def test_chroma_denoise_keeps_luminance_and_removes_colour_noise():
    rng = np.random.default_rng(4)
    x = 0.4 + 0.05 * rng.standard_normal((64, 64, 3))
    y = ChromaDenoise(sigma=3.0)(x)
    np.testing.assert_allclose(luminance(y, np), luminance(x, np), atol=1e-12)
    chroma = lambda im: im - luminance(im, np)[..., None]  # noqa: E731
    assert np.var(chroma(y)[8:-8, 8:-8]) < 0.05 * np.var(chroma(x)[8:-8, 8:-8])


def test_unsharp_mask_raises_high_frequencies_and_keeps_the_mean():
    x = smooth_texture()
    y = UnsharpMask(amount=1.5, radius=1.0)(x)
    assert high_frequency_energy(y) > 1.8 * high_frequency_energy(x)
    np.testing.assert_allclose(y.mean(axis=(0, 1)), x.mean(axis=(0, 1)), atol=1e-3)
    assert np.array_equal(UnsharpMask(amount=0.0)(x), x)


TONE_PARAMS = [
    {},
    {"exposure": 1.0, "white": 4.0, "contrast": 1.5, "pivot": 0.18},
    {"exposure": -4.0, "white": 64.0, "contrast": 3.0, "pivot": 0.95},
    {"exposure": 4.0, "white": 1.0, "contrast": 0.5, "pivot": 0.05},
]


@pytest.mark.parametrize("values", TONE_PARAMS)
def test_tone_curve_is_monotone_and_in_range(values):
    x = np.linspace(-0.5, 20.0, 20001)
    y = ToneCurve(**values)(np.repeat(x[:, None, None], 3, axis=-1))[:, 0, 0]
    assert np.all(np.diff(y) >= 0)
    assert y.min() >= 0.0 and y.max() <= 1.0
    assert y[x <= 0].max() == 0.0


def test_tone_curve_fixed_points():
    x = np.linspace(0.0, 1.0, 101)
    image = np.repeat(x[:, None, None], 3, axis=-1)
    np.testing.assert_allclose(ToneCurve()(image)[:, 0, 0], x, atol=1e-12)
    stage = ToneCurve(exposure=1.0, white=4.0, contrast=2.0, pivot=0.3)
    # t = 2 x: the white point 4 is reached at x = 2; the pivot needs r(t) = 0.3.
    assert stage(np.full((1, 1, 3), 2.0))[0, 0, 0] == pytest.approx(1.0)
    t = np.roots([1 / 16, 0.7, -0.3]).max()  # t (1 + t/16) / (1 + t) = 0.3
    assert stage(np.full((1, 1, 3), t / 2))[0, 0, 0] == pytest.approx(0.3)
    steep = ToneCurve(contrast=2.0, pivot=0.3)
    near = steep(np.array([0.29, 0.31]).reshape(2, 1, 1).repeat(3, -1))[:, 0, 0]
    assert (near[1] - near[0]) / 0.02 > 1.5  # steeper than identity at the pivot


def test_local_tone_map_compresses_large_scale_and_keeps_detail():
    rng = np.random.default_rng(5)
    texture = 1 + 0.1 * rng.standard_normal((64, 128, 1))
    scene = np.concatenate([np.full((64, 64, 1), 0.02), np.full((64, 64, 1), 0.8)], axis=1)
    x = np.repeat(scene * texture, 3, axis=-1)
    y = LocalToneMap(strength=0.5, radius=4.0, max_gain=64.0)(x)
    dark, bright = (slice(8, -8), slice(8, 24)), (slice(8, -8), slice(104, 120))
    before = x[bright].mean() / x[dark].mean()
    after = y[bright].mean() / y[dark].mean()
    assert after == pytest.approx(np.sqrt(before), rel=0.1)  # log range halved
    for region in (dark, bright):  # detail (relative texture) within a region is kept
        ratio = np.std(y[region] / y[region].mean()) / np.std(x[region] / x[region].mean())
        assert 0.8 < ratio < 1.2
    assert np.array_equal(LocalToneMap(strength=0.0)(x), x)
    # colour ratios are kept: the gain is the same for the three channels
    colour = x * np.array([1.0, 0.5, 0.25])
    mapped = LocalToneMap()(colour)
    np.testing.assert_allclose(mapped[..., 1] / mapped[..., 0], 0.5)


def test_local_tone_map_gain_is_limited():
    x = np.full((16, 16, 3), 1e-4)
    assert LocalToneMap(strength=1.0, max_gain=4.0)(x).max() == pytest.approx(4e-4)


@pytest.mark.parametrize(
    "stage, values, message",
    [
        (GaussianDenoise, {"sigma": 0.1}, "sigma"),
        (GaussianDenoise, {"strength": 1.5}, "strength"),
        (UnsharpMask, {"amount": 6.0}, "amount"),
        (UnsharpMask, {"radius": 25.0}, "radius"),
        (ToneCurve, {"contrast": 4.0}, "contrast"),
        (ToneCurve, {"pivot": 1.0}, "pivot"),
        (LocalToneMap, {"radius": 0.1}, "radius"),
        (LocalWienerDenoise, {"noise_scale": [0.1, -0.1, 0.1]}, "noise_scale"),
        (ChromaDenoise, {"sigma": "wide"}, "sigma"),
    ],
)
def test_out_of_range_parameters_are_refused(stage, values, message):
    with pytest.raises(ParamError, match=message):
        stage(**values)


def test_blur_radius_refuses_per_pixel_maps_but_accepts_per_image_values():
    x = np.stack([smooth_texture(), smooth_texture(seed=2)])
    with pytest.raises(ParamError, match="radius"):
        UnsharpMask()(x, {"radius": np.ones((2, 64, 64))})
    both = UnsharpMask()(x, {"radius": np.array([1.0, 3.0])})
    np.testing.assert_allclose(both[1], UnsharpMask(radius=3.0)(x[1]))
    np.testing.assert_allclose(both[0], UnsharpMask(radius=1.0)(x[0]))
    # per-pixel strength is a local parameter
    ramp = np.linspace(0.0, 1.0, 64)[None, :].repeat(64, 0)
    y = GaussianDenoise(sigma=2.0)(x[0], {"strength": ramp})
    np.testing.assert_allclose(y[:, 0], x[0][:, 0])


@pytest.mark.parametrize("name", NAMES)
def test_float32_in_float32_out(name):
    stage = get_registry().get("filter", name).cls()
    y = stage(smooth_texture().astype(np.float32))
    assert y.dtype == np.float32 and y.shape == (64, 64, 3)


@pytest.mark.parametrize("name", NAMES)
def test_torch_path_matches_numpy(name):
    torch = pytest.importorskip("torch")
    stage = get_registry().get("filter", name).cls()
    x = smooth_texture(size=(24, 20))
    expected = stage(x)
    got = stage(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-10)
