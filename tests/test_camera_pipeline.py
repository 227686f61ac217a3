"""The canonical camera pipeline (camera_default.toml): metadata in TOML, fusion, CLI."""

import attrs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ispengine import Pipeline
from ispengine.cli import main
from ispengine.core.errors import ParamError, SpecError
from ispengine.io.raw import CaptureParams, RawImage
from ispengine.io.raw.dng import write_dng
from ispengine.io.raw.reader import read_raw
from ispengine.specs import resolve_spec

COLOR_MATRIX = np.array([[0.71, -0.12, -0.05], [-0.41, 1.22, 0.21], [-0.06, 0.16, 0.62]])
CAPTURE = CaptureParams(
    iso=400, exposure_time=0.01, f_number=4, focal_length=24, make="A", model="B"
)


def smooth_raw(pattern="rggb", shape=(32, 40), seed=0):
    """A RAW mosaic of a smooth scene that stays inside the sRGB gamut."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    phase = rng.uniform(0, 6, 3)
    srgb_linear = 0.3 + 0.15 * np.sin(xx[..., None] / 7 + yy[..., None] / 11 + phase)
    raw = RawImage(
        np.zeros(shape, np.uint16),
        pattern,
        512,
        16383,
        [1.9, 1.0, 1.5],
        xyz_to_camera=COLOR_MATRIX,
        capture=CAPTURE,
    )
    camera = srgb_linear @ np.linalg.inv(raw.camera_to_srgb).T / raw.wb_gains
    from ispengine.core.cfa import CFA_CHANNELS, CFA_COLOUR, cfa_positions

    mosaic = np.zeros(shape)
    for channel, colour in zip(CFA_CHANNELS, CFA_COLOUR, strict=True):
        r, c = cfa_positions(pattern)[channel]
        mosaic[r::2, c::2] = camera[r::2, c::2, colour]
    return raw.evolve(mosaic=np.round(mosaic * (16383 - 512) + 512).astype(np.uint16))


@pytest.fixture(scope="module")
def camera_pipeline():
    return Pipeline.from_toml(resolve_spec("camera_default.toml"))


@pytest.mark.parametrize("pattern", ["rggb", "bggr", "grbg", "gbrg"])
def test_fused_camera_chain_equals_stage_by_stage(camera_pipeline, pattern):
    raw = smooth_raw(pattern)
    bound = camera_pipeline.bind(raw.metadata())
    # two fused groups, black level + white balance and demosaic + matrix + OETF, around
    # the highlight clip (tests/test_highlights.py checks their sizes)
    assert bound._fused_groups()[0][1] is not None
    fused = bound(raw)
    reference = bound(raw, fuse=False)
    assert fused.dtype == np.float32
    np.testing.assert_allclose(fused, reference, atol=2e-6)


@settings(max_examples=20, deadline=None)
@given(
    pattern=st.sampled_from(["rggb", "bggr", "grbg", "gbrg"]),
    black=st.lists(st.floats(0, 3000), min_size=4, max_size=4),
    gains=st.lists(st.floats(0.05, 20), min_size=3, max_size=3),
    seed=st.integers(0, 1000),
)
def test_fused_front_end_over_parameter_ranges(pattern, black, gains, seed):
    """Black level + white balance + demosaic, fused, over the declared ranges (float64)."""
    spec = {
        "input": "raw_mosaic",
        "output": "camera_rgb",
        "stage": [
            {
                "type": "black_level",
                "params": {"black": black, "white": 16383},
                "from_metadata": {"pattern": "cfa_pattern"},
            },
            {
                "type": "mosaic_white_balance",
                "params": {"gains": gains},
                "from_metadata": {"pattern": "cfa_pattern"},
            },
            {"type": "demosaic_bilinear", "from_metadata": {"pattern": "cfa_pattern"}},
        ],
    }
    pipeline = Pipeline.from_dict(spec).bind({"cfa_pattern": pattern})
    x = np.random.default_rng(seed).uniform(0, 16383, (10, 12))
    np.testing.assert_allclose(pipeline(x), pipeline(x, fuse=False), rtol=1e-9, atol=1e-9)


def test_sensor_round_trip_engine_dng_libraw(tmp_path, camera_pipeline):
    raw = smooth_raw("gbrg")
    write_dng(tmp_path / "a.dng", raw)
    read = read_raw(tmp_path / "a.dng")
    srgb = camera_pipeline(read)
    mosaic = camera_pipeline.inverse()(srgb, metadata=read.metadata())
    np.testing.assert_allclose(mosaic, raw.mosaic, atol=0.05)


def test_metadata_errors(camera_pipeline):
    raw = smooth_raw()
    with pytest.raises(ParamError, match="from the input's metadata"):
        camera_pipeline(raw.mosaic.astype(np.float32))
    metadata = dict(raw.metadata())
    del metadata["wb_gains"]
    with pytest.raises(ParamError, match="wb_gains"):
        camera_pipeline(raw.mosaic.astype(np.float32), metadata=metadata)
    metadata = dict(raw.metadata(), wb_gains=[50.0, 1, 1])
    with pytest.raises(ParamError, match="white_balance"):
        camera_pipeline(raw.mosaic.astype(np.float32), metadata=metadata)


def test_spec_errors_name_the_key():
    base = {"input": "raw_mosaic", "output": "camera_rgb"}
    with pytest.raises(SpecError, match="unknown metadata key 'wb'"):
        Pipeline.from_dict(
            {**base, "stage": [{"type": "black_level", "from_metadata": {"black": "wb"}}]}
        )
    with pytest.raises(SpecError, match="no parameter or option 'gain'"):
        Pipeline.from_dict(
            {**base, "stage": [{"type": "black_level", "from_metadata": {"gain": "wb_gains"}}]}
        )
    with pytest.raises(SpecError, match="both as a constant"):
        Pipeline.from_dict(
            {
                **base,
                "stage": [
                    {
                        "type": "black_level",
                        "params": {"white": 100},
                        "from_metadata": {"white": "white_level"},
                    }
                ],
            }
        )


def test_cli_run_and_invert_keep_metadata(tmp_path, capsys):
    raw = smooth_raw("bggr", shape=(24, 30))
    write_dng(tmp_path / "a.dng", raw)
    assert (
        main(["run", "camera_default.toml", str(tmp_path / "a.dng"), str(tmp_path / "a.png")]) == 0
    )
    from ispengine.io.image_files import read_capture

    taken = read_raw(tmp_path / "a.dng").capture.datetime  # the DNG's time of writing
    assert taken is not None
    assert read_capture(tmp_path / "a.png") == attrs.evolve(CAPTURE, datetime=taken)
    assert (
        main(
            [
                "invert",
                "camera_default",
                str(tmp_path / "a.png"),
                str(tmp_path / "b.dng"),
                "--like",
                str(tmp_path / "a.dng"),
            ]
        )
        == 0
    )
    back = read_raw(tmp_path / "b.dng")
    assert back.cfa_pattern == "bggr"
    assert back.capture == attrs.evolve(CAPTURE, datetime=taken)  # the source's capture time
    np.testing.assert_allclose(back.wb_gains, raw.wb_gains, rtol=1e-6)
    assert np.abs(back.mosaic.astype(int) - raw.mosaic).max() <= 3  # 16-bit PNG in between
    assert (
        main(["invert", "camera_default", str(tmp_path / "a.png"), str(tmp_path / "c.dng")]) == 0
    )  # default metadata: an sRGB-like sensor
    assert read_raw(tmp_path / "c.dng").cfa_pattern == "rggb"


def test_cli_bad_raw_is_one_line_and_writes_nothing(tmp_path, capsys):
    (tmp_path / "bad.dng").write_bytes(b"II*\0" + b"\0" * 100)
    code = main(["run", "camera_default", str(tmp_path / "bad.dng"), str(tmp_path / "o.png")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "bad.dng" in err
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize("executor", ["serial", "process"])
def test_cli_folder_batch_goes_on_past_bad_files(tmp_path, capsys, executor):
    source, target = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    target.mkdir()
    for index in range(2):
        write_dng(source / f"img{index}.dng", smooth_raw(shape=(24, 24), seed=index))
    (source / "broken.dng").write_bytes(b"not a raw file")
    code = main(
        [
            "run",
            "camera_default",
            str(source),
            str(target),
            "--executor",
            executor,
            "--workers",
            "2",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "1 of 3 files failed" in err
    assert sorted(p.name for p in target.iterdir()) == ["img0.png", "img1.png"]
