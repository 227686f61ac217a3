"""SemiISP target-model training: OPF and the balanced loss, losses, crops, U-Net, trainer.

Yoshimura, Otsuka, Berdan, Ohashi, "SemiISP/SemiIE: Semi-Supervised Image Signal Processor
and Image Enhancement Leveraging One-to-Many Mapping sRGB-to-RAW", arXiv:2504.02345,
2025, §3.3, Eqs. 10–13 and Table 6. Small images and few steps: the
file runs in seconds on two CPU cores.
"""

import math

import numpy as np
import pytest

from ispengine.core.errors import InputError, ParamError

torch = pytest.importorskip("torch")

from plugins_builtin.semiisp.opf import balanced_loss, per_sample_loss  # noqa: E402
from plugins_builtin.semiisp.pairs import ImagePairs  # noqa: E402
from plugins_builtin.semiisp.semi_trainer import (  # noqa: E402
    TrainConfig,
    cosine_lr,
    evaluate,
    paper_batch_sizes,
    train_model,
)
from plugins_builtin.semiisp.unet import UNetISP, build_unet  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _unet(seed: int = 0, width: int = 8, depth: int = 2):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_unet(width, depth)


def _gamma_pairs(seed: int, count: int, size: tuple[int, int], noise: float = 0.0) -> ImagePairs:
    """Inputs uniform in [0, 1], targets input**(1/2.2) (plus optional target noise)."""
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(count):
        source = rng.uniform(0.0, 1.0, (*size, 3)).astype(np.float32)
        target = source ** (1 / 2.2) + noise * rng.standard_normal(source.shape)
        pairs.append((source, target.astype(np.float32)))
    return ImagePairs(pairs)


# -- OPF and the balanced loss -------------------------------------------------------


def test_opf_masks_pseudo_losses_above_beta_times_real_mean():
    real = torch.tensor([0.1, 0.3], dtype=torch.float64)  # L_r = 0.2, threshold 0.22
    pseudo = torch.tensor([0.1, 0.25, 0.2, 0.23], dtype=torch.float64)
    result = balanced_loss(real, pseudo, 1.1)
    assert result.kept_mask.tolist() == [True, False, True, False]
    assert result.real.item() == pytest.approx(0.2)
    assert result.pseudo.item() == pytest.approx((0.1 + 0.2) / 2)
    n_r, kept = 2, 2
    expected = n_r / (n_r + kept) * 0.2 + kept / (n_r + kept) * 0.15  # Eq. 13 by hand
    assert result.total.item() == pytest.approx(expected)


def test_opf_without_beta_keeps_every_pseudo_sample():
    real = torch.tensor([0.1, 0.3], dtype=torch.float64)
    pseudo = torch.tensor([0.1, 5.0, 0.2, 0.23], dtype=torch.float64)
    result = balanced_loss(real, pseudo, None)
    assert result.kept_mask.tolist() == [True] * 4
    assert result.total.item() == pytest.approx((0.1 + 0.3 + 0.1 + 5.0 + 0.2 + 0.23) / 6)


def test_opf_all_filtered_gives_the_real_loss():
    real = torch.tensor([0.1, 0.3])
    result = balanced_loss(real, torch.tensor([0.5, 0.9]), 1.0)
    assert not result.kept_mask.any()
    assert result.total.item() == result.real.item()
    assert result.pseudo.item() == 0.0
    empty = balanced_loss(real, torch.zeros(0), 1.0)
    assert empty.total.item() == pytest.approx(0.2)


def test_opf_gradients_skip_filtered_samples():
    real = torch.tensor([0.1, 0.3], dtype=torch.float64, requires_grad=True)
    pseudo = torch.tensor([0.1, 0.25, 0.2, 0.23], dtype=torch.float64, requires_grad=True)
    balanced_loss(real, pseudo, 1.1).total.backward()
    # total = (Σ real + Σ kept pseudo) / (N_r + Σδ): every counted sample weighs 1/4
    assert pseudo.grad.tolist() == pytest.approx([0.25, 0.0, 0.25, 0.0])
    assert real.grad.tolist() == pytest.approx([0.25, 0.25])


@pytest.mark.parametrize("beta", [0, -1.0, math.nan, True, "1"])
def test_opf_rejects_bad_beta(beta):
    with pytest.raises(ParamError, match="beta"):
        balanced_loss(torch.ones(2), torch.ones(2), beta)


# -- per-sample losses ---------------------------------------------------------------


def test_mse_per_sample():
    pred = torch.zeros(2, 2, 2, 3)
    target = torch.zeros(2, 2, 2, 3)
    target[0] = 0.5
    target[1, 0, 0, 0] = 1.2
    loss = per_sample_loss(pred, target, "mse")
    assert loss.shape == (2,)
    assert loss.tolist() == pytest.approx([0.25, 1.44 / 12])


def _pool(x: np.ndarray, k: int) -> np.ndarray:
    b, h, w, c = x.shape
    x = x[:, : h // k * k, : w // k * k]
    return x.reshape(b, h // k, k, w // k, k, c).mean(axis=(2, 4))


def test_l1_pooled_matches_numpy():
    rng = np.random.default_rng(1)
    pred = rng.uniform(size=(2, 40, 35, 3))
    target = rng.uniform(size=(2, 40, 35, 3)) + np.linspace(0, 0.3, 35)[None, None, :, None]
    expected = np.abs(pred - target).mean(axis=(1, 2, 3))
    for k in (16, 32):  # 64 exceeds the 40x35 image and is skipped
        expected = expected + np.abs(_pool(pred, k) - _pool(target, k)).mean(axis=(1, 2, 3))
    loss = per_sample_loss(torch.from_numpy(pred), torch.from_numpy(target), "l1_pooled")
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-12)
    small = per_sample_loss(torch.zeros(1, 8, 8, 3), torch.ones(1, 8, 8, 3), "l1_pooled")
    assert small.item() == pytest.approx(1.0)  # no pooled term fits an 8x8 image


def test_per_sample_loss_errors():
    with pytest.raises(ParamError, match="loss"):
        per_sample_loss(torch.zeros(1, 2, 2, 3), torch.zeros(1, 2, 2, 3), "l2")
    with pytest.raises(InputError, match="shape"):
        per_sample_loss(torch.zeros(1, 2, 2, 3), torch.zeros(1, 2, 4, 3), "mse")


# -- image pairs ---------------------------------------------------------------------


def _coordinate_pairs() -> ImagePairs:
    """Inputs encode each pixel's (row, column, pair); targets are 2·input + 1."""
    pairs = []
    for index, (h, w) in enumerate([(12, 16), (20, 14)]):
        rows, cols = np.mgrid[0:h, 0:w]
        source = np.stack([rows, cols, np.full_like(rows, index)], axis=-1).astype(np.float32)
        pairs.append((source, 2 * source + 1))
    return ImagePairs(pairs, ids=["a", "b"])


def test_crops_are_aligned_even_and_flipped_together():
    pairs = _coordinate_pairs()
    inputs, targets = pairs.draw(np.random.default_rng(3), 64, 8, flip=True)
    assert inputs.shape == targets.shape == (64, 8, 8, 3)
    assert inputs.dtype == targets.dtype == np.float32
    np.testing.assert_array_equal(targets, 2 * inputs + 1)
    flips = 0
    for crop in inputs:
        rows, cols = crop[..., 0], crop[..., 1]
        assert rows[0, 0] % 2 == 0 and np.all(np.diff(rows, axis=0) == 1)
        step = np.diff(cols, axis=1)
        assert np.all(step == step[0, 0]) and abs(step[0, 0]) == 1
        flips += step[0, 0] == -1
        assert cols.min() % 2 == 0
    assert 0 < flips < 64
    unflipped, _ = pairs.draw(np.random.default_rng(3), 16, 8, flip=False)
    assert np.all(np.diff(unflipped[..., 1], axis=2) == 1)


def test_draw_is_deterministic_and_full_returns_the_pair():
    pairs = _coordinate_pairs()
    first = pairs.draw(np.random.default_rng(7), 5, 6)
    second = pairs.draw(np.random.default_rng(7), 5, 6)
    np.testing.assert_array_equal(first[0], second[0])
    source, target = pairs.full(1)
    assert source.shape == (20, 14, 3) and len(pairs) == 2
    np.testing.assert_array_equal(target, 2 * source + 1)


def test_pairs_errors():
    pairs = _coordinate_pairs()
    with pytest.raises(InputError, match="pair a: image 12x16 is smaller than the 14x14 crop"):
        pairs.draw(np.random.default_rng(0), 1, 14)
    with pytest.raises(ParamError, match="crop"):
        pairs.draw(np.random.default_rng(0), 1, 7)
    with pytest.raises(InputError, match=r"pair 1: target: expected an image of shape \(H, W, 3\)"):
        ImagePairs([(np.zeros((4, 4, 3)), np.zeros((4, 4, 3))), (np.zeros((4, 4, 3)), np.zeros(4))])
    with pytest.raises(InputError, match="pair 0: input .* and target .* differ"):
        ImagePairs([(np.zeros((4, 4, 3)), np.zeros((4, 6, 3)))])
    bad = np.zeros((4, 4, 3))
    bad[1, 1, 1] = np.nan
    with pytest.raises(InputError, match="pair x: target: contains NaN"):
        ImagePairs([(np.zeros((4, 4, 3)), bad)], ids=["x"])


# -- U-Net ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(1, 1), (5, 7), (17, 30)])
def test_unet_keeps_odd_sizes(size):
    model = _unet(depth=3)
    assert model(torch.rand(2, *size, 3)).shape == (2, *size, 3)


def test_unet_is_small():
    assert sum(p.numel() for p in build_unet(16, 2).parameters()) == 76_547


def test_unet_stage_numpy_and_torch(tmp_path):
    stage = UNetISP.from_module(_unet(seed=2))
    image = np.random.default_rng(0).uniform(size=(9, 11, 3))
    out = stage(image)
    assert isinstance(out, np.ndarray) and out.shape == image.shape and out.dtype == np.float64
    assert stage(image.astype(np.float32)).dtype == np.float32
    x = torch.from_numpy(image).requires_grad_(True)
    y = stage(x)
    assert isinstance(y, torch.Tensor) and y.dtype == torch.float64
    y.sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    np.testing.assert_allclose(y.detach().numpy(), out, rtol=1e-5, atol=1e-6)
    for name in ("w.safetensors", "w.pt"):
        path = stage.save_weights(tmp_path / name)
        loaded = UNetISP(weights=str(path), width=8)
        np.testing.assert_array_equal(loaded(image), out)
    batch = np.stack([image, image[::-1]])
    np.testing.assert_allclose(stage(batch)[0], out, rtol=1e-5, atol=1e-6)


def test_unet_stage_errors(tmp_path):
    with pytest.raises(ParamError, match=r"width: 2 is outside \[4, 128\]"):
        UNetISP(width=2)
    with pytest.raises(ParamError, match=r"depth: 5 is outside \[1, 4\]"):
        UNetISP(depth=5)
    with pytest.raises(InputError, match="no such weights file"):
        UNetISP(weights=str(tmp_path / "missing.safetensors"))
    path = UNetISP.from_module(_unet()).save_weights(tmp_path / "w8.safetensors")
    with pytest.raises(InputError, match="do not fit a unet_isp of width 16"):
        UNetISP(weights=str(path), width=16)
    with pytest.raises(ParamError, match="unknown parameter"):
        UNetISP(gain=1.0)


def test_unet_stage_from_toml(tmp_path):
    from ispengine.core.pipeline import Pipeline
    from ispengine.core.registry import ComponentRecord, Registry

    registry = Registry()
    registry.add(ComponentRecord("unet_isp", "stage", UNetISP, "test"))
    weights = UNetISP.from_module(_unet(seed=4)).save_weights(tmp_path / "u.safetensors")
    spec = tmp_path / "unet.toml"
    spec.write_text(
        f'[[stage]]\ntype = "unet_isp"\nparams = {{ weights = "{weights}", width = 8 }}\n'
    )
    pipeline = Pipeline.from_toml(spec, registry=registry)
    image = np.random.default_rng(1).uniform(size=(6, 6, 3)).astype(np.float32)
    np.testing.assert_array_equal(pipeline(image), UNetISP(weights=str(weights), width=8)(image))


# -- trainer -------------------------------------------------------------------------


def test_paper_batch_sizes_and_schedule():
    assert paper_batch_sizes(100) == (2, 18)
    assert paper_batch_sizes(101) == (4, 16)
    assert paper_batch_sizes(1000) == (4, 16)
    assert paper_batch_sizes(1001) == (6, 14)
    assert cosine_lr(0, 10, 1e-3) == pytest.approx(1e-3)
    assert cosine_lr(9, 10, 1e-3) == pytest.approx(1e-6)


def test_train_config_validation():
    with pytest.raises(ParamError, match="crop"):
        TrainConfig(steps=1, batch_real=1, batch_pseudo=0, crop=15)
    with pytest.raises(ParamError, match="beta"):
        TrainConfig(steps=1, batch_real=1, batch_pseudo=2, crop=16, beta=0.0)
    with pytest.raises(ParamError, match="steps"):
        TrainConfig(steps=0, batch_real=1, batch_pseudo=0, crop=16)
    config = TrainConfig(steps=9, batch_real=1, batch_pseudo=2, crop=16)
    assert config.resolved_finetune_steps(True) == 4
    assert config.resolved_finetune_steps(False) == 0
    with pytest.raises(ParamError, match="no pseudo pairs"):
        train_model(_unet(), _gamma_pairs(0, 2, (16, 16)), None, config, seed=0, progress=False)


def _mean(values) -> float:
    return float(np.mean(values))


def test_supervised_training_reduces_the_loss():
    real = _gamma_pairs(0, 4, (24, 24))
    config = TrainConfig(steps=30, batch_real=4, batch_pseudo=0, crop=16, lr=1e-2)
    model = _unet(seed=1)
    before = evaluate(model, real)["psnr"]
    report = train_model(model, real, None, config, seed=5, progress=False)
    assert report.steps == 30 and report.finetune_steps == 0
    assert len(report.losses) == 30 and report.kept_fraction == ()
    assert _mean(report.losses[-5:]) < 0.5 * _mean(report.losses[:5])
    assert evaluate(model, real)["psnr"] > before + 3


def _pseudo_with_outliers() -> ImagePairs:
    """Four good pseudo pairs (noisy gamma targets) and four outliers (inverted targets)."""
    good = _gamma_pairs(1, 4, (20, 28), noise=0.02)
    rng = np.random.default_rng(9)
    sources = [rng.uniform(size=(20, 20, 3)).astype(np.float32) for _ in range(4)]
    return ImagePairs([good.full(i) for i in range(4)] + [(x, 1 - x) for x in sources])


def test_semi_supervised_training_with_opf_is_reproducible():
    real = _gamma_pairs(0, 2, (24, 24))
    pseudo = _pseudo_with_outliers()
    config = TrainConfig(
        steps=30, batch_real=2, batch_pseudo=6, crop=16, lr=1e-2, beta=1.1, finetune_steps=6
    )
    reports = []
    for _ in range(2):
        model = _unet(seed=1)
        reports.append(train_model(model, real, pseudo, config, seed=3, progress=False))
    report = reports[0]
    assert report.losses == reports[1].losses
    assert report.kept_fraction == reports[1].kept_fraction
    assert len(report.losses) == 36 and len(report.finetune_losses) == 6
    assert len(report.kept_fraction) == 30
    assert all(0.0 <= f <= 1.0 for f in report.kept_fraction)
    assert min(report.kept_fraction) < 1.0  # the outliers get filtered once the model learns
    assert _mean(report.main_losses[-5:]) < 0.5 * _mean(report.main_losses[:5])


def test_semi_supervised_without_opf_keeps_everything():
    config = TrainConfig(steps=4, batch_real=1, batch_pseudo=3, crop=16, lr=1e-2)
    report = train_model(
        _unet(),
        _gamma_pairs(0, 2, (16, 16)),
        _pseudo_with_outliers(),
        config,
        seed=0,
        progress=False,
    )
    assert report.kept_fraction == (1.0,) * 4 and report.finetune_steps == 2
