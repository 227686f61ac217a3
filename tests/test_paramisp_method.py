"""ParamISP's methods: training (pre-training, fine-tuning, joint), conversion, persistence."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ispengine.core.errors import InputError, ParamError  # noqa: E402
from ispengine.core.plugins import get_registry  # noqa: E402
from ispengine.io.raw.image import CaptureParams  # noqa: E402
from ispengine.learning.datasets import open_dataset  # noqa: E402
from ispengine.learning.raw_to_srgb import RawToSrgbMethod  # noqa: E402
from ispengine.learning.srgb_to_raw import Budget, SrgbToRawMethod  # noqa: E402
from ispengine.synthcam.generate import generate_dataset  # noqa: E402
from plugins_builtin.paramisp.method import ParamISP, ParamISPRender  # noqa: E402
from plugins_builtin.paramisp.model import ParamISPModel, parse_optical  # noqa: E402
from plugins_builtin.paramisp.training import (  # noqa: E402
    CameraCrops,
    Schedule,
    batch_tensors,
    direction_loss,
    matches_camera,
    plan_phases,
)

pytestmark = pytest.mark.usefixtures("torch_one_thread")
CAMERAS = ["nikon_5100", "sigma_sdmerrill"]
SMALL = {"config": "small", "crop": 32, "batch_size": 2, "device": "cpu"}
CAPTURE_KEYS = ("iso", "exposure_time", "f_number", "focal_length", "make", "model")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("paramisp-synthcam")
    generate_dataset(root, 6, (64, 96), 0, CAMERAS, progress=False)
    return open_dataset(root)


@pytest.fixture(scope="module")
def trained(dataset):
    method = ParamISP(**SMALL, directions="both")
    method.fit(dataset, Budget(steps=2), seed=3, progress=False)
    return method


def _sample(dataset):
    return dataset.split("test")[0]


def test_both_methods_are_registered_as_paramisp():
    registry = get_registry()
    assert registry.get("srgb_to_raw", "paramisp").cls is ParamISP
    assert registry.get("raw_to_srgb", "paramisp").cls is ParamISPRender
    assert ParamISP.learned and ParamISPRender.learned
    assert {s.name: s.default for s in ParamISP.settings}["directions"] == "inverse"
    assert {s.name: s.default for s in ParamISPRender.settings}["directions"] == "forward"


def test_settings_are_checked():
    with pytest.raises(ParamError, match="crop"):
        ParamISP(crop=33)
    with pytest.raises(ParamError, match="unknown parameter 'aperture'"):
        ParamISP(optical="iso,aperture")
    with pytest.raises(ParamError, match="joint fine-tuning needs directions = 'both'"):
        ParamISP(joint_steps=5)
    with pytest.raises(ParamError, match="dropout"):
        ParamISP(dropout=1.5)
    assert parse_optical(" iso , focal_length") == ("focal_length", "iso")
    assert parse_optical("") == ()


def test_the_loss_falls_when_fitting_one_batch(dataset):
    torch.manual_seed(0)
    model = ParamISPModel(ParamISP(**SMALL).config)
    crops = CameraCrops.from_samples(dataset.split("train"))
    batch = crops.draw(np.random.default_rng(0), 2, 32)
    tensors = batch_tensors(batch, torch.device("cpu"), torch.Generator().manual_seed(0))
    networks = model.to("cpu", training=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(20):
        loss = direction_loss(networks, tensors)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert np.mean(losses[-3:]) < 0.8 * np.mean(losses[:3])


def test_every_batch_has_one_camera_and_pattern(dataset):
    crops = CameraCrops.from_samples(dataset.split("train"))
    assert crops.cameras == sorted(CAMERAS)
    rng = np.random.default_rng(1)
    seen = set()
    for _ in range(12):
        batch = crops.draw(rng, 3, 16)
        assert len(set(batch.patterns)) == 1 and len(set(batch.capture.model)) == 1
        seen.add(batch.capture.model[0])
    assert len(seen) == 2


def test_a_camera_is_named_by_synthcam_name_model_or_make_and_model(dataset):
    sample = next(s for s in dataset if s.info["camera"] == "nikon_5100")
    for name in ("nikon_5100", "NIKON D5100 (NPL)", "SynthCam Nikon D5100 (NPL)"):
        assert matches_camera(name, sample)
    assert not matches_camera("sigma_sdmerrill", sample)


def test_the_schedule_splits_the_budget():
    config = ParamISP(fine_tune_camera="nikon_5100", fine_tune_fraction=0.25).config
    assert plan_phases(config, Budget(steps=100)) == (75, 25, 0)
    both = ParamISP(directions="both", fine_tune_camera="x", joint_steps=10).config
    assert plan_phases(both, Budget(steps=100)) == (70, 20, 10)
    assert plan_phases(ParamISP().config, Budget(steps=100)) == (100, 0, 0)
    with pytest.raises(ParamError, match="exceed the budget"):
        plan_phases(both, Budget(steps=8))
    with pytest.raises(ParamError, match="needs a step budget"):
        plan_phases(both, Budget(seconds=5))


def test_pretraining_fine_tuning_and_joint_steps_run(dataset):
    method = ParamISP(
        **SMALL,
        directions="both",
        fine_tune_camera="Sigma SD Merrill (NPL)",
        fine_tune_fraction=0.5,
        joint_steps=1,
    )
    report = method.fit(dataset, Budget(steps=4), progress=False)
    assert report.steps == 4 and len(report.losses) == 4
    assert all(np.isfinite(report.losses))
    assert "2 camera(s); steps run: 1 pre-training, 2 fine-tuning, 1 joint" in report.note


def test_train_cameras_restricts_training_to_them(dataset):
    method = ParamISP(**SMALL, train_cameras="nikon_5100")
    report = method.fit(dataset, Budget(steps=1), progress=False)
    assert "1 camera(s)" in report.note
    with pytest.raises(InputError, match="train_cameras 'canon_r5'.*nikon_5100, sigma_sdmerrill"):
        ParamISP(**SMALL, train_cameras="nikon_5100, canon_r5").fit(
            dataset, Budget(steps=1), progress=False
        )


def test_an_unknown_fine_tune_camera_names_the_cameras(dataset):
    method = ParamISP(**SMALL, fine_tune_camera="canon_r5")
    with pytest.raises(InputError, match="canon_r5.*nikon_5100, sigma_sdmerrill"):
        method.fit(dataset, Budget(steps=1), progress=False)


def test_save_load_gives_the_same_raw(trained, dataset, tmp_path):
    sample = _sample(dataset)
    metadata = sample.raw.metadata()
    before = trained.convert(sample.srgb, capture=sample.capture, metadata=metadata)
    saved = trained.save(tmp_path / "paramisp")
    loaded = SrgbToRawMethod.load(saved)
    assert isinstance(loaded, ParamISP) and loaded.config == trained.config
    after = loaded.convert(sample.srgb, capture=sample.capture, metadata=metadata)
    np.testing.assert_array_equal(before.raw.mosaic, after.raw.mosaic)
    assert set(loaded.state()) == set(trained.state())
    assert {k.split(".")[0] for k in loaded.state()} == {"forward", "inverse"}
    assert loaded.num_parameters() == trained.num_parameters() > 0


def test_training_resumes_from_its_checkpoint(dataset, tmp_path):
    checkpoint = tmp_path / "paramisp.ckpt"
    first = ParamISP(**SMALL)
    first.fit(dataset, Budget(steps=2), checkpoint=checkpoint, progress=False)
    again = ParamISP(**SMALL)
    report = again.fit(dataset, Budget(steps=3), checkpoint=checkpoint, resume=True, progress=False)
    assert report.resumed_from == 2 and report.steps == 3 and len(report.losses) == 3


def test_convert_carries_the_colour_it_used_and_works_without_exif(trained, dataset):
    sample = _sample(dataset)
    metadata = {k: v for k, v in sample.raw.metadata().items() if k not in CAPTURE_KEYS}
    with_exif = trained.convert(sample.srgb, capture=sample.capture, metadata=metadata)
    without = trained.convert(sample.srgb, metadata=metadata)
    raw = without.raw
    assert raw.normalized and raw.shape == sample.raw.shape
    assert raw.cfa_pattern == sample.raw.cfa_pattern
    np.testing.assert_allclose(raw.wb_gains, sample.raw.wb_gains)
    np.testing.assert_allclose(raw.camera_to_srgb, sample.raw.camera_to_srgb)
    assert raw.mosaic.min() >= 0.0 and raw.mosaic.max() <= 1.0
    assert raw.capture == CaptureParams()
    assert with_exif.raw.capture.iso == sample.capture.iso
    assert with_exif.metadata["iso"] == sample.capture.iso
    again = trained.convert(sample.srgb, metadata=with_exif.metadata)
    np.testing.assert_array_equal(again.raw.mosaic, with_exif.raw.mosaic)
    assert not np.array_equal(with_exif.raw.mosaic, raw.mosaic)  # EXIF conditions the result


def test_missing_colour_metadata_names_the_key(trained, dataset):
    srgb = _sample(dataset).srgb
    with pytest.raises(InputError, match="no 'wb_gains'"):
        trained.convert(srgb, metadata={"cfa_pattern": "rggb"})
    with pytest.raises(InputError, match="no 'camera_to_srgb'"):
        trained.convert(srgb, metadata={"wb_gains": [2.0, 1.0, 1.5]})
    derived = trained.convert(
        srgb, metadata={"wb_gains": [2.0, 1.0, 1.5], "xyz_to_camera": np.eye(3) * 0.9}
    )
    assert derived.raw.shape == srgb.shape[:2]


def test_image_sizes_odd_refused_small_padded(trained, dataset):
    metadata = _sample(dataset).raw.metadata()
    with pytest.raises(InputError, match="even"):
        trained.convert(np.full((33, 48, 3), 0.5), metadata=metadata)
    tiny = trained.convert(np.full((6, 10, 3), 0.5), metadata=metadata)
    assert tiny.raw.shape == (6, 10)


def test_another_methods_weights_are_refused(tmp_path):
    from plugins_builtin.cycleisp.method import CycleISP

    saved = CycleISP(config="small").save(tmp_path / "cycle")
    with pytest.raises(InputError, match="holds method 'cycleisp', not 'paramisp'"):
        ParamISP.load(saved)
    with pytest.raises(InputError, match="another config"):
        ParamISP(config="small").load_state(
            {**ParamISP(config="small").state(), "inverse.extra": np.zeros(1)}
        )


def test_a_model_without_the_inverse_cannot_convert(dataset):
    method = ParamISP(**SMALL, directions="forward")
    with pytest.raises(ParamError, match="no inverse network"):
        method.convert(_sample(dataset).srgb, metadata=_sample(dataset).raw.metadata())


def test_the_raw_to_srgb_method_renders_and_reloads(dataset, tmp_path):
    method = ParamISPRender(**SMALL)
    report = method.fit(dataset, Budget(steps=2), progress=False)
    assert report.steps == 2
    raw = _sample(dataset).raw
    image = method.render(raw)
    assert image.shape == (*raw.shape, 3) and image.dtype == np.float32
    assert image.min() >= 0.0 and image.max() <= 1.0
    saved = method.save(tmp_path / "forward")
    loaded = RawToSrgbMethod.load(saved)
    assert isinstance(loaded, ParamISPRender)
    np.testing.assert_array_equal(loaded.render(raw), image)
    assert {k.split(".")[0] for k in loaded.state()} == {"forward"}
    unknown = method.render(raw, capture=CaptureParams(iso=12800.0))
    assert not np.array_equal(unknown, image)


def test_a_seconds_budget_splits_pretraining_and_fine_tuning_by_time():
    config = ParamISP(fine_tune_camera="nikon_5100", fine_tune_fraction=0.25).config
    schedule = Schedule(config, Budget(seconds=100))
    assert schedule.phase(40, elapsed=74.0) == ("pretrain", 40)
    assert schedule.phase(41, elapsed=75.0) == ("fine", 0)
    assert Schedule(ParamISP().config, Budget(seconds=100)).phase(9, 99.0) == ("pretrain", 9)


def test_the_learning_rate_decays_per_phase_and_drops_tenfold_for_fine_tuning():
    config = ParamISP(
        lr=1e-3, decay_every=10, fine_tune_camera="nikon_5100", fine_tune_fraction=0.2
    ).config
    schedule = Schedule(config, Budget(steps=100))
    assert schedule.rate(*schedule.phase(9, 0.0)) == pytest.approx(1e-3)
    assert schedule.rate(*schedule.phase(25, 0.0)) == pytest.approx(1e-3 * 0.8**2)
    assert schedule.phase(80, 0.0) == ("fine", 0)
    assert schedule.rate(*schedule.phase(80, 0.0)) == pytest.approx(1e-4)
    assert schedule.rate(*schedule.phase(95, 0.0)) == pytest.approx(1e-4 * 0.8)
