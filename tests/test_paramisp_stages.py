"""ParamISP's learned stages in TOML pipelines: weights from a path, metadata bindings, inverse."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ispengine.core.errors import InputError, ParamError  # noqa: E402
from ispengine.core.pipeline import Pipeline  # noqa: E402
from ispengine.core.plugins import get_registry  # noqa: E402
from ispengine.io.raw.image import CaptureParams  # noqa: E402
from ispengine.io.raw.levels import normalize  # noqa: E402
from ispengine.learning.datasets import open_dataset  # noqa: E402
from ispengine.learning.srgb_to_raw import Budget  # noqa: E402
from ispengine.synthcam.generate import generate_dataset  # noqa: E402
from plugins_builtin.paramisp.method import ParamISP, ParamISPRender  # noqa: E402
from plugins_builtin.paramisp.stages import ParamISPForward, ParamISPForwardInverse  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")
SMALL = {"config": "small", "crop": 32, "batch_size": 2, "device": "cpu"}
BINDINGS = (
    'gains = "wb_gains", matrix = "camera_to_srgb", pattern = "cfa_pattern", iso = "iso", '
    'exposure_time = "exposure_time", f_number = "f_number", focal_length = "focal_length"'
)
SPEC = f"""
schema = 1
name = "paramisp"
input = "raw_mosaic"
output = "srgb"

[[stage]]
type = "black_level"
from_metadata = {{ black = "black_level", white = "white_level", pattern = "cfa_pattern" }}

[[stage]]
type = "paramisp_forward"
name = "isp"
params = {{ weights = "models/both.json" }}
from_metadata = {{ {BINDINGS} }}

[inverse.isp]
method = "learned"
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("paramisp-stages")
    generate_dataset(
        root / "data", 4, (64, 96), 0, ["nikon_5100", "sigma_sdmerrill"], progress=False
    )
    dataset = open_dataset(root / "data")
    method = ParamISP(**SMALL, directions="both")
    method.fit(dataset, Budget(steps=2), seed=1, progress=False)
    (root / "models").mkdir()
    method.save(root / "models" / "both")
    spec = root / "paramisp.toml"
    spec.write_text(SPEC)
    return root, dataset, method, spec


def test_the_stage_and_its_inverse_are_registered():
    registry = get_registry()
    assert registry.get("stage", "paramisp_forward").cls is ParamISPForward
    inverses = registry.inverses_of("paramisp_forward")
    assert [r.cls for r in inverses] == [ParamISPForwardInverse]
    assert inverses[0].method == "learned"


def test_the_stage_in_a_toml_pipeline_matches_the_method(setup):
    root, dataset, method, spec = setup
    raw = dataset[0].raw
    rendered = Pipeline.from_toml(spec)(raw)
    assert rendered.shape == (*raw.shape, 3)
    render = ParamISPRender(**{**method.config, "directions": "both"})
    render.load_state(method.state())
    np.testing.assert_allclose(np.clip(rendered, 0, 1), render.render(raw), atol=1e-5)


def test_a_raw_without_exif_renders_with_the_dropped_encoding(setup):
    root, dataset, method, spec = setup
    raw = dataset[0].raw
    pipeline = Pipeline.from_toml(spec)
    without = pipeline(raw.evolve(capture=CaptureParams()))
    assert np.all(np.isfinite(without))
    assert not np.allclose(without, pipeline(raw))


def test_the_learned_inverse_gives_back_a_mosaic(setup):
    root, dataset, method, spec = setup
    sample = dataset[0]
    pipeline = Pipeline.from_toml(spec)
    numbers = pipeline.inverse()(sample.srgb.astype(np.float32), metadata=sample.raw.metadata())
    assert numbers.shape == sample.raw.shape
    expected = method.convert(sample.srgb, capture=sample.capture, metadata=sample.raw.metadata())
    normalised = normalize(sample.raw.evolve(mosaic=numbers))
    np.testing.assert_allclose(np.clip(normalised, 0, 1), expected.raw.mosaic, atol=1e-4)


def test_torch_inputs_keep_their_graph(setup):
    root, dataset, method, spec = setup
    weights = root / "models" / "both.safetensors"  # the weights file finds its settings
    stage = ParamISPForward(weights=str(weights), pattern="rggb")
    mosaic = torch.full((2, 16, 16), 0.3, requires_grad=True)
    out = stage(mosaic)
    assert out.shape == (2, 16, 16, 3) and isinstance(out, torch.Tensor)
    out.mean().backward()
    assert mosaic.grad is not None and torch.all(torch.isfinite(mosaic.grad))


def test_bad_weights_are_one_line_errors(setup, tmp_path):
    root, dataset, method, spec = setup
    with pytest.raises(ParamError, match="needs a saved ParamISP model"):
        ParamISPForward()(np.zeros((4, 4), np.float32))
    with pytest.raises(InputError, match="no saved ParamISP model"):
        ParamISPForward(weights=str(tmp_path / "none.json"))(np.zeros((4, 4), np.float32))
    from plugins_builtin.cycleisp.method import CycleISP

    cycle = CycleISP(config="small").save(tmp_path / "cycle")
    with pytest.raises(InputError, match="holds method 'cycleisp', not 'paramisp'"):
        ParamISPForward(weights=str(cycle))(np.zeros((4, 4), np.float32))
    inverse_only = ParamISP(**SMALL).save(tmp_path / "inverse_only")
    with pytest.raises(ParamError, match="no forward network"):
        ParamISPForward(weights=str(inverse_only))(np.zeros((4, 4), np.float32))


PREDICTED = """
schema = 1
name = "exif-tone"
input = "linear_srgb"
output = "srgb"

[predictor]
type = "paramnet"
channels = 16

[[stage]]
type = "gamma_tone"
name = "tone"
params = { k = 0.5 }
"""


def test_the_paramnet_predictor_conditions_a_pipeline_on_exif(tmp_path):
    from plugins_builtin.paramisp.predictor import ParamNetPredictor

    spec = tmp_path / "tone.toml"
    spec.write_text(PREDICTED)
    pipeline = Pipeline.from_toml(spec)
    predictor = pipeline.predictor
    assert isinstance(predictor, ParamNetPredictor) and predictor.reads_metadata
    assert [p.key for p in predictor.params] == ["tone.g1", "tone.g2"]
    image = np.random.default_rng(0).uniform(0.1, 0.9, (8, 8, 3))
    exif = {"iso": 100.0, "exposure_time": 0.01, "wb_gains": [2.0, 1.0, 1.6]}
    untrained = pipeline(image, metadata=exif)  # starts at the stage's defaults
    np.testing.assert_allclose(untrained, Pipeline.from_toml(spec).steps[0].stage(image))
    with torch.no_grad():
        torch.nn.init.normal_(predictor.network["head"].weight, std=0.5)
    low = pipeline(image, metadata=exif)
    high = pipeline(image, metadata={**exif, "iso": 6400.0})
    unknown = pipeline(image, metadata={k: v for k, v in exif.items() if k != "iso"})
    assert not np.allclose(low, high) and not np.allclose(low, unknown)
    batch = predictor(np.stack([image, image]), metadata=exif)
    assert batch["tone"]["g1"].shape == (2, 3)
    weights = predictor.save_weights(tmp_path / "paramnet.safetensors")
    reloaded = Pipeline.from_dict(
        {
            **load_spec(spec),
            "predictor": {"type": "paramnet", "channels": 16, "weights": str(weights)},
        }
    )
    np.testing.assert_allclose(reloaded(image, metadata=exif), low)
    with pytest.raises(InputError, match="do not fit a paramnet predictor"):
        ParamNetPredictor(pipeline, channels=8, weights=str(weights))


def load_spec(path):
    from ispengine.core.settings import load_toml

    return load_toml(path)


def test_ispengine_stages_lists_paramisp_four_ways(capsys):
    import json

    from ispengine.cli import main

    assert main(["stages", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    kinds = {(row["name"], row["kind"]) for row in rows if row["plugin"] == "paramisp"}
    assert kinds == {
        ("paramisp_forward", "stage"),
        ("paramisp_forward_learned_inverse", "inverse_stage"),
        ("paramnet", "param_predictor"),
        ("paramisp", "srgb_to_raw"),
        ("paramisp", "raw_to_srgb"),
    }
