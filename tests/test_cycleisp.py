"""CycleISP sRGB-to-RAW plugin: network sizes, packing, training, checkpoints, persistence."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ispengine.core.errors import InputError, ParamError  # noqa: E402
from ispengine.learning.datasets import open_dataset  # noqa: E402
from ispengine.learning.metrics import pack  # noqa: E402
from ispengine.learning.paired_crops import PairedCrops, PairedImage  # noqa: E402
from ispengine.learning.srgb_to_raw import Budget, SrgbToRawMethod  # noqa: E402
from ispengine.synthcam.generate import generate_dataset  # noqa: E402
from plugins_builtin.cycleisp.method import CycleISP  # noqa: E402
from plugins_builtin.cycleisp.networks import (  # noqa: E402
    CCM,
    PUBLISHED,
    RAW2RGB,
    RGB2RAW,
    SMALL,
    branch_parameter_counts,
    gaussian_blur,
    pack_bayer,
    pack_mosaic,
    unpack_mosaic,
)

# Hand-written 2x2 cells: R = 1, Gr = 2, Gb = 3, B = 4 (Gr is green on the red rows).
CELLS = {
    "rggb": [[1, 2], [3, 4]],
    "bggr": [[4, 3], [2, 1]],
    "grbg": [[2, 1], [4, 3]],
    "gbrg": [[3, 4], [1, 2]],
}
FAST = {"crop": 16, "batch_size": 2, "lr": 1e-3}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthcam")
    generate_dataset(root, n=6, size=(32, 48), seed=1, progress=False)
    return open_dataset(root)


def hand_mosaic(pattern: str, height: int = 4, width: int = 6) -> np.ndarray:
    return np.tile(np.array(CELLS[pattern], dtype=np.float32), (height // 2, width // 2))


def test_published_parameter_counts_match_the_paper():
    counts = branch_parameter_counts(PUBLISHED)
    assert counts["rgb2raw"] == pytest.approx(3.1e6, rel=0.05)
    assert counts["raw2rgb"] == pytest.approx(3.2e6, rel=0.05)
    assert counts["ccm"] == pytest.approx(1.1e6, rel=0.05)
    method = CycleISP(config="published", train_raw2rgb=True)
    assert method.num_parameters() == sum(counts.values())
    assert CycleISP(config="published").num_parameters() == counts["rgb2raw"]


def test_small_config_is_small():
    counts = branch_parameter_counts(SMALL)
    assert 5_000 < counts["rgb2raw"] < 100_000
    assert CycleISP().num_parameters() == counts["rgb2raw"]


@pytest.mark.parametrize("pattern", sorted(CELLS))
def test_packing_follows_the_pattern(pattern):
    mosaic = torch.from_numpy(hand_mosaic(pattern))[None]
    packed = pack_mosaic(mosaic, pattern)
    assert packed.shape == (1, 4, 2, 3)
    for plane, value in enumerate((1, 2, 3, 4)):
        assert torch.all(packed[0, plane] == value)
    assert torch.equal(unpack_mosaic(packed, pattern), mosaic)
    numpy_packed = pack(hand_mosaic(pattern), pattern)
    assert np.array_equal(numpy_packed, packed[0].permute(1, 2, 0).numpy())


@pytest.mark.parametrize("pattern", sorted(CELLS))
def test_rgb_is_sampled_at_the_pattern_sites(pattern):
    # Channel c holds 10 * c + the hand-made site code, so each plane shows
    # both the colour it was sampled from and the site it came from.
    sites = torch.from_numpy(hand_mosaic(pattern))
    rgb = torch.stack([10 * c + sites for c in range(3)])[None]
    packed = pack_bayer(rgb, pattern)
    for plane, expected in enumerate((0 + 1, 10 + 2, 10 + 3, 20 + 4)):
        assert torch.all(packed[0, plane] == expected)


def test_mixed_patterns_in_one_batch():
    mosaics = torch.from_numpy(np.stack([hand_mosaic(p) for p in CELLS]))
    packed = pack_mosaic(mosaics, list(CELLS))
    assert torch.all(packed[:, 0] == 1) and torch.all(packed[:, 3] == 4)


def test_small_networks_forward_shapes():
    srgb = torch.rand(2, 3, 16, 16)
    rgb = RGB2RAW(SMALL)(srgb)
    assert rgb.shape == (2, 3, 16, 16)
    packed = pack_bayer(rgb, ["rggb", "gbrg"])
    assert packed.shape == (2, 4, 8, 8)
    gates = CCM(SMALL)(gaussian_blur(srgb))
    assert gates.shape == (2, SMALL.features, 8, 8)
    assert torch.all((gates >= 0) & (gates <= 1))
    assert RAW2RGB(SMALL)(packed, gates).shape == (2, 3, 16, 16)


def test_blur_keeps_constant_images():
    image = torch.full((1, 3, 24, 24), 0.25)
    assert torch.allclose(gaussian_blur(image), image, atol=1e-6)
    tiny = torch.full((1, 3, 8, 8), 0.5)  # too small to reflect-pad by 10
    assert torch.allclose(gaussian_blur(tiny), tiny, atol=1e-6)


@pytest.mark.parametrize("pattern", sorted(CELLS))
def test_convert_gives_a_raw_of_the_target_pattern(pattern):
    srgb = np.random.default_rng(0).random((16, 20, 3))
    method = CycleISP()
    first = method.convert(srgb, metadata={"cfa_pattern": pattern}, seed=1)
    again = method.convert(srgb, metadata=first.metadata, seed=2)
    assert first.raw.cfa_pattern == pattern and first.raw.shape == (16, 20)
    assert first.raw.normalized
    assert first.raw.mosaic.min() >= 0 and first.raw.mosaic.max() <= 1
    assert first.metadata["method"] == "cycleisp"
    assert np.array_equal(first.raw.mosaic, again.raw.mosaic)


def test_paired_crops_are_aligned(dataset):
    data = PairedCrops.from_dataset(dataset.split("train"))
    batch = data.draw(np.random.default_rng(3), 8, 16)
    assert batch.srgb.shape == (8, 16, 16, 3) and batch.packed.shape == (8, 8, 8, 4)
    assert batch.mosaic.shape == (8, 16, 16) and batch.srgb.dtype == np.float32
    for mosaic, packed, pattern in zip(batch.mosaic, batch.packed, batch.patterns, strict=True):
        assert np.array_equal(pack(mosaic, pattern), packed)
    with pytest.raises(InputError, match="smaller than"):
        data.draw(np.random.default_rng(0), 1, 34)


def test_paired_crops_keep_the_cfa_phase():
    image = PairedImage("a", hand_mosaic("grbg", 12, 12), np.zeros((12, 12, 3), np.float32), "grbg")
    batch = PairedCrops([image]).draw(np.random.default_rng(0), 16, 4)
    for plane, value in enumerate((1, 2, 3, 4)):
        assert np.all(batch.packed[..., plane] == value)


def test_fit_lowers_the_loss(dataset):
    method = CycleISP(**FAST)
    report = method.fit(dataset, Budget(steps=40), seed=0, progress=False)
    assert report.steps == 40 and len(report.losses) == 40
    assert np.mean(report.losses[-5:]) < np.mean(report.losses[:5])


def test_fit_with_raw2rgb_then_render(dataset):
    method = CycleISP(train_raw2rgb=True, **FAST)
    report = method.fit(dataset, Budget(steps=3), progress=False)
    assert report.steps == 3
    sample = dataset[0]
    from ispengine.io.raw.levels import normalize

    rendered = method.render(normalize(sample.raw), sample.srgb, sample.raw.cfa_pattern)
    assert rendered.shape == sample.srgb.shape
    assert set(method.state()) >= {"rgb2raw.head.weight", "raw2rgb.head.weight", "ccm.head.weight"}
    with pytest.raises(ParamError, match="train_raw2rgb"):
        CycleISP().render(normalize(sample.raw), sample.srgb, "rggb")


def weights_of(method: CycleISP) -> dict[str, np.ndarray]:
    return {k: v.numpy().copy() for k, v in method.state().items()}


def test_resume_continues_the_step_count(dataset, tmp_path):
    checkpoint = tmp_path / "run.pt"
    settings = dict(FAST, checkpoint_every=5)
    straight = CycleISP(**settings)
    whole = straight.fit(dataset, Budget(steps=20), seed=4, progress=False)

    first = CycleISP(**settings).fit(
        dataset, Budget(steps=12), seed=4, checkpoint=checkpoint, progress=False
    )
    assert first.steps == 12 and checkpoint.exists()
    resumed_method = CycleISP(**settings)
    resumed = resumed_method.fit(
        dataset, Budget(steps=20), seed=4, checkpoint=checkpoint, resume=True, progress=False
    )
    assert resumed.resumed_from == 12 and resumed.steps == 20
    assert len(resumed.losses) == 20
    assert resumed.losses[:12] == first.losses
    # Model, optimiser and RNG states come back: the same run as without a break.
    np.testing.assert_allclose(resumed.losses, whole.losses, rtol=1e-5)
    straight_weights, resumed_weights = weights_of(straight), weights_of(resumed_method)
    for name, value in straight_weights.items():
        np.testing.assert_allclose(resumed_weights[name], value, rtol=1e-5, atol=1e-7)

    done = CycleISP(**settings).fit(
        dataset, Budget(steps=20), checkpoint=checkpoint, resume=True, progress=False
    )
    assert done.steps == 20 and done.resumed_from == 20 and len(done.losses) == 20


def test_corrupt_checkpoint_is_an_input_error(dataset, tmp_path):
    checkpoint = tmp_path / "bad.pt"
    checkpoint.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="checkpoint"):
        CycleISP(**FAST).fit(
            dataset, Budget(steps=2), checkpoint=checkpoint, resume=True, progress=False
        )


def test_save_and_load_give_identical_output(dataset, tmp_path):
    method = CycleISP(**FAST)
    method.fit(dataset, Budget(steps=3), progress=False)
    settings_file = method.save(tmp_path / "m")
    srgb = dataset[0].srgb
    expected = method.convert(srgb, metadata={"cfa_pattern": "bggr"}).raw.mosaic
    for loader in (SrgbToRawMethod.load, CycleISP.load):
        loaded = loader(settings_file)
        assert isinstance(loaded, CycleISP) and loaded.config == method.config
        got = loaded.convert(srgb, metadata={"cfa_pattern": "bggr"}).raw.mosaic
        assert np.array_equal(got, expected)


def test_corrupt_or_mismatched_weights_are_input_errors(tmp_path):
    settings_file = CycleISP().save(tmp_path / "m")
    (tmp_path / "m.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(InputError):
        CycleISP.load(settings_file)
    state = {k: v.numpy() for k, v in CycleISP().state().items()}
    state["rgb2raw.head.weight"] = np.zeros((2, 2), np.float32)
    with pytest.raises(InputError, match="rgb2raw.head.weight"):
        CycleISP().load_state(state)
    with pytest.raises(InputError, match="missing"):
        CycleISP(train_raw2rgb=True).load_state(CycleISP().state())


def test_settings_are_checked():
    with pytest.raises(ParamError, match="unknown setting"):
        CycleISP(width=3)
    with pytest.raises(ParamError, match="even"):
        CycleISP(crop=17)
    with pytest.raises(ParamError, match="config"):
        CycleISP(config="huge")
    with pytest.raises(ParamError, match="lr"):
        CycleISP(lr=2.0)


def test_no_train_samples_is_an_input_error(dataset):
    with pytest.raises(InputError, match="train"):
        CycleISP(**FAST).fit(dataset.split("val"), Budget(steps=1), progress=False)


def test_importing_the_plugin_does_not_import_torch():
    code = "import plugins_builtin.cycleisp, sys; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_registered():
    import ispengine

    registry = ispengine.get_registry()
    assert "cycleisp" in registry.names("srgb_to_raw")
    assert registry.get("srgb_to_raw", "cycleisp").cls is CycleISP
