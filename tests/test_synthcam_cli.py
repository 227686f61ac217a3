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
