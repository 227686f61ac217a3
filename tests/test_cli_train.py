"""``ispengine train``: fit a method on a dataset folder, save it, and unprocess with it."""

import json

import numpy as np
import pytest

from ispengine.cli import main
from ispengine.io.image_files import read_image, write_image
from ispengine.learning.srgb_to_raw import SrgbToRawMethod
from ispengine.learning.weights import load_arrays
from ispengine.synthcam.generate import generate_dataset


@pytest.fixture(scope="module")
def synthcam(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthcam")
    generate_dataset(root, n=4, size=(64, 96), seed=0, progress=False)
    return root


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for index in range(2):
        image = np.random.default_rng(index).uniform(0.05, 0.95, size=(32, 48, 3))
        write_image(folder / f"p{index}.png", image)
    return folder


def _fails(capsys, argv, *, output=None):
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ispengine: error: "), err
    assert "Traceback" not in err
    if output is not None:
        assert not output.with_suffix(".json").exists()
    return lines[0]


def test_a_trained_cycleisp_is_saved_and_unprocess_uses_it(synthcam, photos, tmp_path, capsys):
    pytest.importorskip("torch")
    saved = tmp_path / "models" / "cycleisp"
    argv = ["train", "--method", "cycleisp", "--data", synthcam, "--out", saved]
    argv += ["--set", "config=small", "--set", "crop=32", "--set", "batch_size=2"]
    assert main([str(a) for a in [*argv, "--steps", "3", "--seed", "1", "--quiet"]]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("train (cycleisp): 3 steps, ") and "final loss" in line
    assert line.endswith(f"-> {saved.with_suffix('.json')}")
    document = json.loads(saved.with_suffix(".json").read_text())
    assert document["method"] == "cycleisp" and document["settings"]["crop"] == 32
    trained = load_arrays(saved.with_suffix(".safetensors"))
    from plugins_builtin.cycleisp.method import CycleISP

    untrained = CycleISP(config="small")
    untrained.networks(seed=1)  # the initialisation training started from
    fresh = untrained.state()
    assert sorted(trained) == sorted(fresh)
    assert any(not np.array_equal(trained[k], fresh[k].numpy()) for k in fresh)

    out = tmp_path / "raws"
    weights = ["--weights", saved.with_suffix(".json")]
    assert (
        main(
            ["unprocess", "--method", "cycleisp", *map(str, weights), "--quiet"]
            + [str(photos), str(out)]
        )
        == 0
    )
    assert sorted(p.name for p in out.iterdir()) == ["p0.dng", "p0.json", "p1.dng", "p1.json"]
    alone = tmp_path / "p0.npy"
    assert (
        main(
            ["unprocess", "--method", "cycleisp", *map(str, weights)]
            + [str(photos / "p0.png"), str(alone)]
        )
        == 0
    )
    method = SrgbToRawMethod.load(saved.with_suffix(".json"))
    expected = method.convert(read_image(photos / "p0.png"))
    assert np.array_equal(np.load(alone), np.asarray(expected.raw.mosaic))


def test_an_analytic_method_fits_nothing_and_is_saved(synthcam, photos, tmp_path, capsys):
    saved = tmp_path / "upi.json"
    argv = ["train", "--method", "upi", "--data", synthcam, "--out", saved, "--steps", "5"]
    assert main([str(a) for a in [*argv, "--set", "mode=exact"]]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("train (upi): 0 steps, ") and "analytic" in line
    assert line.endswith(f"-> {saved}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos", "upi.json"]
    out = tmp_path / "raws"
    assert (
        main(
            ["unprocess", "--method", "upi", "--weights", str(saved), "--quiet"]
            + [str(photos), str(out)]
        )
        == 0
    )
    assert json.loads((out / "p0.json").read_text())["mode"] == "exact"


def test_train_errors_are_one_line(synthcam, tmp_path, capsys):
    out = tmp_path / "m"
    base = ["train", "--data", synthcam, "--out", out]
    line = _fails(capsys, [*base, "--method", "upi"], output=out)
    assert "--steps" in line and "--seconds" in line
    line = _fails(capsys, [*base, "--method", "upx", "--steps", "1"], output=out)
    assert "unknown sRGB-to-RAW method 'upx'" in line and "did you mean 'upi'" in line
    line = _fails(capsys, [*base, "--method", "upi", "--steps", "1", "--set", "mode=fast"])
    assert "mode: expected one of faithful, exact, got 'fast'" in line
    missing = ["train", "--method", "upi", "--data", tmp_path / "none", "--out", out]
    assert "no such dataset folder" in _fails(capsys, [*missing, "--steps", "1"], output=out)
    line = _fails(capsys, [*base, "--method", "upi", "--seconds", "0"], output=out)
    assert "seconds must be > 0" in line
    line = _fails(capsys, [*base, "--method", "upi", "--steps", "1", "--resume"], output=out)
    assert "--checkpoint" in line
