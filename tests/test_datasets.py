"""The dataset interface on a folder of real RAW files (camera JPEG or LibRaw rendering)."""

import json

import numpy as np
import pytest

from ispengine.core.errors import InputError
from ispengine.io.image_files import write_image
from ispengine.io.raw import CaptureParams, RawImage
from ispengine.io.raw.dng import write_dng
from ispengine.learning.datasets import RawFolderDataset, open_dataset


def _raw(seed):
    rng = np.random.default_rng(seed)
    mosaic = rng.integers(1000, 9000, (24, 32)).astype(np.uint16)
    return RawImage(mosaic, "rggb", 512, 16383, [2, 1, 1.5], capture=CaptureParams(iso=100 * seed))


@pytest.fixture
def raw_folder(tmp_path):
    for index in range(1, 6):
        write_dng(tmp_path / f"IMG_{index}.dng", _raw(index))
    write_image(tmp_path / "IMG_1.JPG", np.full((24, 32, 3), 0.5))  # the camera's own JPEG
    (tmp_path / "notes.txt").write_text("not a raw file")
    return tmp_path


def test_pairs_by_stem_or_renders_with_libraw(raw_folder):
    dataset = open_dataset(raw_folder)
    assert isinstance(dataset, RawFolderDataset)
    assert dataset.ids == [f"IMG_{i}" for i in range(1, 6)]
    first = dataset[0]
    assert first.info["paired_with"] == "camera"
    np.testing.assert_allclose(first.srgb, 0.5, atol=0.01)
    second = dataset[1]
    assert second.info["paired_with"] == "libraw"
    assert second.srgb.shape == (24, 32, 3) and 0 <= second.srgb.min() <= second.srgb.max() <= 1
    assert second.capture.iso == 200
    assert second.raw.shape == (24, 32)


def test_splits_are_fixed_and_cover_every_file(raw_folder):
    dataset = open_dataset(raw_folder)
    parts = {name: dataset.split(name).ids for name in ("train", "val", "test")}
    assert sorted(sum(parts.values(), [])) == dataset.ids
    assert parts == {name: open_dataset(raw_folder).split(name).ids for name in parts}


def test_splits_file_overrides_and_is_checked(raw_folder):
    stems = [f"IMG_{i}" for i in range(1, 6)]
    (raw_folder / "splits.json").write_text(
        json.dumps({"train": stems[:3], "val": stems[3:4], "test": stems[4:]})
    )
    assert open_dataset(raw_folder).split("test").ids == ["IMG_5"]
    (raw_folder / "splits.json").write_text(json.dumps({"train": stems[:3]}))
    with pytest.raises(InputError, match="no split for 'IMG_4'"):
        open_dataset(raw_folder)


def test_empty_or_missing_folders_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match="no RAW files"):
        open_dataset(tmp_path)
    with pytest.raises(InputError, match="no such folder"):
        open_dataset(tmp_path / "nowhere")
    with pytest.raises(InputError, match="unknown split"):
        write_dng(tmp_path / "a.dng", _raw(1))
        open_dataset(tmp_path).split("training")
