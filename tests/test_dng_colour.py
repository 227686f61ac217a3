"""DNGs of every sRGB-to-RAW method develop, in LibRaw, with the colours they were made with.

LibRaw (rawpy) develops each DNG with the camera's white balance and matrix
(``use_camera_wb``, linear 16-bit sRGB output, bilinear demosaic, no auto
brightness). For every registered method the result must match the engine's own
development of the method's :class:`RawImage` (white balance → bilinear
demosaic → ``camera_to_srgb``, the linear part of ``camera_default``); for the
analytic methods (UPI in both modes, and the ``invert --like`` path of a function
ISP) it must also match the *source* sRGB within the method's own round-trip
error, after the tone steps the method's own forward adds (a DNG carries no
tone curve). The capture time travels in ``DateTime`` / ``DateTimeOriginal``.
"""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pytest
import rawpy
import tifffile

from ispengine.core.colour import srgb_encode
from ispengine.core.errors import InputError
from ispengine.core.pipeline import Pipeline
from ispengine.core.plugins import get_registry
from ispengine.io.raw import CaptureParams, RawImage, camera_to_srgb_from_xyz
from ispengine.io.raw.dng import write_dng
from ispengine.io.raw.levels import normalize
from ispengine.io.raw.reader import read_raw
from ispengine.learning.srgb_to_raw import method_class

COLOR_MATRIX = np.array([[0.71, -0.12, -0.05], [-0.41, 1.22, 0.21], [-0.06, 0.16, 0.62]])
# A target camera as `--like RAW` gives it (read_raw(...).metadata()).
LIKE = {
    "cfa_pattern": "rggb",
    "black_level": [512.0] * 4,
    "white_level": 16383.0,
    "wb_gains": [2.05, 1.0, 1.55],
    "xyz_to_camera": COLOR_MATRIX,
    "camera_to_srgb": camera_to_srgb_from_xyz(COLOR_MATRIX),
}
# The white balance and matrix SemiISP's drawn colour correction holds (another camera).
SEMI_WB = np.array([1.8, 1.0, 1.4])
SEMI_MATRIX = camera_to_srgb_from_xyz(
    np.array([[1.0234, -0.2969, -0.2266], [-0.5625, 1.6328, -0.0469], [-0.0703, 0.2188, 0.6406]])
)
# `unprocess` without --like: a 16-bit sensor with levels 0 and 65535.
PLAIN = {"cfa_pattern": "rggb", "black_level": 0.0, "white_level": 65535.0}
MARGIN = 4  # pixels left out at the borders, where demosaicers differ


def _source(shape=(64, 96)) -> np.ndarray:
    """A smooth sRGB image in [0.05, 0.85]: colour gradients and soft blobs."""
    height, width = shape
    y, x = np.mgrid[0:height, 0:width] / np.array([height, width])[:, None, None]
    image = np.stack(
        [
            0.45 + 0.35 * np.sin(2.1 * x + 0.3) * np.cos(1.3 * y),
            0.40 + 0.30 * np.cos(1.7 * x - 1.1 * y),
            0.45 + 0.35 * np.sin(1.2 * y + 0.8 * x + 1.0),
        ],
        axis=-1,
    )
    return np.clip(image, 0.05, 0.85)


SOURCE = _source()


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    a = np.asarray(a, float)[MARGIN:-MARGIN, MARGIN:-MARGIN]
    b = np.asarray(b, float)[MARGIN:-MARGIN, MARGIN:-MARGIN]
    return float(10 * np.log10(1.0 / max(np.mean((a - b) ** 2), 1e-20)))


def _within_round_trip(dng_psnr: float, own_psnr: float) -> bool:
    """The DNG's error is the method's own (16-bit files floor a perfect one at ~80 dB)."""
    return dng_psnr > min(own_psnr, 60.0) - 0.5


def _encode(linear: np.ndarray) -> np.ndarray:
    return srgb_encode(np.clip(linear, 0.0, 1.0), np)


def _engine_linear(raw: RawImage) -> np.ndarray:
    """The engine's development of ``raw`` (camera_default's linear part: levels, white
    balance, demosaic, ``camera_to_srgb``), with a bilinear demosaic and highlights
    clipped after white balance, as LibRaw does."""
    from plugins_builtin.canonical_stages.demosaic import DemosaicBilinear
    from plugins_builtin.canonical_stages.white_balance import scale_mosaic

    mosaic = np.asarray(raw.mosaic, float) if raw.normalized else normalize(raw)
    balanced = np.clip(scale_mosaic(mosaic, raw.wb_gains, raw.cfa_pattern, np), 0.0, 1.0)
    rgb = DemosaicBilinear(pattern=raw.cfa_pattern)(balanced)
    return np.clip(rgb @ raw.camera_to_srgb.T, 0.0, 1.0)


def _libraw_linear(path) -> np.ndarray:
    """LibRaw's development: camera white balance and matrix, linear sRGB, 16 bits."""
    with rawpy.imread(str(path)) as raw:
        image = raw.postprocess(
            use_camera_wb=True,
            no_auto_bright=True,
            gamma=(1, 1),
            output_bps=16,
            output_color=rawpy.ColorSpace.sRGB,
            user_flip=0,
            demosaic_algorithm=rawpy.DemosaicAlgorithm.LINEAR,
            adjust_maximum_thr=0.0,  # keep the file's white level (LibRaw's default
        )  # takes the data maximum as white when it is above 0.75 of it)
    return image.astype(np.float64) / 65535.0


def _write(path, raw: RawImage) -> RawImage:
    """The RAW as ``unprocess`` writes it (values clipped to [0, 1])."""
    raw = raw.evolve(mosaic=np.clip(raw.mosaic, 0.0, 1.0))
    write_dng(path, raw)
    return raw


# -- every registered method: the DNG develops as the engine develops its RAW ----------
def _semiisp():
    """SemiISP with a one-set bank: the untrained predictor's values, and a colour
    correction holding a camera-like white balance and matrix."""
    method = method_class("semiisp")(resize=16, width=4, grid=2, bank_size=1)
    values = method.isp.predictor(SOURCE[None].astype(np.float32), mode="global")
    values["color_correction"]["matrix"] = (SEMI_MATRIX * SEMI_WB / 1.3)[None]
    method.bank.add(values)
    return method


BUILDERS = {
    "cycleisp": lambda: method_class("cycleisp")(config="small", device="cpu", threads=1),
    "invisp": lambda: method_class("invisp")(config="small", device="cpu", threads=1),
    "paramisp": lambda: method_class("paramisp")(config="small", device="cpu"),
    "semiisp": _semiisp,
    "ssdnet": lambda: method_class("ssdnet")(config="small", samples=0, device="cpu", threads=1),
    "upi": lambda: method_class("upi")(),
}
REGISTERED = get_registry().names("srgb_to_raw")
# Methods that cannot make a RAW without the target camera's white balance.
NEEDS_WHITE_BALANCE = ("invisp", "paramisp")


def test_every_registered_method_has_a_builder_here():
    assert set(REGISTERED) <= set(BUILDERS), "add a cheap builder for the new method"


@pytest.fixture(scope="module")
def torch_threads():
    torch = pytest.importorskip("torch")
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.mark.usefixtures("torch_threads")
@pytest.mark.parametrize("target", ["like", "plain"])
@pytest.mark.parametrize("name", REGISTERED)
def test_dng_develops_in_libraw_as_the_engine_develops_the_raw(tmp_path, name, target):
    metadata = LIKE if target == "like" else PLAIN
    method = BUILDERS[name]()
    if name in NEEDS_WHITE_BALANCE and target == "plain":  # no RAW to write: refused up front
        with pytest.raises(InputError, match="wb_gains"):
            method.sample(SOURCE, 1, metadata=metadata, seed=3)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        result = method.sample(SOURCE, 1, metadata=metadata, seed=3)[0]
    raw = _write(tmp_path / "x.dng", result.raw)
    libraw, engine = _libraw_linear(tmp_path / "x.dng"), _engine_linear(raw)
    psnr = _psnr(_encode(libraw), _encode(engine))
    print(f"{name} ({target}): LibRaw vs engine development {psnr:.2f} dB")
    assert psnr > 50.0, (name, target, psnr)


@pytest.mark.parametrize("target", ["like", "plain"])
def test_semiisp_raw_carries_its_drawn_colour_correction(target):
    result = _semiisp().convert(SOURCE, metadata=LIKE if target == "like" else PLAIN, seed=0)
    np.testing.assert_allclose(result.raw.wb_gains, SEMI_WB, rtol=1e-6)
    np.testing.assert_allclose(result.raw.camera_to_srgb, SEMI_MATRIX, atol=1e-6)


# -- the analytic methods: the DNG matches the source sRGB ---------------------------
def _upi_tone(linear: np.ndarray, mode: str, draw: dict) -> np.ndarray:
    """UPI's own tone steps after the colour matrix: gamma 1/2.2 (faithful), and
    ``rgb_gain`` and the smoothstep too (exact; upi_forward.toml)."""
    if mode == "exact":
        linear = np.clip(linear * draw["rgb_gain"], 0.0, 1.0)
    encoded = np.maximum(np.clip(linear, 0.0, 1.0), 1e-8) ** (1 / 2.2)
    return 3 * encoded**2 - 2 * encoded**3 if mode == "exact" else encoded


@pytest.mark.parametrize("target", ["like", "plain"])
@pytest.mark.parametrize("mode", ["faithful", "exact"])
def test_upi_dng_matches_the_source_within_upis_round_trip_error(tmp_path, mode, target):
    method = method_class("upi")(mode=mode)
    result = method.convert(SOURCE, metadata=LIKE if target == "like" else PLAIN, seed=5)
    raw = _write(tmp_path / "u.dng", result.raw)
    # UPI's own round trip: its RAW developed by its own forward (the reference's
    # process; upi_forward.toml = the engine's linear development + the tone steps).
    if mode == "faithful":
        own = method.forward(result)
    else:
        own = _upi_tone(_engine_linear(raw), mode, result.metadata)
    libraw = _upi_tone(_libraw_linear(tmp_path / "u.dng"), mode, result.metadata)
    own_psnr, dng_psnr = _psnr(own, SOURCE), _psnr(libraw, SOURCE)
    print(f"upi {mode} ({target}): own round trip {own_psnr:.2f} dB, LibRaw {dng_psnr:.2f} dB")
    assert _within_round_trip(dng_psnr, own_psnr), (own_psnr, dng_psnr)
    assert _psnr(libraw, own) > 35.0
    # The file's matrix is the drawn one, as read back.
    np.testing.assert_allclose(
        read_raw(tmp_path / "u.dng").camera_to_srgb, result.metadata["cam2rgb"], atol=1e-5
    )


@pytest.mark.parametrize("source_camera", ["like", "plain"])
def test_invert_like_dng_matches_the_source(tmp_path, source_camera):
    """The `invert --like` path: camera_default's inverse, the reference RAW's metadata."""
    from ispengine.io.convert import _write_dng_result
    from ispengine.specs import resolve_spec

    reference_path = tmp_path / "like.dng"
    if source_camera == "like":
        reference = RawImage(
            np.full((64, 96), 600, np.uint16),
            black_level=LIKE["black_level"],
            white_level=LIKE["white_level"],
            wb_gains=LIKE["wb_gains"],
            xyz_to_camera=COLOR_MATRIX,
        )
    else:
        reference = RawImage(np.zeros((64, 96), np.uint16))
    write_dng(reference_path, reference)
    like = read_raw(reference_path)  # LibRaw's rgb_cam and the file's ColorMatrix1
    pipeline = Pipeline.from_toml(resolve_spec("camera_default"))
    mosaic = pipeline.bind(like.metadata()).inverse()(SOURCE)
    _write_dng_result(tmp_path / "i.dng", np.asarray(mosaic), like, CaptureParams())
    back = read_raw(tmp_path / "i.dng")
    np.testing.assert_allclose(back.xyz_to_camera, like.xyz_to_camera, atol=1e-6)
    own = _encode(_engine_linear(back))
    libraw = _encode(_libraw_linear(tmp_path / "i.dng"))
    own_psnr, dng_psnr = _psnr(own, SOURCE), _psnr(libraw, SOURCE)
    print(f"invert --like ({source_camera}): own {own_psnr:.2f} dB, LibRaw {dng_psnr:.2f} dB")
    assert _within_round_trip(dng_psnr, own_psnr), (own_psnr, dng_psnr)


# -- colour tags ------------------------------------------------------------------------
def test_a_camera_matrix_that_agrees_is_written_unchanged(tmp_path):
    matrix = camera_to_srgb_from_xyz(COLOR_MATRIX)
    raw = RawImage(np.zeros((32, 32), np.uint16), camera_to_srgb_matrix=matrix)
    raw = raw.evolve(xyz_to_camera=COLOR_MATRIX, wb_gains=[2.0, 1.0, 1.5])
    write_dng(tmp_path / "a.dng", raw)
    np.testing.assert_allclose(read_raw(tmp_path / "a.dng").xyz_to_camera, COLOR_MATRIX, atol=1e-6)


def test_a_matrix_that_is_not_white_preserving_keeps_its_colours(tmp_path):
    """Its column scale goes into AsShotNeutral; LibRaw's brightness differs (warned)."""
    matrix = camera_to_srgb_from_xyz(COLOR_MATRIX) * np.array([1.1, 0.9, 1.2])
    rng = np.random.default_rng(0)
    mosaic = rng.integers(1000, 4000, (64, 64)).astype(np.uint16)
    raw = RawImage(
        mosaic, white_level=16383, wb_gains=[2.0, 1.0, 1.5], camera_to_srgb_matrix=matrix
    )
    with pytest.warns(UserWarning, match="does not map white to white"):
        write_dng(tmp_path / "n.dng", raw)
    libraw, engine = _libraw_linear(tmp_path / "n.dng"), _engine_linear(raw)
    scale = np.median(engine / np.maximum(libraw, 1e-6))
    assert _psnr(libraw * scale, engine) > 40.0


# -- capture time (issue 19, item 14) ---------------------------------------------------
def _times(path) -> tuple[str, str, str]:
    with tifffile.TiffFile(path) as tif:
        tags = tif.pages[0].tags
        exif = tags["ExifTag"].value
        return tags["DateTime"].value, exif["DateTimeOriginal"], exif["DateTimeDigitized"]


def test_dng_carries_the_capture_time(tmp_path):
    capture = CaptureParams(make="Acme", datetime="2021:06:30 17:45:12")
    write_dng(tmp_path / "t.dng", RawImage(np.zeros((32, 32), np.uint16), capture=capture))
    assert _times(tmp_path / "t.dng") == ("2021:06:30 17:45:12",) * 3
    with rawpy.imread(str(tmp_path / "t.dng")) as raw:
        assert raw.other.timestamp == dt.datetime(2021, 6, 30, 17, 45, 12)
    assert read_raw(tmp_path / "t.dng").capture.datetime == "2021:06:30 17:45:12"


def test_dng_without_a_capture_time_carries_the_time_of_writing(tmp_path, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    write_dng(tmp_path / "w.dng", RawImage(np.zeros((32, 32), np.uint16)))
    stamp, original, digitized = _times(tmp_path / "w.dng")
    assert stamp == original == digitized
    written = dt.datetime.strptime(stamp, "%Y:%m:%d %H:%M:%S")
    assert abs((written - dt.datetime.now()).total_seconds()) < 60


def test_source_date_epoch_makes_the_bytes_reproducible(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    raw = RawImage(np.zeros((32, 32), np.uint16))
    write_dng(tmp_path / "a.dng", raw)
    write_dng(tmp_path / "b.dng", raw)
    assert (tmp_path / "a.dng").read_bytes() == (tmp_path / "b.dng").read_bytes()
    assert _times(tmp_path / "a.dng")[0] == "2023:11:14 22:13:20"  # UTC
