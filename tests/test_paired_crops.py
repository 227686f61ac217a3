"""Training pairs and crop batches carry each crop's capture parameters and colour data."""

import numpy as np
import pytest

from ispengine.core.errors import InputError
from ispengine.io.raw import CameraColour, CaptureParams
from ispengine.io.raw.image import METADATA_KEYS
from ispengine.io.raw.levels import normalize
from ispengine.learning.datasets import SynthCamDataset
from ispengine.learning.paired_crops import PairedCrops, PairedImage
from ispengine.synthcam import generate_dataset

BATCH, CROP = 24, 8


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthcam")
    generate_dataset(root, 6, (32, 48), 5, progress=False)
    return SynthCamDataset(root)


def _offsets(image: np.ndarray, crop: np.ndarray) -> list[tuple[int, int]]:
    """The even offsets at which ``crop`` lies in ``image``."""
    side = crop.shape[0]
    return [
        (top, left)
        for top in range(0, image.shape[0] - side + 1, 2)
        for left in range(0, image.shape[1] - side + 1, 2)
        if np.array_equal(image[top : top + side, left : left + side], crop)
    ]


def test_batches_carry_each_crops_capture_and_colour_data(dataset):
    samples = {sample.id: sample for sample in dataset}
    rng = np.random.default_rng(4)
    shuffled = [samples[i] for i in rng.permutation(sorted(samples))]
    batch = PairedCrops.from_dataset(shuffled).draw(rng, BATCH, CROP)

    assert len(set(batch.ids)) >= 3  # crops from several images, in drawn order
    assert len({samples[i].raw.capture.iso for i in batch.ids}) >= 2  # the values differ
    assert batch.capture.iso.shape == batch.capture.f_number.shape == (BATCH,)
    assert batch.colour.wb_gains.shape == (BATCH, 3)
    assert batch.colour.camera_to_srgb.shape == batch.colour.xyz_to_camera.shape == (BATCH, 3, 3)
    assert batch.capture.iso.dtype == batch.colour.wb_gains.dtype == np.float32
    assert len(batch.capture.make) == len(batch.capture.model) == BATCH
    for index, sample_id in enumerate(batch.ids):
        raw = samples[sample_id].raw
        assert _offsets(normalize(raw).astype(np.float32), batch.mosaic[index])  # its image
        for name in CaptureParams.OPTICAL:
            expected = np.float32(getattr(raw.capture, name))
            assert getattr(batch.capture, name)[index] == expected, name
        assert batch.capture.make[index] == raw.capture.make == "SynthCam"
        assert batch.capture.model[index] == raw.capture.model is not None
        assert batch.colour.cfa_patterns[index] == batch.patterns[index] == raw.cfa_pattern
        np.testing.assert_allclose(batch.colour.wb_gains[index], raw.wb_gains, rtol=1e-6)
        np.testing.assert_allclose(
            batch.colour.camera_to_srgb[index], raw.camera_to_srgb, rtol=1e-5, atol=1e-6
        )
        np.testing.assert_allclose(
            batch.colour.xyz_to_camera[index], raw.xyz_to_camera, rtol=1e-5, atol=1e-6
        )


def test_samples_metadata_names_make_and_model(dataset):
    raw = dataset[0].raw
    metadata = raw.metadata()
    assert {"make", "model"} <= set(metadata) <= set(METADATA_KEYS)
    assert metadata["make"] == "SynthCam" and metadata["model"] == raw.capture.model
    colour = raw.colour
    assert colour.cfa_pattern == raw.cfa_pattern
    assert np.array_equal(colour.camera_to_srgb, raw.camera_to_srgb)


def test_unknown_values_are_nan_and_none():
    image = PairedImage("a", np.zeros((4, 4), np.float32), np.zeros((4, 4, 3), np.float32), "bggr")
    assert image.colour.cfa_pattern == image.pattern == "bggr"
    assert image.capture == CaptureParams()
    batch = PairedCrops([image]).draw(np.random.default_rng(0), 2, 2)
    assert np.all(np.isnan(batch.capture.iso)) and batch.capture.make == (None, None)
    assert np.all(np.isnan(batch.colour.xyz_to_camera))
    assert np.array_equal(batch.colour.camera_to_srgb, np.stack([np.eye(3)] * 2))
    assert np.array_equal(batch.colour.wb_gains, np.ones((2, 3)))


def test_colour_data_is_validated():
    with pytest.raises(InputError, match="wb_gains: must be positive"):
        CameraColour("rggb", [1.0, 0.0, 1.0])
    with pytest.raises(InputError, match="not a Bayer pattern"):
        CameraColour("rgbg")
