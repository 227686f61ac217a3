"""``ispengine train`` / ``unprocess --method paramisp``: the happy path and every bad input."""

import json

import numpy as np
import pytest

pytest.importorskip("torch")

from ispengine.cli import main  # noqa: E402
from ispengine.io.image_files import write_image  # noqa: E402
from ispengine.io.raw.dng import write_dng  # noqa: E402
from ispengine.io.raw.reader import read_raw  # noqa: E402
from ispengine.learning.datasets import open_dataset  # noqa: E402
from ispengine.synthcam.generate import generate_dataset  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")
SETTINGS = ["--set", "config=small", "--set", "crop=32", "--set", "batch_size=2"]
SETTINGS += ["--set", "device=cpu"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A SynthCam folder, a model trained on it by the CLI, a target RAW and a photo."""
    root = tmp_path_factory.mktemp("paramisp-cli")
    data = root / "data"
    generate_dataset(data, 4, (64, 96), 0, ["nikon_5100", "sigma_sdmerrill"], progress=False)
    saved = root / "paramisp"
    argv = ["train", "--method", "paramisp", "--data", data, "--out", saved, *SETTINGS]
    assert main([str(a) for a in [*argv, "--steps", "2", "--quiet"]]) == 0
    like = root / "like.dng"
    write_dng(like, open_dataset(data)[0].raw)
    photo = root / "photo.png"  # no EXIF
    write_image(photo, np.random.default_rng(0).uniform(0.05, 0.95, size=(32, 48, 3)))
    return root, data, saved.with_suffix(".json"), like, photo


def _fails(capsys, argv):
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ispengine: error: "), err
    assert "Traceback" not in err
    return lines[0]


def test_train_saves_a_paramisp_model(trained, capsys):
    root, data, saved, like, photo = trained
    document = json.loads(saved.read_text())
    assert document["method"] == "paramisp" and document["settings"]["directions"] == "inverse"
    assert saved.with_suffix(".safetensors").is_file()


def test_unprocess_a_photo_without_exif_for_a_target_raw(trained, tmp_path, capsys):
    root, data, saved, like, photo = trained
    out = tmp_path / "out.dng"
    argv = ["unprocess", "--method", "paramisp", "--weights", saved, "--like", like, photo, out]
    assert main([str(a) for a in argv]) == 0, capsys.readouterr().err
    raw = read_raw(out)
    target = read_raw(like)
    assert raw.shape == (32, 48) and raw.cfa_pattern == target.cfa_pattern
    np.testing.assert_allclose(raw.wb_gains, target.wb_gains, rtol=1e-4)
    drawn = json.loads(out.with_suffix(".json").read_text())
    assert drawn["method"] == "paramisp"


def test_unprocess_without_a_target_camera_names_the_missing_key(trained, tmp_path, capsys):
    root, data, saved, like, photo = trained
    line = _fails(
        capsys, ["unprocess", "--method", "paramisp", "--weights", saved, photo, tmp_path / "o.dng"]
    )
    assert "no 'wb_gains'" in line and "--like" in line


def test_unprocess_refuses_an_odd_sized_image(trained, tmp_path, capsys):
    root, data, saved, like, photo = trained
    odd = tmp_path / "odd.png"
    write_image(odd, np.full((33, 47, 3), 0.5))
    argv = ["unprocess", "--method", "paramisp", "--weights", saved, "--like", like]
    line = _fails(capsys, [*argv, odd, tmp_path / "o.dng"])
    assert "even" in line


def test_unprocess_refuses_weights_of_another_method(trained, tmp_path, capsys):
    root, data, saved, like, photo = trained
    from plugins_builtin.cycleisp.method import CycleISP

    cycle = CycleISP(config="small").save(tmp_path / "cycle")
    argv = ["unprocess", "--method", "paramisp", "--weights", cycle, "--like", like]
    line = _fails(capsys, [*argv, photo, tmp_path / "o.dng"])
    assert "holds method 'cycleisp', not 'paramisp'" in line


def test_unprocess_refuses_a_non_bayer_target_raw(trained, tmp_path, capsys):
    tifffile = pytest.importorskip("tifffile")
    root, data, saved, like, photo = trained
    linear = tmp_path / "linear.dng"  # a three-channel LinearRaw DNG (no mosaic)
    tags = [
        (50706, "B", 4, (1, 4, 0, 0), True),
        (50717, "I", 1, 65535, True),
        (50721, "2i", 9, [1, 1, 0, 1, 0, 1, 0, 1, 1, 1, 0, 1, 0, 1, 0, 1, 1, 1], True),
    ]
    pixels = np.full((32, 32, 3), 30000, dtype=np.uint16)
    tifffile.imwrite(linear, pixels, photometric=34892, subfiletype=0, extratags=tags)
    argv = ["unprocess", "--method", "paramisp", "--weights", saved, "--like", linear]
    line = _fails(capsys, [*argv, photo, tmp_path / "o.dng"])
    assert "only Bayer RAW files" in line


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("fine_tune_camera=canon_r5", "matches no training sample"),
        ("optical=iso,aperture", "unknown parameter 'aperture'"),
        ("joint_steps=3", "needs directions = 'both'"),
        ("crop=128", "smaller than the 128x128 training crop"),
    ],
)
def test_train_reports_bad_settings_on_one_line(trained, tmp_path, capsys, setting, expected):
    root, data, saved, like, photo = trained
    argv = ["train", "--method", "paramisp", "--data", data, "--out", tmp_path / "m"]
    line = _fails(capsys, [*argv, *SETTINGS, "--set", setting, "--steps", "1", "--quiet"])
    assert expected in line


def test_hdr_and_transfer_run_on_trained_paramisp_models(trained, tmp_path, capsys):
    from PIL import Image

    root, data, saved, like, photo = trained
    both = tmp_path / "both"
    argv = ["train", "--method", "paramisp", "--data", data, "--out", both, *SETTINGS]
    argv += ["--set", "directions=both", "--steps", "2", "--quiet"]
    assert main([str(a) for a in argv]) == 0, capsys.readouterr().err
    model = both.with_suffix(".json")
    srgb = data / "srgb" / sorted(p.name for p in (data / "srgb").iterdir())[0]
    hdr = tmp_path / "hdr.png"
    argv = ["paramisp", "hdr", srgb, hdr, "--inverse", model, "--forward", model, "--like", like]
    assert main([str(a) for a in argv]) == 0, capsys.readouterr().err
    other = tmp_path / "other.dng"
    write_dng(other, open_dataset(data)[1].raw)  # the second camera
    moved = tmp_path / "moved.png"
    argv = ["paramisp", "transfer", srgb, moved, "--inverse", model, "--forward", model]
    argv += ["--like-a", like, "--like-b", other]
    assert main([str(a) for a in argv]) == 0, capsys.readouterr().err
    with Image.open(srgb) as source, Image.open(hdr) as a, Image.open(moved) as b:
        assert a.size == b.size == source.size
    # The inverse-only model has no forward network: one line, exit 2.
    line = _fails(
        capsys,
        [
            "paramisp",
            "hdr",
            srgb,
            tmp_path / "x.png",
            "--inverse",
            saved,
            "--forward",
            saved,
            "--like",
            like,
        ],
    )
    assert "forward" in line
