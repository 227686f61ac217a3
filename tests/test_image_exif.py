"""Image files: sRGB files keep EXIF capture parameters (PNG 8/16-bit, JPEG, TIFF), PNG of
any bit depth reads white as one, ``.npy`` arrays, permissions of written files."""

import os
import stat

import numpy as np
import png
import pytest

from ispengine.core.errors import InputError
from ispengine.io.image_files import read_capture, read_image, write_image
from ispengine.io.raw import CaptureParams

CAPTURE = CaptureParams(
    iso=1600,
    exposure_time=1 / 60,
    f_number=5.6,
    focal_length=85,
    make="Acme",
    model="Z9",
    datetime="2022:02:28 23:59:58",
)


@pytest.mark.parametrize(
    "name, bits, tolerance",
    [
        ("a.png", 8, 0.5 / 255),
        ("b.png", 16, 0.5 / 65535),
        ("c.jpg", 8, 0.08),
        ("d.tif", 16, 0.5 / 65535),
        ("e.tiff", 8, 0.5 / 255),
    ],
)
def test_exif_round_trip(tmp_path, name, bits, tolerance):
    image = np.random.default_rng(0).random((24, 32, 3))
    write_image(tmp_path / name, image, capture=CAPTURE, bits=bits)
    back = read_image(tmp_path / name)
    assert back.shape == image.shape
    assert np.abs(back - image).max() <= tolerance + 1e-12
    assert read_capture(tmp_path / name) == CAPTURE


def test_image_without_exif_has_unknown_capture(tmp_path):
    write_image(tmp_path / "plain.png", np.zeros((4, 4, 3)))
    assert read_capture(tmp_path / "plain.png") == CaptureParams()


def test_unreadable_exif_is_one_clear_error(tmp_path):
    write_image(tmp_path / "x.jpg", np.zeros((8, 8, 3)), capture=CAPTURE)
    data = bytearray((tmp_path / "x.jpg").read_bytes())
    at = data.find(b"Exif\0\0")
    data[at + 6 : at + 14] = b"XX\x00\x2a\xff\xff\xff\xff"  # a broken TIFF header
    (tmp_path / "x.jpg").write_bytes(bytes(data))
    with pytest.raises(InputError, match="unreadable EXIF"):
        read_capture(tmp_path / "x.jpg")


def test_bad_bit_depth_and_empty_images_are_refused(tmp_path):
    with pytest.raises(InputError, match="cannot write 16-bit"):
        write_image(tmp_path / "x.jpg", np.zeros((4, 4, 3)), bits=16)
    with pytest.raises(InputError, match="empty"):
        write_image(tmp_path / "x.png", np.zeros((0, 4, 3)))
    assert list(tmp_path.iterdir()) == []


def test_png_passed_as_jpeg_is_refused(tmp_path):
    write_image(tmp_path / "p.png", np.zeros((4, 4, 3)), bits=8)
    (tmp_path / "p.jpg").write_bytes((tmp_path / "p.png").read_bytes())
    with pytest.raises(InputError, match="not a JPEG"):
        read_image(tmp_path / "p.jpg")


def test_upper_case_npy_suffix_writes_the_array(tmp_path):
    data = np.arange(6, dtype=np.float64).reshape(1, 2, 3)
    write_image(tmp_path / "OUT.NPY", data)
    assert np.array_equal(np.load(tmp_path / "OUT.NPY"), data)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["OUT.NPY"]


def test_new_outputs_get_umask_permissions_and_overwrites_keep_theirs(tmp_path):
    umask = os.umask(0o022)
    try:
        write_image(tmp_path / "a.npy", np.zeros(3))
        assert stat.S_IMODE((tmp_path / "a.npy").stat().st_mode) == 0o644
        os.chmod(tmp_path / "a.npy", 0o640)
        write_image(tmp_path / "a.npy", np.ones(3))
        assert stat.S_IMODE((tmp_path / "a.npy").stat().st_mode) == 0o640
    finally:
        os.umask(umask)


@pytest.mark.parametrize("bitdepth", [1, 2, 4, 8, 16])
def test_png_of_any_bit_depth_reads_white_as_one(tmp_path, bitdepth):
    path = tmp_path / "grey.png"
    top = (1 << bitdepth) - 1
    with open(path, "wb") as handle:
        png.Writer(2, 1, greyscale=True, bitdepth=bitdepth).write(handle, [[0, top]])
    assert read_image(path).tolist() == [[0.0, 1.0]]


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2022:02:28 23:59:58", "2022:02:28 23:59:58"),
        ("2022-02-28T23:59:58.25+01:00", "2022:02:28 23:59:58"),
        ("0000:00:00 00:00:00", None),
        ("    :  :     :  :  ", None),
        ("", None),
    ],
)
def test_capture_datetime_takes_exif_and_iso_forms(value, expected):
    assert CaptureParams(datetime=value).datetime == expected


def test_capture_datetime_refuses_text_that_is_no_date():
    with pytest.raises(InputError, match="datetime"):
        CaptureParams(datetime="yesterday")
    with pytest.raises(InputError, match="datetime"):
        CaptureParams(datetime="2022:02:30 10:00:00")


@pytest.mark.parametrize("name", ["a.png", "b.jpg", "c.tif"])
def test_unreadable_exif_datetime_is_unknown(tmp_path, name):
    """A camera's "unknown" date (zeros) or a malformed one reads as None, not an error."""
    from PIL import Image

    exif = Image.Exif()
    exif[0x0110] = "Z9"
    exif.get_ifd(0x8769)[0x9003] = "0000:00:00 00:00:00"
    exif[0x0132] = "garbage"
    image = Image.fromarray(np.zeros((4, 4, 3), np.uint8))
    image.save(tmp_path / name, exif=exif.tobytes())
    capture = read_capture(tmp_path / name)
    assert capture.model == "Z9" and capture.datetime is None


def test_ifd0_datetime_is_the_fallback(tmp_path):
    from PIL import Image

    exif = Image.Exif()
    exif[0x0132] = "2020:01:02 03:04:05"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "d.jpg", exif=exif.tobytes())
    assert read_capture(tmp_path / "d.jpg").datetime == "2020:01:02 03:04:05"
