"""``ispengine synthcam generate``: deterministic on every executor; read back as a dataset."""

import numpy as np
import pytest

from ispengine.cli import main
from ispengine.learning.datasets import SynthCamDataset, open_dataset


def _files(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def serial_dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("serial")
    args = [
        "synthcam",
        "generate",
        "--out",
        str(out),
        "--n",
        "4",
        "--size",
        "32x48",
        "--seed",
        "7",
        "--executor",
        "serial",
        "--quiet",
    ]
    assert main(args) == 0
    return out


def test_dask_two_workers_give_byte_identical_files(serial_dataset, tmp_path):
    args = [
        "synthcam",
        "generate",
        "--out",
        str(tmp_path),
        "--n",
        "4",
        "--size",
        "32x48",
        "--seed",
        "7",
        "--executor",
        "dask",
        "--workers",
        "2",
        "--quiet",
    ]
    assert main(args) == 0
    assert _files(tmp_path) == _files(serial_dataset)


def test_generated_folder_is_a_dataset(serial_dataset):
    dataset = open_dataset(serial_dataset)
    assert isinstance(dataset, SynthCamDataset)
    assert len(dataset) == 4
    sample = dataset[0]
    assert sample.raw.shape == (32, 48)
    assert sample.srgb.shape == (32, 48, 3)
    assert set(sample.ground_truth) == {"camera_rgb", "linear_srgb"}
    assert sample.capture.iso is not None and sample.capture.make
    assert sample.info["camera"] in dataset.manifest["cameras"]
    splits = [dataset.split(name).ids for name in ("train", "val", "test")]
    assert all(splits) and sorted(sum(splits, [])) == dataset.ids


def test_bad_arguments_are_one_line_errors(tmp_path, capsys):
    assert main(["synthcam", "generate", "--out", str(tmp_path), "--n", "0", "--quiet"]) == 2
    assert (
        main(
            [
                "synthcam",
                "generate",
                "--out",
                str(tmp_path),
                "--n",
                "1",
                "--camera",
                "nokia",
                "--quiet",
                "--executor",
                "serial",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.count("ispengine: error:") == 2
    assert "nokia" in err
    assert not (tmp_path / "manifest.json").exists()


def test_develops_with_the_canonical_pipeline(serial_dataset):
    from ispengine import Pipeline
    from ispengine.specs import resolve_spec

    sample = open_dataset(serial_dataset)[1]
    srgb = Pipeline.from_toml(resolve_spec("camera_default"))(sample.raw)
    assert srgb.shape == sample.srgb.shape
    assert np.isfinite(srgb).all()


def _generate(out, n, *options):
    argv = ["synthcam", "generate", "--out", str(out), "--n", str(n), "--size", "32x48"]
    return main([*argv, "--executor", "serial", "--quiet", *options])


def test_a_folder_holding_a_dataset_is_refused_without_overwrite(serial_dataset, capsys):
    before = _files(serial_dataset)
    assert _generate(serial_dataset, 2, "--seed", "7") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1 and "already holds a SynthCam dataset" in err[0] and "--overwrite" in err[0]
    )
    assert _files(serial_dataset) == before


def test_overwrite_replaces_the_dataset_whole(tmp_path, capsys):
    out = tmp_path / "data"
    assert _generate(out, 3) == 0
    (out / "notes.txt").write_text("mine")
    assert _generate(out, 1, "--overwrite") == 0
    assert sorted(p.name for p in (out / "raw").iterdir()) == ["000000.dng"]
    assert len(open_dataset(out)) == 1
    assert (out / "notes.txt").read_text() == "mine"  # not the dataset's: left alone
    assert sorted(p.name for p in out.iterdir()) == [
        "gt",
        "manifest.json",
        "notes.txt",
        "raw",
        "srgb",
    ]


def test_an_interrupted_run_leaves_the_folder_as_it_was(tmp_path, monkeypatch):
    from ispengine.synthcam import generate

    out = tmp_path / "data"
    real = generate.generate_one
    calls = []

    def interrupted(item):
        if calls:
            raise KeyboardInterrupt
        calls.append(item)
        return real(item)

    monkeypatch.setattr(generate, "generate_one", interrupted)
    monkeypatch.setattr(generate.map_samples, "__defaults__", (interrupted,))
    with pytest.raises(KeyboardInterrupt):
        generate.generate_dataset(out, 3, (32, 48), 0, progress=False)
    assert calls  # one sample was written before the interruption
    assert list(out.iterdir()) == []
