"""The shipped camera-module specs ``fast_openisp`` and ``camera_full``: they load, are
explained stage by stage by ``ispengine check``, and develop a DNG and a headerless
sensor dump from the command line."""

import numpy as np
import pytest

from ispengine import Pipeline
from ispengine.cli import main
from ispengine.io.image_files import read_image
from ispengine.io.raw.dng import write_dng
from ispengine.specs import resolve_spec, shipped_specs
from ispengine.synthcam.generate import make_sample

SPECS = ("fast_openisp", "camera_full")
SIZE = (48, 64)


@pytest.fixture(scope="module")
def sample():
    return make_sample(3, 0, SIZE, "nikon_5100")


@pytest.fixture(scope="module")
def dump(tmp_path_factory, sample):
    """The sample's mosaic as a headerless 10-bit little-endian dump."""
    raw = sample.raw
    normalised = (raw.mosaic.astype(np.float64) - raw.black_level[0]) / (
        raw.white_level - raw.black_level[0]
    )
    numbers = np.round(np.clip(normalised, 0, 1) * 1023).astype("<u2")
    path = tmp_path_factory.mktemp("dump") / "frame.raw"
    numbers.tofile(path)
    return path


def _dump_flags():
    height, width = SIZE
    return ["--width", str(width), "--height", str(height), "--raw-bits", "10"]


@pytest.mark.parametrize("name", SPECS)
def test_shipped_and_loadable(name):
    assert name in shipped_specs()
    pipeline = Pipeline.from_toml(resolve_spec(name))
    assert pipeline.steps[0].stage.name == "black_level"
    assert pipeline.steps[-1].stage.name == "clip"


@pytest.mark.parametrize("name", SPECS)
def test_check_explains_every_stage(name, capsys):
    assert main(["check", name]) == 0
    out = capsys.readouterr().out
    pipeline = Pipeline.from_toml(resolve_spec(name))
    for index, step in enumerate(pipeline.steps, 1):
        line = next(line for line in out.splitlines() if line.startswith(f"  {index:2d}. "))
        assert step.stage.name in line and ("stage," in line or "filter," in line)
        assert line.count("[") >= 1 and "]" in line  # its values
    assert "fused" in out


@pytest.mark.parametrize("name", SPECS)
def test_develops_a_dng_from_the_command_line(name, sample, tmp_path, capsys):
    write_dng(tmp_path / "in.dng", sample.raw)
    out = tmp_path / "out.png"
    assert main(["run", name, str(tmp_path / "in.dng"), str(out), "--quiet"]) == 0
    image = read_image(out)
    assert image.shape == (*SIZE, 3)
    assert 0.02 < image.mean() < 0.98 and image.std() > 0.01  # a picture, not a flat frame


@pytest.mark.parametrize("name", SPECS)
def test_develops_a_headerless_dump(name, dump, tmp_path, capsys):
    out = tmp_path / "out.npy"
    argv = ["run", name, str(dump), str(out), *_dump_flags(), "--pattern", "rggb", "--quiet"]
    assert main(argv) == 0, capsys.readouterr().err
    image = np.load(out)
    assert image.shape == (*SIZE, 3) and np.all(np.isfinite(image))
    assert image.min() >= 0 and image.max() <= 1


def test_fast_openisp_declares_its_test_sensor():
    pipeline = Pipeline.from_toml(resolve_spec("fast_openisp"))
    geometry = pipeline.input_geometry
    assert (geometry["width"], geometry["height"], geometry["bits"]) == (1920, 1080, 10)
    assert geometry["pattern"] == "rggb"


def test_fast_openisp_parameters_are_its_test_configuration():
    """configs/test.yaml of fast-openISP, in normalised units."""
    steps = {s.label: s.stage for s in Pipeline.from_toml(resolve_spec("fast_openisp")).steps}
    assert steps["dead_pixel_correction"].values["threshold"] == pytest.approx(30 / 1023)
    np.testing.assert_allclose(steps["awb"].values["gains"], [1860 / 1024, 1, 1280 / 1024])
    assert float(steps["gamma_curve"].values["gamma"]) == pytest.approx(0.42)
    assert steps["rgb_to_ycbcr"].config == {"standard": "bt601", "range": "limited"}
    assert steps["nlm_denoise"].values["h"] == pytest.approx(10 / 255)
    assert steps["clahe"].config["tiles"] == [4, 6]
    assert steps["edge_enhancement"].values["edge_gain"] == pytest.approx(384 / 256)
    assert steps["false_colour_suppression"].values["delta_max"] == pytest.approx(32 / 255)
