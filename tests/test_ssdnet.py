"""SSDNet sRGB-to-RAW method: soft supervision, testing-resampling, training schedule,
conversion to the target pattern, the authors' checkpoints and bad inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ispengine.core.cfa import pack_cfa  # noqa: E402
from ispengine.core.errors import InputError, ParamError  # noqa: E402
from ispengine.learning.datasets import open_dataset  # noqa: E402
from ispengine.learning.srgb_to_raw import Budget, load_method, method_class  # noqa: E402
from ispengine.synthcam.generate import generate_dataset  # noqa: E402
from plugins_builtin.ssdnet.method import SSDNetMethod, augment  # noqa: E402
from plugins_builtin.ssdnet.networks import CONFIGS, build  # noqa: E402

FAST = {"crops": [16], "batch_size": 2, "lr": 1e-3, "samples": 4}
METADATA = {"cfa_pattern": "gbrg"}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthcam")
    generate_dataset(root, n=6, size=(32, 48), seed=2, progress=False)
    return open_dataset(root)


def _image(seed: int = 0, size: tuple[int, int] = (16, 24)) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, (*size, 3)).astype(np.float32)


def test_registered_and_one_to_many_only_with_the_error_branch():
    assert method_class("ssdnet") is SSDNetMethod
    assert SSDNetMethod().one_to_many
    assert not SSDNetMethod(samples=0).one_to_many
    assert not SSDNetMethod(soft_supervision=False).one_to_many
    with_error = SSDNetMethod().num_parameters()
    without = SSDNetMethod(soft_supervision=False).num_parameters()
    assert with_error - without == 6_917  # the small error branch


def test_convert_unpacks_the_networks_output_to_the_target_pattern():
    method = SSDNetMethod(samples=0)
    image = _image()
    result = method.convert(image, metadata=METADATA)
    with torch.no_grad():
        packed, _ = method.network()(torch.from_numpy(image).permute(2, 0, 1)[None])
    expected = np.clip(packed[0].permute(1, 2, 0).numpy(), 0, 1)
    assert result.raw.cfa_pattern == "gbrg" and result.raw.mosaic.shape == (16, 24)
    np.testing.assert_allclose(pack_cfa(result.raw.mosaic, "gbrg", np), expected, atol=1e-6)


def test_testing_resampling_averages_seeded_draws_of_x_plus_e_z():
    method = SSDNetMethod(samples=8)
    with torch.no_grad():  # give the error branch a visible output
        method.network().sigma[-2].bias = None
        method.network().sigma[-2].weight.fill_(0.02)
    image = _image(1)
    draws = method.sample(image, 8, metadata=METADATA, seed=5)
    mosaics = np.stack([d.raw.mosaic for d in draws])
    assert np.std(mosaics, axis=0).mean() > 1e-3  # the draws differ
    averaged = method.convert(image, metadata=METADATA, seed=5).raw.mosaic
    inside = np.all((mosaics > 0) & (mosaics < 1), axis=0)  # no draw clipped there
    assert inside.mean() > 0.8
    np.testing.assert_allclose(averaged[inside], mosaics.mean(axis=0)[inside], atol=1e-5)
    again = method.convert(image, metadata=METADATA, seed=5).raw.mosaic
    np.testing.assert_array_equal(averaged, again)
    other = method.convert(image, metadata=METADATA, seed=6).raw.mosaic
    assert not np.array_equal(averaged, other)
    plain = SSDNetMethod(samples=0)
    plain.load_state(method.state())
    # the average of many draws tends to the plain prediction
    many = SSDNetMethod(samples=400)
    many.load_state(method.state())
    gap_many = np.abs(
        many.convert(image, metadata=METADATA).raw.mosaic
        - plain.convert(image, metadata=METADATA).raw.mosaic
    ).mean()
    gap_one = np.abs(mosaics[0] - plain.convert(image, metadata=METADATA).raw.mosaic).mean()
    assert gap_many < gap_one / 4


def test_learning_rate_is_constant_then_cosine_to_its_minimum():
    method = SSDNetMethod(lr=3e-4, lr_min=1e-6)
    budget = Budget(steps=300)
    assert method.learning_rate(0, budget) == 3e-4
    assert method.learning_rate(91, budget) == 3e-4
    middle = 92 + (300 - 92) / 2
    assert method.learning_rate(math.ceil(middle), budget) == pytest.approx(
        1e-6 + 0.5 * (3e-4 - 1e-6), rel=0.02
    )
    assert method.learning_rate(300, budget) == pytest.approx(1e-6)
    assert method.learning_rate(10_000, Budget(seconds=5)) == 3e-4


def test_progressive_crops_share_the_budget_equally():
    method = SSDNetMethod(crops=[16, 32, 48])
    budget = Budget(steps=9)
    assert [method.crop_at(k, budget) for k in range(9)] == [16] * 3 + [32] * 3 + [48] * 3
    assert method.crop_at(50, Budget(seconds=1)) == 16


def test_augment_moves_srgb_and_packed_raw_together():
    rng = np.random.default_rng(0)
    srgb = rng.uniform(0, 1, (1, 8, 8, 3))
    packed = srgb[:, ::2, ::2, :1].repeat(4, axis=-1)  # each cell's top-left sRGB pixel
    seen = set()
    for _ in range(40):
        s, p = augment(srgb, packed, rng)
        seen.add(s.tobytes())
        cells = s.reshape(1, 4, 2, 4, 2, 3)[..., 0]  # red channel of each 2×2 cell
        values = p[..., 0]
        # every packed value comes from its own cell of the transformed sRGB crop
        assert all(values[0, i, j] in cells[0, i, :, j, :] for i in range(4) for j in range(4))
    assert len(seen) == 8  # the eight flips and rotations of the square


@pytest.mark.parametrize("soft", [True, False])
def test_fit_trains_saves_and_loads(dataset, tmp_path, soft):
    method = SSDNetMethod(soft_supervision=soft, **FAST)
    report = method.fit(dataset, Budget(steps=4), seed=0, progress=False)
    assert report.steps == 4 and all(np.isfinite(report.losses))
    sample = next(iter(dataset.split("test")))
    result = method.convert(sample.srgb, metadata={"cfa_pattern": "rggb"}, seed=1)
    assert result.raw.mosaic.shape == sample.srgb.shape[:2]
    assert result.raw.mosaic.min() >= 0 and result.raw.mosaic.max() <= 1
    again = load_method(method.save(tmp_path / "ssdnet.json"))
    np.testing.assert_array_equal(
        again.convert(sample.srgb, metadata={"cfa_pattern": "rggb"}, seed=1).raw.mosaic,
        result.raw.mosaic,
    )


def test_soft_supervision_trains_the_error_branch(dataset):
    method = SSDNetMethod(**{**FAST, "lr": 3e-3, "alpha": 10.0, "augment": False})
    before = {k: v.clone() for k, v in method.network(0).sigma.state_dict().items()}
    method.fit(dataset, Budget(steps=3), seed=0, progress=False)
    after = method.network().sigma.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_training_is_reproducible(dataset):
    first = SSDNetMethod(**FAST).fit(dataset, Budget(steps=3), seed=4, progress=False)
    second = SSDNetMethod(**FAST).fit(dataset, Budget(steps=3), seed=4, progress=False)
    assert first.losses == second.losses


def test_the_authors_basicsr_state_loads_and_drives_convert(tmp_path):
    reference = build(CONFIGS["small"], seed=7)
    state = {"params": {f"module.{k}": v for k, v in reference.state_dict().items()}}
    method = SSDNetMethod(samples=0)
    method.load_state(state)
    image = _image(2)
    with torch.no_grad():
        packed, _ = reference(torch.from_numpy(image).permute(2, 0, 1)[None])
    got = pack_cfa(method.convert(image, metadata=METADATA).raw.mosaic, "gbrg", np)
    np.testing.assert_allclose(got, np.clip(packed[0].permute(1, 2, 0).numpy(), 0, 1), atol=1e-6)
    # without soft supervision the file's error branch is left out
    plain = SSDNetMethod(soft_supervision=False, samples=0)
    plain.load_state(state)


def test_bad_weights_and_inputs_are_one_line_errors():
    small = build(CONFIGS["small"]).state_dict()
    with pytest.raises(InputError, match="ssdnet weights") as error:
        SSDNetMethod(config="published").load_state(small)
    assert "\n" not in str(error.value)
    broken = {k: v.clone() for k, v in small.items()}
    broken["latent.0.attn.temperature"][0] = float("nan")
    with pytest.raises(InputError, match="NaN"):
        SSDNetMethod().load_state(broken)
    without_sigma = {k: v for k, v in small.items() if not k.startswith("sigma.")}
    with pytest.raises(InputError, match="sigma"):
        SSDNetMethod().load_state(without_sigma)
    with pytest.raises(InputError, match="must be even"):
        SSDNetMethod().convert(np.zeros((15, 16, 3), np.float32), metadata=METADATA)
    with pytest.raises(ParamError, match="even"):
        SSDNetMethod(crops=[17])
    with pytest.raises(ParamError, match="lr_min"):
        SSDNetMethod(lr=1e-4, lr_min=1e-3)
