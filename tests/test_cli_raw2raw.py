"""``ispengine raw2raw train`` and ``ispengine raw2raw map``: a calibration end to end,
DNGs with the target camera's metadata, and one-line errors that write nothing."""

from __future__ import annotations

import numpy as np
import pytest

from ispengine.cli import main
from ispengine.io.raw.reader import read_raw
from ispengine.learning.raw_to_raw import load_raw_to_raw, packed_raw
from ispengine.synthcam import generate_pairs, open_pairs

CAMERAS = ("nikon_5100", "sigma_sdmerrill")


@pytest.fixture(scope="module")
def pairs_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("pairs")
    generate_pairs(root, CAMERAS, 2, 1, 2, (32, 48), 7, progress=False)
    return root


@pytest.fixture(scope="module")
def model(pairs_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("model") / "calibration"
    argv = ["raw2raw", "train", "--method", "calibration_3x3", "--data", pairs_folder]
    assert main([str(a) for a in [*argv, "--out", out, "--steps", "1", "--quiet"]]) == 0
    return out.with_suffix(".json")


def _fails(capsys, argv):
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    return err


def test_train_saves_a_fitted_calibration(model):
    method = load_raw_to_raw(model)
    assert method.name == "calibration_3x3" and set(method.weights) == {"a_to_b", "b_to_a"}


def test_map_a_file_writes_a_dng_of_the_target_camera(pairs_folder, model, tmp_path):
    pairs = open_pairs(pairs_folder)
    a, b = pairs.test_pairs(*CAMERAS)[0]
    source = pairs_folder / CAMERAS[0] / "raw" / f"{a.id}.dng"
    like = pairs_folder / CAMERAS[1] / "raw" / f"{b.id}.dng"
    out = tmp_path / "mapped.dng"
    argv = ["raw2raw", "map", source, out, "--model", model, "--like", like, "--quiet"]
    assert main([str(p) for p in argv]) == 0
    mapped = read_raw(out)
    assert mapped.cfa_pattern == b.raw.cfa_pattern and mapped.white_level == b.raw.white_level
    expected = load_raw_to_raw(model).map_packed(packed_raw(a.raw), "a_to_b")
    np.testing.assert_allclose(packed_raw(mapped), expected, atol=1.0 / mapped.white_level)
    # an existing output is kept unless --overwrite
    before = out.read_bytes()
    assert main([str(p) for p in argv]) == 2 and out.read_bytes() == before
    assert main([str(p) for p in [*argv, "--overwrite"]]) == 0


def test_map_a_folder(pairs_folder, model, tmp_path):
    like = next((pairs_folder / CAMERAS[0] / "raw").glob("*.dng"))
    out = tmp_path / "mapped"
    argv = [
        "raw2raw", "map", pairs_folder / CAMERAS[1] / "raw", out,
        "--model", model, "--like", like, "--direction", "b_to_a", "--quiet",
    ]  # fmt: skip
    assert main([str(p) for p in argv]) == 0
    assert len(list(out.glob("*.dng"))) == len(list((pairs_folder / CAMERAS[1] / "raw").glob("*")))


def test_errors_are_one_line_and_write_nothing(pairs_folder, model, tmp_path, capsys):
    like = next((pairs_folder / CAMERAS[1] / "raw").glob("*.dng"))
    source = next((pairs_folder / CAMERAS[0] / "raw").glob("*.dng"))
    base = ["raw2raw", "map", "--model", model, "--like", like]
    assert "no such file" in _fails(capsys, [*base, tmp_path / "none.dng", tmp_path / "o.dng"])
    assert "overwrite an input" in _fails(capsys, [*base, source, source, "--overwrite"])
    assert ".dng" in _fails(capsys, [*base, source, tmp_path / "o.png"])
    assert "downsample" in _fails(capsys, [*base, source, tmp_path / "o.dng", "--downsample", "4"])
    assert not (tmp_path / "o.dng").exists()
    train = ["raw2raw", "train", "--method", "identity", "--out", tmp_path / "m"]
    assert "budget" in _fails(capsys, [*train, "--data", pairs_folder])
    assert "manifest" in _fails(capsys, [*train, "--data", tmp_path, "--steps", "1"])
    assert "no_such" in _fails(
        capsys, ["raw2raw", "train", "--method", "no_such", "--data", pairs_folder,
                 "--out", tmp_path / "m", "--steps", "1"]
    )  # fmt: skip
