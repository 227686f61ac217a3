"""RAW files: DNG written by the engine and read back through LibRaw (rawpy)."""

import numpy as np
import pytest
import rawpy
from hypothesis import given, settings
from hypothesis import strategies as st

from ispengine.core.errors import InputError
from ispengine.io.raw import CaptureParams, RawImage
from ispengine.io.raw.dng import write_dng
from ispengine.io.raw.levels import denormalize, normalize
from ispengine.io.raw.reader import read_raw

COLOR_MATRIX = np.array([[0.71, -0.12, -0.05], [-0.41, 1.22, 0.21], [-0.06, 0.16, 0.62]])
CAPTURE = CaptureParams(
    iso=800,
    exposure_time=1 / 250,
    f_number=2.8,
    focal_length=35,
    make="Acme",
    model="X100",
    datetime="2023:07:14 09:30:05",
)


def make_raw(pattern="rggb", shape=(32, 48), seed=0, **changes):
    rng = np.random.default_rng(seed)
    mosaic = rng.integers(600, 15000, shape).astype(np.uint16)
    fields = dict(
        mosaic=mosaic,
        cfa_pattern=pattern,
        black_level=[600, 601, 602, 603],
        white_level=16383,
        wb_gains=[2.05, 1.0, 1.55],
        xyz_to_camera=COLOR_MATRIX,
        capture=CAPTURE,
    )
    fields.update(changes)
    return RawImage(**fields)


@pytest.mark.parametrize("pattern", ["rggb", "bggr", "grbg", "gbrg"])
def test_dng_round_trip_through_libraw(tmp_path, pattern):
    raw = make_raw(pattern)
    path = tmp_path / "x.dng"
    write_dng(path, raw)
    with rawpy.imread(str(path)) as libraw:  # LibRaw itself, not our reader
        assert np.array_equal(libraw.raw_image_visible, raw.mosaic)
        assert libraw.white_level == 16383
        desc = libraw.color_desc.decode()
        letters = "".join(desc[i] for i in libraw.raw_pattern.ravel()).lower()
        assert letters == pattern
        np.testing.assert_allclose(libraw.color_matrix[:, :3], raw.camera_to_srgb, atol=1e-6)
        wb = np.asarray(libraw.camera_whitebalance)
        np.testing.assert_allclose(wb[[0, 1, 2]] / wb[1], raw.wb_gains, rtol=1e-6)
        other = libraw.other
        assert other.iso_speed == 800
        assert other.shutter_speed == pytest.approx(1 / 250, rel=1e-6)
        assert other.aperture == pytest.approx(2.8, rel=1e-6)
        assert other.focal_length == pytest.approx(35)
    back = read_raw(path)
    assert back.cfa_pattern == pattern
    assert np.array_equal(back.mosaic, raw.mosaic)
    np.testing.assert_array_equal(back.black_level, raw.black_level)
    assert back.white_level == raw.white_level
    np.testing.assert_allclose(back.wb_gains, raw.wb_gains, rtol=1e-6)
    np.testing.assert_allclose(back.xyz_to_camera, COLOR_MATRIX, atol=1e-6)
    assert back.capture == CAPTURE


@settings(max_examples=15, deadline=None)
@given(
    pattern=st.sampled_from(["rggb", "bggr", "grbg", "gbrg"]),
    black=st.lists(st.integers(0, 4000), min_size=4, max_size=4),
    white=st.integers(4200, 65535),
    gains=st.lists(st.floats(0.2, 8.0), min_size=3, max_size=3),
    seed=st.integers(0, 2**16),
)
def test_dng_metadata_round_trip_over_ranges(tmp_path_factory, pattern, black, white, gains, seed):
    path = tmp_path_factory.mktemp("dng") / "x.dng"
    rng = np.random.default_rng(seed)
    mosaic = rng.integers(0, white + 1, (22, 24)).astype(np.uint16)
    gains = np.array(gains) / gains[1]
    raw = RawImage(mosaic, pattern, black, white, gains, xyz_to_camera=COLOR_MATRIX)
    write_dng(path, raw)
    back = read_raw(path)
    assert np.array_equal(back.mosaic, mosaic)
    np.testing.assert_array_equal(back.black_level, black)
    assert back.white_level == white
    np.testing.assert_allclose(back.wb_gains, gains, rtol=1e-5)


def test_same_raw_gives_the_same_bytes(tmp_path):
    raw = make_raw()
    write_dng(tmp_path / "a.dng", raw)
    write_dng(tmp_path / "b.dng", raw)
    assert (tmp_path / "a.dng").read_bytes() == (tmp_path / "b.dng").read_bytes()


def test_normalised_mosaic_is_written_as_raw_numbers(tmp_path):
    raw = make_raw("grbg")
    normalised = raw.evolve(mosaic=normalize(raw), normalized=True)
    np.testing.assert_allclose(denormalize(normalised), raw.mosaic, atol=1e-9)
    write_dng(tmp_path / "n.dng", normalised)
    assert np.array_equal(read_raw(tmp_path / "n.dng").mosaic, raw.mosaic)


def test_sixteen_bit_overflow_is_refused_and_nothing_is_written(tmp_path):
    raw = make_raw(mosaic=np.full((24, 24), 70000.0), white_level=65535)
    target = tmp_path / "o.dng"
    with pytest.raises(InputError, match="overflow 16 bits"):
        write_dng(target, raw)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_the_existing_file(tmp_path):
    target = tmp_path / "keep.dng"
    write_dng(target, make_raw())
    before = target.read_bytes()
    with pytest.raises(InputError):
        write_dng(target, make_raw(mosaic=np.full((24, 24), -5.0)))
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.dng"]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "file is empty"),
        (b"\xff\xd8\xff\xe0" + b"\0" * 200, "not a RAW file LibRaw can read"),
        (b"II*\0garbage" * 3, "not a"),
    ],
)
def test_bad_raw_files_give_one_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.dng"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as error:
        read_raw(path)
    assert "\n" not in str(error.value)


def test_truncated_dng_is_an_input_error(tmp_path):
    path = tmp_path / "t.dng"
    write_dng(path, make_raw(shape=(64, 64)))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(InputError):
        read_raw(path)


def test_a_jpeg_is_not_taken_for_raw(tmp_path):
    from ispengine.io.image_files import write_image

    write_image(tmp_path / "p.jpg", np.zeros((4, 4, 3)))
    with pytest.raises(InputError, match="expected a camera RAW file, got a JPEG image"):
        read_raw(tmp_path / "p.jpg")


def test_too_small_for_libraw_is_refused(tmp_path):
    with pytest.raises(InputError, match="too small"):
        write_dng(tmp_path / "s.dng", make_raw(shape=(8, 12)))


def test_raw_image_validation():
    with pytest.raises(InputError, match="even"):
        RawImage(np.zeros((3, 4), np.uint16))
    with pytest.raises(InputError, match="empty"):
        RawImage(np.zeros((0, 4), np.uint16))
    with pytest.raises(InputError, match="Bayer pattern"):
        RawImage(np.zeros((4, 4), np.uint16), "xtrans")
    with pytest.raises(InputError, match="white_level"):
        RawImage(np.zeros((4, 4), np.uint16), black_level=1000, white_level=500)
    with pytest.raises(InputError, match="iso"):
        CaptureParams(iso=-1)


def test_camera_to_srgb_maps_white_to_white():
    raw = make_raw()
    np.testing.assert_allclose(raw.camera_to_srgb @ np.ones(3), np.ones(3), atol=1e-12)
