"""Output types written by the fused passes equal quantising the float output."""

import numpy as np
import pytest

from ispengine import InputError, Pipeline
from ispengine.io.image_files import read_image, write_image
from ispengine.kernels.output import quantise
from ispengine.specs import resolve_spec
from tests.test_camera_pipeline import smooth_raw

OUT_TYPES = [np.uint8, np.uint16, np.float16, np.float32]
CHAIN = {
    "stage": [
        {"type": "gain", "params": {"p_h": [0.3, 0.7, 0.9]}},
        {"type": "gamma_tone"},
    ]
}


def _same(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape
    if want.dtype == np.float16:  # bit for bit, -0.0 and subnormals included
        np.testing.assert_array_equal(got.view(np.uint16), want.view(np.uint16))
    else:
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("out", OUT_TYPES)
@pytest.mark.parametrize("work", [np.float32, np.float64])
def test_rgb_chain_writes_the_quantised_float_output(out, work):
    pipeline = Pipeline.from_dict(CHAIN)
    assert pipeline._fused_groups()[0][1] is not None
    x = np.random.default_rng(1).uniform(-0.2, 1.1, (9, 7, 3)).astype(work)
    x[0, 0] = [0.0, -0.0, 1e-7]  # zeros and float16 subnormals
    floats = pipeline(x)
    want, want_clipped = quantise(floats, out)
    got, clipped = pipeline.render(x, out)
    _same(got, want)
    assert clipped == want_clipped and (out not in (np.uint8, np.uint16) or clipped > 0)
    # unfused: quantised afterwards, the same values
    unfused, unfused_clipped = pipeline.render(x, out, fuse=False)
    want, want_clipped = quantise(pipeline(x, fuse=False), out)
    _same(unfused, want)
    assert unfused_clipped == want_clipped


@pytest.mark.parametrize("out", OUT_TYPES)
def test_camera_front_end_writes_the_quantised_float_output(out):
    raw = smooth_raw("grbg")
    raw = raw.evolve(mosaic=np.minimum(raw.mosaic.astype(np.int64) * 2, 16383).astype(np.uint16))
    pipeline = Pipeline.from_toml(resolve_spec("camera_default"))
    floats = pipeline(raw)
    want, want_clipped = quantise(floats, out)
    got, clipped = pipeline.render(raw, out)
    _same(got, want)
    assert clipped == want_clipped
    assert out not in (np.uint8, np.uint16) or clipped > 0


def test_camera_default_is_one_fused_pass_with_the_highlight_clip():
    raw = smooth_raw("rggb", seed=4)
    raw = raw.evolve(mosaic=np.minimum(raw.mosaic.astype(np.int64) * 3, 16383).astype(np.uint16))
    bound = Pipeline.from_toml(resolve_spec("camera_default")).bind(raw.metadata())
    groups = bound._fused_groups()
    assert len(groups) == 1 and groups[0][1].size == len(bound.steps)
    np.testing.assert_allclose(bound(raw), bound(raw, fuse=False), atol=2e-6)


@pytest.mark.parametrize("mode", ["clip", "none", "blend"])
def test_highlight_modes_fuse_except_blend(mode):
    spec = {
        "input": "raw_mosaic",
        "output": "camera_rgb",
        "stage": [
            {"type": "black_level", "params": {"black": 0.0, "white": 1.0}},
            {"type": "mosaic_white_balance", "params": {"gains": [2.0, 1.0, 1.5]}},
            {"type": "highlights", "params": {"gains": [2.0, 1.0, 1.5], "mode": mode}},
            {"type": "mosaic_white_balance", "params": {"gains": [0.5, 1.2, 0.8]}},
            {"type": "demosaic_bilinear"},
        ],
    }
    pipeline = Pipeline.from_dict(spec)
    fused = [group.size for _, group in pipeline._fused_groups() if group is not None]
    assert fused == ([5] if mode != "blend" else [2, 2])
    x = np.random.default_rng(2).uniform(0, 1, (8, 10))
    np.testing.assert_allclose(pipeline(x), pipeline(x, fuse=False), rtol=1e-12, atol=1e-12)


def test_nan_cannot_be_quantised():
    pipeline = Pipeline.from_dict(CHAIN)
    x = np.full((4, 4, 3), 0.5)
    x[1, 1, 1] = np.nan
    for fuse in (True, False):
        with pytest.raises(InputError, match="NaN or Inf"):
            pipeline.render(x, np.uint16, fuse=fuse, check=False)


def test_write_image_takes_quantised_integers(tmp_path):
    image = np.random.default_rng(3).uniform(-0.1, 1.1, (6, 8, 3))
    quantised, clipped = quantise(image, np.uint16)
    assert write_image(tmp_path / "a.png", image) == clipped
    assert write_image(tmp_path / "b.png", quantised, clipped=clipped) == clipped
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    small, _ = quantise(image, np.uint8)
    write_image(tmp_path / "c.tif", small)
    np.testing.assert_array_equal(np.round(read_image(tmp_path / "c.tif") * 255), small)
    with pytest.raises(InputError, match="cannot be written as 8-bit"):
        write_image(tmp_path / "d.jpg", quantised)


def test_unknown_output_type_is_refused():
    with pytest.raises(InputError, match="unsupported output type"):
        Pipeline.from_dict(CHAIN)(np.zeros((2, 2, 3)), out_dtype=np.int32)
