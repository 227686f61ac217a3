"""Tests of ispengine.learning.metrics and ispengine.bench.figures."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image
from skimage.metrics import structural_similarity

from ispengine.bench.figures import bar_chart, error_maps
from ispengine.core.errors import InputError
from ispengine.learning import metrics


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# --------------------------------------------------------------------------- psnr / mae


def test_psnr_constant_offset_is_20_db():
    target = _rng().uniform(0.0, 0.8, (16, 16))
    assert metrics.psnr(target + 0.1, target) == pytest.approx(20.0, abs=1e-9)
    # 0.01 offset on range 1 -> 40 dB; data_range 2 adds 20*log10(2).
    assert metrics.psnr(target - 0.01, target) == pytest.approx(40.0, abs=1e-9)
    assert metrics.psnr(target + 0.1, target, data_range=2.0) == pytest.approx(
        20.0 + 20.0 * math.log10(2.0), abs=1e-9
    )


def test_psnr_hand_computation():
    pred = np.array([[0.0, 0.5], [1.0, 0.25]])
    target = np.array([[0.1, 0.5], [0.8, 0.25]])
    mse = (0.1**2 + 0.2**2) / 4
    assert metrics.psnr(pred, target) == pytest.approx(10 * math.log10(1 / mse), rel=1e-12)


def test_psnr_identical_is_inf():
    x = _rng().uniform(size=(8, 8))
    assert metrics.psnr(x, x.copy()) == math.inf


def test_mae():
    pred = np.array([[0.0, 0.5], [1.0, 0.25]])
    target = np.array([[0.1, 0.5], [0.8, 0.5]])
    assert metrics.mae(pred, target) == pytest.approx((0.1 + 0.0 + 0.2 + 0.25) / 4, rel=1e-12)
    assert metrics.mae(target, target) == 0.0


# --------------------------------------------------------------------------- ssim


def test_ssim_identical_is_one():
    x = _rng().uniform(size=(32, 40))
    assert metrics.ssim(x, x.copy()) == pytest.approx(1.0, abs=1e-12)
    rgb = _rng(1).uniform(size=(24, 24, 3))
    assert metrics.ssim(rgb, rgb.copy()) == pytest.approx(1.0, abs=1e-12)


def test_ssim_noisy_below_one_and_symmetric():
    x = _rng().uniform(size=(48, 48))
    y = np.clip(x + _rng(1).normal(0.0, 0.1, x.shape), 0.0, 1.0)
    forward, backward = metrics.ssim(y, x), metrics.ssim(x, y)
    assert forward < 0.99
    assert forward == pytest.approx(backward, abs=1e-9)
    more_noise = np.clip(x + _rng(2).normal(0.0, 0.3, x.shape), 0.0, 1.0)
    assert metrics.ssim(more_noise, x) < forward


def test_ssim_agrees_with_skimage():
    x = _rng().uniform(size=(40, 36, 3))
    y = np.clip(x + _rng(1).normal(0.0, 0.05, x.shape), 0.0, 1.0)
    expected = structural_similarity(
        y,
        x,
        data_range=1.0,
        channel_axis=-1,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
    )
    assert metrics.ssim(y, x) == pytest.approx(expected, rel=1e-12)
    per_channel = [
        structural_similarity(
            y[..., c],
            x[..., c],
            data_range=1.0,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
        for c in range(3)
    ]
    assert metrics.ssim(y, x) == pytest.approx(np.mean(per_channel), rel=1e-12)
    assert metrics.ssim(y[..., 0], x[..., 0]) == pytest.approx(per_channel[0], rel=1e-12)


@pytest.mark.parametrize("shape", [(2, 2), (3, 5), (6, 6), (7, 9), (10, 30), (4, 4, 4)])
def test_ssim_small_images(shape):
    x = _rng().uniform(size=shape)
    y = np.clip(x + _rng(1).normal(0.0, 0.1, shape), 0.0, 1.0)
    value = metrics.ssim(y, x)
    assert math.isfinite(value)
    assert -1.0 <= value < 1.0
    assert metrics.ssim(x, x) == pytest.approx(1.0, abs=1e-12)


def test_ssim_too_small_raises():
    with pytest.raises(InputError):
        metrics.ssim(np.zeros((1, 8)), np.zeros((1, 8)))


# --------------------------------------------------------------------------- pack

# The site of each CFA channel (R=0, Gr=1, Gb=2, B=3) in the 2x2 cell, by hand.
_CELLS = {
    "rggb": [[0, 1], [2, 3]],
    "bggr": [[3, 2], [1, 0]],
    "grbg": [[1, 0], [3, 2]],
    "gbrg": [[2, 3], [0, 1]],
}


@pytest.mark.parametrize("pattern", sorted(_CELLS))
def test_pack_order(pattern):
    height, width = 4, 6
    mosaic = np.empty((height, width))
    for row in range(height):
        for col in range(width):
            channel = _CELLS[pattern][row % 2][col % 2]
            mosaic[row, col] = 100 * channel + 10 * (row // 2) + col // 2
    packed = metrics.pack(mosaic, pattern)
    assert packed.shape == (2, 3, 4)
    i, j, k = np.meshgrid(np.arange(2), np.arange(3), np.arange(4), indexing="ij")
    np.testing.assert_array_equal(packed, 100 * k + 10 * i + j)


def test_pack_rejects_odd_and_unknown_pattern():
    with pytest.raises(InputError, match="even"):
        metrics.pack(np.zeros((4, 5)), "rggb")
    with pytest.raises(InputError, match="pattern"):
        metrics.pack(np.zeros((4, 4)), "rgbg")


# --------------------------------------------------------------------------- histogram KL


def test_histogram_kl_zero_for_identical():
    x = _rng().uniform(size=(32, 32))
    assert metrics.histogram_kl(x, x.copy()) == pytest.approx(0.0, abs=1e-15)
    assert metrics.histogram_kl(x, x.copy(), pattern="rggb") == pytest.approx(0.0, abs=1e-15)


def test_histogram_kl_positive_symmetric_and_monotone():
    rng = _rng()
    base = rng.normal(0.4, 0.05, (64, 64))
    near = rng.normal(0.45, 0.05, (64, 64))
    far = rng.normal(0.7, 0.05, (64, 64))
    d_near = metrics.histogram_kl(near, base)
    d_far = metrics.histogram_kl(far, base)
    assert d_near > 0.0
    assert d_near == metrics.histogram_kl(base, near)
    assert d_far == metrics.histogram_kl(base, far)
    assert d_far > d_near
    assert metrics.histogram_kl(far, base, pattern="gbrg") == metrics.histogram_kl(
        base, far, pattern="gbrg"
    )


def test_histogram_kl_hand_computation_and_clipping():
    # Two bins over [0, 1]: a -> p = (1, 0), b -> q = (0, 1); out-of-range values clip.
    a = np.array([[-5.0, 0.1], [0.2, 0.3]])
    b = np.array([[0.6, 0.7], [2.0, 1.0]])
    eps = 1e-6
    p = np.array([1 + eps, eps]) / (1 + 2 * eps)
    q = p[::-1]
    kl = float(np.sum(p * np.log(p / q)))
    assert metrics.histogram_kl(a, b, bins=2, eps=eps) == pytest.approx(kl, rel=1e-12)


def test_histogram_kl_per_packed_channel():
    # Only the R channel differs: the packed KL is a quarter of R's own KL.
    rng = _rng()
    truth = rng.uniform(0.0, 0.5, (32, 32))
    pred = truth.copy()
    pred[0::2, 0::2] = rng.uniform(0.5, 1.0, (16, 16))  # R sites of rggb
    red = metrics.histogram_kl(pred[0::2, 0::2], truth[0::2, 0::2])
    packed = metrics.histogram_kl(pred, truth, pattern="rggb")
    assert packed == pytest.approx(red / 4, rel=1e-12)


# --------------------------------------------------------------------------- diversity


def test_diversity_identical_is_zero():
    x = _rng().uniform(size=(16, 16))
    assert metrics.diversity([x, x.copy(), x.copy()]) == 0.0


def test_diversity_matches_noise_std():
    sigma = 0.05
    base = _rng().uniform(size=(128, 128))
    samples = np.stack([base + _rng(s).normal(0.0, sigma, base.shape) for s in range(1, 33)])
    value = metrics.diversity(samples)
    assert value == pytest.approx(sigma, rel=0.03)
    assert metrics.diversity(list(samples)) == value


def test_diversity_needs_two_samples():
    with pytest.raises(ValueError):
        metrics.diversity([np.zeros((4, 4))])
    with pytest.raises(InputError):
        metrics.diversity([np.zeros((4, 4)), np.zeros((4, 6))])


# --------------------------------------------------------------------------- summaries


def test_raw_metrics_keys_and_values():
    truth = _rng().uniform(size=(32, 48))
    pred = np.clip(truth + _rng(1).normal(0.0, 0.02, truth.shape), 0.0, 1.0)
    result = metrics.raw_metrics(pred, truth, "grbg")
    assert set(result) == {"psnr", "ssim", "mae", "psnr_packed", "ssim_packed", "kl"}
    assert all(isinstance(v, float) and math.isfinite(v) for v in result.values())
    assert result["psnr"] == pytest.approx(metrics.psnr(pred, truth))
    assert result["ssim"] == pytest.approx(metrics.ssim(pred, truth))
    packed_p, packed_t = metrics.pack(pred, "grbg"), metrics.pack(truth, "grbg")
    channel_psnr = [metrics.psnr(packed_p[..., k], packed_t[..., k]) for k in range(4)]
    assert result["psnr_packed"] == pytest.approx(np.mean(channel_psnr))
    assert result["ssim_packed"] == pytest.approx(metrics.ssim(packed_p, packed_t))
    assert result["kl"] == pytest.approx(metrics.histogram_kl(pred, truth, pattern="grbg"))
    assert 0.0 < result["ssim"] < 1.0 and result["kl"] > 0.0


def test_srgb_metrics():
    target = _rng().uniform(size=(20, 20, 3))
    pred = np.clip(target + 0.1, 0.0, 1.0)
    result = metrics.srgb_metrics(pred, target)
    assert set(result) == {"psnr", "ssim", "mae"}
    assert result["mae"] == pytest.approx(metrics.mae(pred, target))
    assert result["ssim"] == pytest.approx(metrics.ssim(pred, target))


@pytest.mark.parametrize(
    "call",
    [
        lambda: metrics.psnr(np.zeros((4, 4)), np.zeros((4, 6))),
        lambda: metrics.mae(np.zeros((4, 4)), np.zeros((4, 4, 1))),
        lambda: metrics.ssim(np.zeros((8, 8)), np.full((8, 8), np.nan)),
        lambda: metrics.psnr(np.array([[0.0, np.nan]]), np.zeros((1, 2))),
        lambda: metrics.raw_metrics(np.zeros((6, 5)), np.zeros((6, 5)), "rggb"),
        lambda: metrics.raw_metrics(np.zeros((6, 6)), np.zeros((6, 8)), "rggb"),
        lambda: metrics.raw_metrics(np.zeros((6, 6)), np.zeros((6, 6)), "xyzw"),
        lambda: metrics.histogram_kl(np.zeros((5, 4)), np.zeros((5, 4)), pattern="bggr"),
        lambda: metrics.srgb_metrics(np.zeros((4, 4, 3)), np.zeros((4, 4))),
        lambda: metrics.diversity([np.zeros((2, 2)), np.full((2, 2), np.nan)]),
    ],
)
def test_input_validation(call):
    with pytest.raises(InputError) as raised:
        call()
    assert "\n" not in str(raised.value) and str(raised.value)


# --------------------------------------------------------------------------- figures


def _check_png(path, size=None):
    with Image.open(path) as image:
        image.load()
        assert image.format == "PNG"
        assert image.mode in {"RGB", "RGBA"}
        assert image.width > 0 and image.height > 0
        if size is not None:
            assert image.size == size
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_bar_chart_writes_png(tmp_path):
    path = tmp_path / "psnr.png"
    bar_chart(
        path,
        ["identity", "UPI inverse", "CycleISP", "ours"],
        [30.5, 35.25, math.inf, 41.0],
        ylabel="PSNR (dB)",
        title="RAW PSNR",
        errors=[1.0, 0.5, 0.0, 0.25],
    )
    _check_png(path, size=(800, 450))
    bar_chart(path, ["a", "b"], [0.5, -0.1], ylabel="x", title="overwrite")
    _check_png(path, size=(800, 450))


def test_error_maps_writes_png(tmp_path):
    rng = _rng()
    rows = []
    for n in range(2):
        truth = rng.uniform(size=(16, 24))
        rows.append(
            {
                "id": f"img{n}",
                "srgb": rng.uniform(size=(16, 24, 3)),
                "truth": truth,
                "predictions": [
                    truth.copy(),
                    np.clip(truth + rng.normal(0, 0.1, truth.shape), 0, 1),
                ],
            }
        )
    path = tmp_path / "maps.png"
    error_maps(path, rows, ["exact", "noisy"], title="error maps")
    _check_png(path)


def test_figures_reject_bad_input(tmp_path):
    with pytest.raises(InputError):
        bar_chart(tmp_path / "a.png", ["a"], [1.0, 2.0], ylabel="y", title="t")
    row = {"id": "x", "srgb": np.zeros((4, 4, 3)), "truth": np.zeros((4, 4)), "predictions": []}
    with pytest.raises(InputError):
        error_maps(tmp_path / "b.png", [row], ["m"])
    assert list(tmp_path.iterdir()) == []


# -- AIM 2022 scoring ---------------------------------------------------------------------
def test_aim_psnr_scores_digital_numbers_over_two_to_the_bits():
    truth = np.full((4, 6), 0.25)
    pred = truth + 0.01  # normalised error 0.01 → 0.01 · (1023 − 64) digital numbers
    expected = -20 * math.log10(0.01 * (1023 - 64) / 1024)
    assert metrics.aim_psnr(pred, truth, "rggb", 64, 1023) == pytest.approx(expected)
    # a 12-bit camera divides by 4096
    expected_12 = -20 * math.log10(0.01 * (4095 - 256) / 4096)
    assert metrics.aim_psnr(pred, truth, "rggb", 256, 4095) == pytest.approx(expected_12)


def test_aim_psnr_weights_each_channel_by_its_own_black_level():
    rng = np.random.default_rng(0)
    truth = rng.uniform(0, 1, (8, 8))
    pred = np.clip(truth + rng.normal(0, 0.02, truth.shape), 0, 1)
    uniform = metrics.aim_psnr(pred, truth, "grbg", [100, 100, 100, 100], 1023)
    raised_red = metrics.aim_psnr(pred, truth, "grbg", [600, 100, 100, 100], 1023)
    assert raised_red > uniform  # a smaller red range shrinks the red errors in DN
    assert metrics.aim_psnr(pred, truth, "grbg", 100, 1023) == pytest.approx(uniform)


def test_aim_psnr_of_normalised_levels_is_the_packed_psnr():
    rng = np.random.default_rng(1)
    truth = rng.uniform(0, 1, (6, 8))
    pred = truth * 0.9
    packed = metrics.psnr(metrics.pack(pred, "bggr"), metrics.pack(truth, "bggr"))
    assert metrics.aim_psnr(pred, truth, "bggr", 0.0, 1.0) == pytest.approx(packed)


@pytest.mark.parametrize("black, white", [(1023, 1023), (0, float("nan")), ("x", 1023)])
def test_aim_psnr_refuses_bad_levels(black, white):
    with pytest.raises(InputError, match="aim_psnr"):
        metrics.aim_psnr(np.zeros((2, 2)), np.zeros((2, 2)), "rggb", black, white)
