"""RAW-to-sRGB methods: the interface, the fixed `pipeline` method and SemiISP's forward models."""

import json

import numpy as np
import pytest

from ispengine.core.errors import InputError, UnknownComponentError
from ispengine.core.pipeline import Pipeline
from ispengine.io.raw import CaptureParams, RawImage
from ispengine.io.raw.levels import normalize
from ispengine.learning.raw_to_srgb import RawToSrgbMethod, load_raw_to_srgb, raw_to_srgb_class
from ispengine.learning.srgb_to_raw import Budget, method_class
from ispengine.specs import resolve_spec


def _raw(seed=0, shape=(16, 24)):
    rng = np.random.default_rng(seed)
    mosaic = (64 + rng.uniform(0.05, 0.9, size=shape) * 900).astype(np.uint16)
    return RawImage(
        mosaic, "grbg", 64, 1023, [1.9, 1.0, 1.4], capture=CaptureParams(iso=400, f_number=2.8)
    )


def test_the_methods_are_registered_as_raw_to_srgb_methods():
    for name in ("pipeline", "semiisp_function_isp", "unet_isp"):
        cls = raw_to_srgb_class(name)
        assert issubclass(cls, RawToSrgbMethod) and cls.name == name
    assert raw_to_srgb_class("unet_isp").learned and not raw_to_srgb_class("pipeline").learned


def test_unknown_method_name_is_a_clear_error():
    with pytest.raises(UnknownComponentError, match="pipelin"):
        raw_to_srgb_class("pipelin")


def test_pipeline_renders_like_running_its_spec_and_ignores_normalisation():
    raw = _raw()
    method = raw_to_srgb_class("pipeline")()
    rendered = method.render(raw)
    assert rendered.shape == (16, 24, 3) and rendered.dtype == np.float32
    assert rendered.min() >= 0 and rendered.max() <= 1
    expected = np.clip(Pipeline.from_toml(resolve_spec("camera_default"))(raw), 0, 1)
    np.testing.assert_allclose(rendered, expected, atol=1e-6)
    normalised = raw.evolve(mosaic=normalize(raw).astype(np.float32), normalized=True)
    np.testing.assert_allclose(method.render(normalised), rendered, atol=1e-5)
    report = method.fit([], Budget(steps=3))
    assert report.steps == 0 and method.num_parameters() == 0


def test_pipeline_takes_another_spec_and_round_trips(tmp_path):
    method = raw_to_srgb_class("pipeline")(spec="upi_forward")
    saved = method.save(tmp_path / "fixed")
    document = json.loads(saved.read_text())
    assert document["format"] == "ispengine-raw2srgb" and document["weights"] is None
    again = load_raw_to_srgb(saved)
    assert again.config == {"spec": "upi_forward"}
    raw = _raw(1)
    np.testing.assert_array_equal(again.render(raw), method.render(raw))
    assert not np.allclose(method.render(raw), raw_to_srgb_class("pipeline")().render(raw))


def test_loading_an_srgb_to_raw_file_as_a_raw_to_srgb_method_is_a_clear_error(tmp_path):
    saved = method_class("upi")().save(tmp_path / "upi")
    with pytest.raises(InputError, match="'upi' of format ispengine-srgb2raw, which is not a RAW"):
        load_raw_to_srgb(saved)
    other = tmp_path / "other.json"
    other.write_text('{"format": "something-else", "method": "pipeline"}')
    with pytest.raises(InputError, match="not a saved ispengine RAW-to-sRGB method"):
        load_raw_to_srgb(other)


# -- the learned forward models -----------------------------------------------------------
@pytest.fixture(scope="module")
def dataset(tmp_path_factory, torch_one_thread):
    from ispengine.learning.datasets import open_dataset
    from ispengine.synthcam.generate import generate_dataset

    root = tmp_path_factory.mktemp("raw2srgb") / "data"
    generate_dataset(root, n=5, size=(32, 48), seed=3, cameras=["nikon_5100"], progress=False)
    return open_dataset(root)


LEARNED = {
    "unet_isp": {"width": 4, "depth": 1, "crop": 16, "batch_size": 2},
    "semiisp_function_isp": {"resize": 16, "width": 8, "grid": 2, "crop": 16, "batch_size": 2},
}


@pytest.mark.parametrize("name", sorted(LEARNED))
def test_a_learned_method_fits_saves_and_loads(name, dataset, tmp_path):
    method = raw_to_srgb_class(name)(**LEARNED[name])
    report = method.fit(dataset, Budget(steps=3), seed=1, progress=False)
    assert report.steps == 3 and len(report.losses) == 3 and np.isfinite(report.final_loss)
    assert method.num_parameters() > 0
    sample = dataset.split("test").load(dataset.split("test").ids[0])
    rendered = method.render(sample.raw, capture=sample.capture)
    assert rendered.shape == sample.srgb.shape and rendered.dtype == np.float32
    assert rendered.min() >= 0 and rendered.max() <= 1
    saved = method.save(tmp_path / name)
    again = load_raw_to_srgb(saved)
    assert type(again) is type(method) and again.config == method.config
    np.testing.assert_array_equal(again.render(sample.raw), rendered)
    fresh = raw_to_srgb_class(name)(**LEARNED[name])
    assert not np.array_equal(fresh.render(sample.raw), rendered)  # the weights came back


def test_learned_weights_for_other_settings_are_a_clear_error(dataset, tmp_path):
    saved = raw_to_srgb_class("unet_isp")(width=4, depth=1).save(tmp_path / "unet")
    document = json.loads(saved.read_text())
    document["settings"]["width"] = 8
    saved.write_text(json.dumps(document))
    with pytest.raises(InputError, match="do not fit"):
        load_raw_to_srgb(saved)
    with pytest.raises(InputError, match="crop"):
        raw_to_srgb_class("unet_isp")(crop=15)


def test_fit_resumes_from_its_checkpoint(dataset, tmp_path):
    settings = LEARNED["unet_isp"]
    checkpoint = tmp_path / "unet.ckpt"
    sample = dataset.split("test").load(dataset.split("test").ids[0])
    first = raw_to_srgb_class("unet_isp")(**settings)
    first.fit(dataset, Budget(steps=2), seed=0, checkpoint=checkpoint, progress=False)
    done = raw_to_srgb_class("unet_isp")(**settings)
    report = done.fit(
        dataset, Budget(steps=2), seed=0, checkpoint=checkpoint, resume=True, progress=False
    )
    assert report.resumed_from == 2 and report.steps == 2
    np.testing.assert_array_equal(done.render(sample.raw), first.render(sample.raw))
    report = done.fit(
        dataset, Budget(steps=3), seed=0, checkpoint=checkpoint, resume=True, progress=False
    )
    assert report.resumed_from == 2 and report.steps == 3 and len(report.losses) == 3
