"""A pipeline checks its input's layout against its first stage before running: an RGB
or packed RAW image given to a mosaic pipeline is refused up front, naming both layouts
(issue 19, item 11); batches of mosaics still run."""

import numpy as np
import pytest

from ispengine import InputError, Pipeline
from ispengine.cli import main
from ispengine.specs import resolve_spec

METADATA = {
    "black_level": 0.0,
    "white_level": 1.0,
    "cfa_pattern": "rggb",
    "wb_gains": [2.0, 1.0, 1.5],
    "camera_to_srgb": np.eye(3),
}


@pytest.fixture(scope="module")
def camera():
    return Pipeline.from_toml(resolve_spec("camera_default"))


def test_rgb_image_to_a_mosaic_pipeline_names_the_mismatch(camera):
    rgb = np.full((128, 192, 3), 0.5, np.float32)
    with pytest.raises(InputError) as caught:
        camera(rgb, metadata=METADATA)
    assert str(caught.value) == (
        "camera-default expects a RAW mosaic (H, W) or a batch of them (N, H, W), "
        "got an RGB image (H, W, 3) of shape (128, 192, 3)"
    )


def test_packed_raw_is_not_a_batch_of_mosaics(camera):
    packed = np.full((64, 64, 4), 0.5, np.float32)
    with pytest.raises(
        InputError, match=r"got a packed RAW image \(H, W, 4\) of shape \(64, 64, 4\)"
    ):
        camera(packed, metadata=METADATA)
    with pytest.raises(InputError, match="packed RAW image"):  # metadata or not
        camera(packed)


def test_the_check_is_public_and_runs_before_any_stage(camera):
    camera.check_input_layout(np.zeros((4, 6), np.float32))
    camera.check_input_layout(np.zeros((3, 4, 6), np.float32))
    with pytest.raises(InputError, match="RGB image"):
        camera.check_input_layout(np.zeros((1, 4, 6, 3), np.float32))


def test_batches_of_mosaics_still_run(camera):
    batch = np.random.default_rng(0).uniform(0.1, 0.9, (2, 8, 10)).astype(np.float32)
    out = camera(batch, metadata=METADATA)
    assert out.shape == (2, 8, 10, 3)
    np.testing.assert_allclose(out[1], camera(batch[1], metadata=METADATA), rtol=1e-6)


def test_rgb_pipelines_keep_the_stage_message():
    pipeline = Pipeline.from_dict({"stage": [{"type": "gain"}, {"type": "gamma_tone"}]})
    with pytest.raises(InputError, match=r"expected a rgb image of shape \(\.\.\., H, W, 3\)"):
        pipeline(np.ones((4, 4)))


@pytest.mark.parametrize(
    ("shape", "expected"),
    [((128, 192, 3), "an RGB image (H, W, 3)"), ((64, 64, 4), "a packed RAW image (H, W, 4)")],
)
def test_cli_refuses_in_one_line(tmp_path, capsys, shape, expected):
    source, target = tmp_path / "in.npy", tmp_path / "out.npy"
    np.save(source, np.full(shape, 0.5, np.float32))
    code = main(["run", "camera_default", str(source), str(target)])
    err = capsys.readouterr().err
    assert code == 2, err
    # ispengine.io.convert warns about defaulted camera values (no --like) before the
    # pipeline runs; the failure itself is one line.
    lines = [line for line in err.strip().splitlines() if not line.startswith("ispengine: warn")]
    assert len(lines) == 1 and lines[0].startswith("ispengine: error: "), err
    assert "Traceback" not in err
    assert "camera-default expects a RAW mosaic (H, W)" in lines[0]
    assert f"got {expected} of shape {shape}" in lines[0]
    assert not target.exists()
