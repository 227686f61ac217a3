"""The ``cstpp`` raw-to-raw method: CycleGAN training on unpaired RAW of two cameras,
mapping with test-time downsampling, saving, resuming, and agreement with the
``cstpp`` predictor in a TOML pipeline."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ispengine import Pipeline  # noqa: E402
from ispengine.core.errors import InputError, ParamError  # noqa: E402
from ispengine.learning.raw_to_raw import load_raw_to_raw, packed_raw  # noqa: E402
from ispengine.learning.srgb_to_raw import Budget  # noqa: E402
from ispengine.synthcam import generate_pairs, open_pairs  # noqa: E402
from plugins_builtin.cstpp.method import CSTPP, ReplayBuffer  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")

SETTINGS = {"config": "small", "crop": 24, "batch_size": 2, "disc_width": 8, "lr_g": 1e-3}


@pytest.fixture(scope="module")
def pairs(tmp_path_factory, torch_one_thread):
    root = tmp_path_factory.mktemp("pairs")
    generate_pairs(root, ("nikon_5100", "synthcam_phone"), 2, 0, 1, (64, 96), 2, progress=False)
    return open_pairs(root)


@pytest.fixture(scope="module")
def fitted(pairs):
    method = CSTPP(**SETTINGS)
    report = method.fit(pairs, Budget(steps=3), seed=4, progress=False)
    return method, report


def test_fit_runs_the_budget_with_finite_losses(fitted):
    _, report = fitted
    assert report.steps == 3 and len(report.losses) == 3
    assert all(np.isfinite(report.losses))


def test_training_moves_the_generator_and_is_repeatable(pairs, fitted):
    method, _ = fitted
    fresh = CSTPP(**SETTINGS)
    fresh.generator(seed=4)
    moved = [
        not torch.equal(a, b)
        for a, b in zip(fresh.state().values(), method.state().values(), strict=True)
    ]
    assert any(moved)
    again = CSTPP(**SETTINGS)
    again.fit(pairs, Budget(steps=3), seed=4, progress=False)
    for a, b in zip(again.state().values(), method.state().values(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("factor", [None, 1, 2, 4, 8, 16])
def test_maps_both_ways_at_every_downsampling(pairs, fitted, factor):
    method, _ = fitted
    a, b = pairs.test_pairs(*pairs.cameras)[0]
    for direction, sample in (("a_to_b", a), ("b_to_a", b)):
        packed = packed_raw(sample.raw)
        mapped = method.map_packed(packed, direction, downsample=factor)
        assert mapped.shape == packed.shape and mapped.dtype == np.float32
        assert mapped.min() >= 0.0 and mapped.max() <= 1.0


def test_bad_downsampling_and_oversized_crops_are_one_line_errors(pairs, fitted):
    method, _ = fitted
    with pytest.raises(ParamError, match="downsample"):
        method.map_packed(np.zeros((8, 8, 4), np.float32), "a_to_b", downsample=3)
    with pytest.raises(InputError, match="lower the 'crop'"):
        CSTPP(**{**SETTINGS, "crop": 40}).fit(pairs, Budget(steps=1), progress=False)
    with pytest.raises(InputError, match="packed planes"):
        method.map_packed(np.zeros((8, 8, 3), np.float32), "a_to_b")


def test_save_load_and_the_predictor_pipeline_agree(fitted, pairs, tmp_path):
    method, _ = fitted
    saved = method.save(tmp_path / "cstpp")
    loaded = load_raw_to_raw(saved)
    packed = packed_raw(pairs.test_pairs(*pairs.cameras)[0][0].raw)
    expected = method.map_packed(packed, "a_to_b", downsample=2)
    np.testing.assert_array_equal(loaded.map_packed(packed, "a_to_b", downsample=2), expected)
    pipeline = Pipeline.from_dict(
        {
            "name": "cstpp",
            "input": "packed_raw",
            "output": "packed_raw",
            "predictor": {
                "type": "cstpp",
                "config": "small",
                "direction": "a_to_b",
                "downsample": 2,
                "weights": str(saved.with_suffix(".safetensors")),
            },
            "stage": [{"type": "polynomial_transform"}],
        }
    )
    through_pipeline = np.clip(np.asarray(pipeline(packed)), 0.0, 1.0)
    np.testing.assert_allclose(through_pipeline, expected, atol=1e-5)


def test_resume_continues_from_the_checkpoint(pairs, tmp_path):
    checkpoint = tmp_path / "cstpp.ckpt"
    first = CSTPP(**SETTINGS)
    first.fit(pairs, Budget(steps=2), checkpoint=checkpoint, progress=False)
    second = CSTPP(**SETTINGS)
    report = second.fit(pairs, Budget(steps=3), checkpoint=checkpoint, resume=True, progress=False)
    assert report.resumed_from == 2 and report.steps == 3 and len(report.losses) == 3


def test_replay_buffer_keeps_at_most_its_size():
    buffer = ReplayBuffer(3, np.random.default_rng(0))
    for k in range(10):
        out = buffer.query(torch.full((2, 1, 2, 2), float(k)))
        assert out.shape == (2, 1, 2, 2)
    assert len(buffer.images) == 3
    assert ReplayBuffer(0, np.random.default_rng(0)).query(torch.ones(1)) is not None
