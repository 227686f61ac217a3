"""The forward trainer: any model (a packed-RAW network, SemiISP's U-Net and function ISP),
each mode and term, dynamic loss adaptation, pre-training, checkpoints and bad data."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ispengine.core.errors import InputError  # noqa: E402
from ispengine.core.settings import coerce_table  # noqa: E402
from ispengine.learning.forward_training import (  # noqa: E402
    FORWARD_TRAINING_SETTINGS,
    ForwardTrainingData,
    active_terms,
    needed_extractors,
    train_forward,
)
from ispengine.learning.srgb_to_raw import Budget  # noqa: E402


def _config(**values):
    base = {"extractors": "random", "extractor_size": "small", "batch_size": 2, "crop": 32}
    return coerce_table(FORWARD_TRAINING_SETTINGS, {**base, **values}, "test")


def _data(paired: bool, scale: int = 2, channels: int = 4, n: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    inputs = [rng.random((channels, 32 // scale, 48 // scale), dtype=np.float32) for _ in range(n)]
    references = [rng.random((3, 32, 48), dtype=np.float32) for _ in range(n)]
    targets = [rng.random((3, 32, 48), dtype=np.float32) for _ in range(n if paired else n + 1)]
    return ForwardTrainingData(inputs, scale, references, targets, paired=paired)


def _packed_model(seed: int = 0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Conv2d(4, 12, 3, padding=1), torch.nn.PixelShuffle(2))


def test_terms_per_mode():
    unpaired = active_terms(_config(training="unpaired"))
    assert set(unpaired) == {"content", "tv", "adv_colour", "adv_texture1", "adv_texture4"}
    paired = active_terms(_config(training="paired", adversarial=False))
    assert set(paired) == {"content", "tv", "colour", "perceptual"}
    assert set(active_terms(_config(training="paired", tv_weight=0.0))) >= {"adv_colour"}
    assert needed_extractors(_config(training="unpaired")) == ["vgg19", "alexnet", "vit_b_16"]
    only_content = _config(training="paired", adversarial=False, perceptual_weight=0.0)
    assert needed_extractors(only_content) == ["vgg19"]


@pytest.mark.parametrize(
    ("training", "dynamic"), [("unpaired", True), ("unpaired", False), ("paired", True)]
)
def test_every_term_is_reported_and_the_model_learns(training, dynamic, torch_one_thread):
    model = _packed_model()
    before = [p.detach().clone() for p in model.parameters()]
    config = _config(training=training, loss_adaptation=dynamic, d_every=1)
    shown: list[dict] = []
    from ispengine.learning import forward_training

    original = forward_training._step_function

    def recording(*args, **kwargs):
        step = original(*args, **kwargs)

        def wrapped(index):
            result = step(index)
            shown.append(result)
            return result

        return wrapped

    forward_training._step_function = recording
    try:
        report = train_forward(
            model, _data(training == "paired"), config, Budget(steps=2), progress=False
        )
    finally:
        forward_training._step_function = original
    assert report.steps == 2
    assert set(active_terms(config)) | {"loss", "d"} == set(shown[0])
    assert all(np.isfinite(list(step.values())).all() for step in shown)
    assert shown[0]["loss"] == pytest.approx(
        sum(v for k, v in shown[0].items() if k not in ("loss", "d"))
    )
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert not model.training


def test_paired_training_without_adversarial_terms_reduces_the_loss(torch_one_thread):
    rng = np.random.default_rng(0)
    inputs = [rng.random((4, 16, 24), dtype=np.float32) for _ in range(2)]
    # a target the model can reach: the packed planes' first three, upsampled
    targets = [np.repeat(np.repeat(x[:3], 2, axis=1), 2, axis=2) * 0.8 for x in inputs]
    data = ForwardTrainingData(inputs, 2, targets, targets, paired=True)
    config = _config(
        training="paired",
        adversarial=False,
        loss_adaptation=False,
        perceptual_weight=0.0,
        content_weight=0.0,
        colour_weight=1.0,
        tv_weight=0.0,
        lr=1e-2,
        crop=32,
    )
    report = train_forward(_packed_model(1), data, config, Budget(steps=60), progress=False)
    assert np.mean(report.losses[-10:]) < 0.5 * np.mean(report.losses[:5])


@pytest.mark.parametrize("name", ["unet_isp", "semiisp_function_isp"])
def test_any_forward_model_trains_unpaired(name, torch_one_thread):
    """Full-size camera-RGB models (scale 1), SemiISP's U-Net and function ISP, train
    unpaired with the same trainer."""
    from ispengine.learning.raw_to_srgb import raw_to_srgb_class

    settings = {"width": 4, "depth": 1} if name == "unet_isp" else {"resize": 16, "width": 4}
    model = raw_to_srgb_class(name)(**settings).build()

    class Channels(torch.nn.Module):  # these models are NHWC; the trainer speaks NCHW
        def __init__(self):
            super().__init__()
            self.net = model

        def forward(self, x):
            return self.net(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    before = [p.detach().clone() for p in model.parameters()]
    report = train_forward(
        Channels(), _data(False, scale=1, channels=3), _config(d_every=1), Budget(steps=2),
        progress=False,
    )  # fmt: skip
    assert report.steps == 2
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_pretraining_uses_the_reference_alone(torch_one_thread):
    model = _packed_model()
    data = _data(False)
    report = train_forward(model, data, _config(pretrain_steps=2), Budget(steps=2), progress=False)
    # with only pre-training steps the losses are MSEs to the reference: below 1
    assert all(0 < loss < 1 for loss in report.losses)


def test_checkpoint_and_resume(tmp_path, torch_one_thread):
    checkpoint = tmp_path / "train.ckpt"
    config = _config(d_every=1)
    first = _packed_model()
    train_forward(first, _data(False), config, Budget(steps=2), checkpoint=checkpoint,
                  progress=False)  # fmt: skip
    resumed = _packed_model(5)
    report = train_forward(
        resumed, _data(False), config, Budget(steps=3), checkpoint=checkpoint, resume=True,
        progress=False,
    )  # fmt: skip
    assert report.resumed_from == 2 and report.steps == 3


def test_bad_data_is_refused():
    with pytest.raises(InputError, match="one reference per input"):
        ForwardTrainingData([np.zeros((4, 8, 8), np.float32)], 2, [], [np.zeros((3, 16, 16))])
    with pytest.raises(InputError, match="does not match input"):
        ForwardTrainingData(
            [np.zeros((4, 8, 8), np.float32)], 2, [np.zeros((3, 8, 8))], [np.zeros((3, 8, 8))]
        )
    data = _data(False)
    with pytest.raises(InputError, match="larger than the smallest"):
        data.check_crop(64)
    with pytest.raises(InputError, match="multiple of 4"):
        data.check_crop(18)
    with pytest.raises(InputError, match="at least 32 pixels"):
        train_forward(_packed_model(), data, _config(crop=16), Budget(steps=1), progress=False)
    with pytest.raises(InputError, match="not laid out for paired"):
        train_forward(_packed_model(), data, _config(training="paired"), Budget(steps=1),
                      progress=False)  # fmt: skip
