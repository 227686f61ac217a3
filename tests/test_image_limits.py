"""The pixel limit of the image readers (issue 19, item 4): a file whose header claims a
huge image (PNG, TIFF, JPEG, ``.npy``, camera RAW) is refused in one line before
anything is decoded or allocated; the limit can be lowered and raised."""

import io
import resource
import struct
import sys
import time
import tracemalloc
import zlib

import numpy as np
import pytest

from ispengine.cli import main
from ispengine.core.errors import InputError, ParamError
from ispengine.io.image_files import (
    DEFAULT_MAX_PIXELS,
    MAX_PIXELS_VARIABLE,
    max_pixels,
    read_image,
    set_max_pixels,
    write_image,
)

HUGE = 60000
MEGABYTE = 1 << 20


@pytest.fixture(autouse=True)
def _default_limit(monkeypatch):
    monkeypatch.delenv(MAX_PIXELS_VARIABLE, raising=False)
    set_max_pixels(None)
    yield
    set_max_pixels(None)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def huge_png(path, width=HUGE, height=HUGE):
    """A PNG whose IHDR claims ``width``×``height`` RGB, with one row of (zero) data."""
    header = struct.pack(">2I5B", width, height, 8, 2, 0, 0, 0)
    body = zlib.compress(b"\0" * (1 + 3 * width), 9)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", body)
        + _png_chunk(b"IEND", b"")
    )
    return path


def huge_tiff(path, width=HUGE, height=HUGE):
    """A little-endian baseline TIFF header claiming ``width``×``height`` 8-bit grey, no data."""
    tags = [  # (tag, type, count, value): SHORT = 3, LONG = 4
        (256, 4, 1, width),
        (257, 4, 1, height),
        (258, 3, 1, 8),
        (259, 3, 1, 1),
        (262, 3, 1, 1),
        (273, 4, 1, 8 + 2 + 12 * 10 + 4),  # the strip "starts" right after the IFD
        (277, 3, 1, 1),
        (278, 4, 1, height),
        (279, 4, 1, width * height),
        (284, 3, 1, 1),
    ]
    ifd = struct.pack("<H", len(tags))
    for tag, kind, count, value in tags:
        packed = struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, kind, count) + packed
    data = b"II*\0" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0)
    path.write_bytes(data + bytes(296 - len(data)))
    return path


def huge_npy(path, shape=(HUGE, HUGE, 3)):
    """An ``.npy`` header claiming ``shape`` float64, and no data."""
    buffer = io.BytesIO()
    header = {"descr": "<f8", "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    path.write_bytes(buffer.getvalue())
    return path


def huge_jpeg(path, width=HUGE, height=HUGE):
    """A small valid JPEG whose SOF0 segment is patched to claim ``width``×``height``."""
    write_image(path, np.full((8, 8, 3), 0.5))
    data = bytearray(path.read_bytes())
    at = data.find(b"\xff\xc0")
    assert at > 0
    data[at + 5 : at + 9] = struct.pack(">HH", height, width)
    path.write_bytes(bytes(data))
    return path


def huge_dng(path, side=20000):
    """A small DNG whose raw IFD is patched to claim ``side``×``side`` (which LibRaw opens)."""
    tifffile = pytest.importorskip("tifffile")
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from test_raw_io import make_raw

    from ispengine.io.raw.dng import write_dng

    write_dng(path, make_raw())
    with tifffile.TiffFile(path, mode="r+") as tif:
        for name in ("ImageWidth", "ImageLength"):
            tif.pages[0].tags[name].overwrite(side)
    return path


MAKERS = {
    "big.png": (huge_png, f"{HUGE}x{HUGE}"),
    "big.tif": (huge_tiff, f"{HUGE}x{HUGE}"),
    "big.npy": (huge_npy, f"shape ({HUGE}, {HUGE}, 3)"),
    "big.jpg": (huge_jpeg, f"{HUGE}x{HUGE}"),
}


def refused_cheaply(read, path):
    """The one-line message of ``read(path)``'s InputError, checked to come fast and
    without allocating (Python/numpy allocations and the process's peak memory)."""
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(InputError) as caught:
            read(path)
        elapsed = time.perf_counter() - started
        traced_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) * 1024
    assert traced_peak < 200 * MEGABYTE, traced_peak
    assert grown < 200 * MEGABYTE, grown
    assert elapsed < 10, elapsed
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_a_huge_claimed_image_is_refused_before_decoding(tmp_path, name):
    make, claimed = MAKERS[name]
    path = make(tmp_path / name)
    assert path.stat().st_size < 1 * MEGABYTE
    message = refused_cheaply(read_image, path)
    assert message.startswith(f"{path}: image of {claimed}"), message
    assert f"limit of {DEFAULT_MAX_PIXELS} pixels" in message
    assert f"{MAX_PIXELS_VARIABLE}=N" in message


def test_a_huge_claimed_raw_file_is_refused_before_unpacking(tmp_path):
    pytest.importorskip("rawpy")
    from ispengine.io.raw.reader import read_raw

    path = huge_dng(tmp_path / "big.dng")
    message = refused_cheaply(read_raw, path)
    assert message.startswith(f"{path}: image of 20000x20000 (400 MP) is over the limit")
    assert MAX_PIXELS_VARIABLE in message


def test_tiff_counts_every_page_it_would_read_and_names_width_by_height(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, np.zeros((5, 16, 24), dtype=np.uint16))  # 5 pages of 384 pixels
    message = refused_cheaply(lambda p: read_image(p, max_pixels=1000), path)
    assert message.startswith(f"{path}: image of shape 5x16x24 (axes ")
    assert "(0.00192 MP) is over the limit of 1000 pixels" in message
    assert read_image(path, max_pixels=1920).shape == (5, 16, 24)
    wide = huge_tiff(tmp_path / "wide.tif", width=30000, height=10000)
    assert refused_cheaply(read_image, wide).startswith(f"{wide}: image of 30000x10000 (300 MP)")


def test_an_npy_claiming_more_data_than_it_holds_is_refused(tmp_path):
    path = huge_npy(tmp_path / "short.npy", shape=(100, 100, 3))
    with open(path, "ab") as handle:
        handle.write(bytes(100))
    message = refused_cheaply(read_image, path)
    assert message == (
        f"{path}: truncated: its header claims shape (100, 100, 3) float64 (240000 bytes) "
        "but the file holds 100 bytes of data"
    )


@pytest.mark.parametrize("name", ["big.png", "big.tif"])
def test_the_command_line_refuses_a_huge_image_in_one_line(tmp_path, capsys, name):
    path = MAKERS[name][0](tmp_path / name)
    out = tmp_path / "out.png"
    assert main(["run", "function_isp", str(path), str(out)]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"ispengine: error: {path}: image of "), err
    assert MAX_PIXELS_VARIABLE in lines[0]
    assert not out.exists()


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif", ".npy"])
def test_a_lower_limit_refuses_a_small_image_that_the_default_accepts(
    tmp_path, monkeypatch, suffix
):
    path = tmp_path / f"small{suffix}"
    write_image(path, np.random.default_rng(0).uniform(size=(16, 24, 3)))
    assert read_image(path).shape == (16, 24, 3)
    assert max_pixels() == DEFAULT_MAX_PIXELS == 200_000_000

    with pytest.raises(InputError, match=r"^\S+: image of .*over the limit of 100 pixels"):
        read_image(path, max_pixels=100)
    assert read_image(path, max_pixels=16 * 24).shape == (16, 24, 3)

    monkeypatch.setenv(MAX_PIXELS_VARIABLE, "383")
    assert max_pixels() == 383
    with pytest.raises(InputError, match="over the limit of 383 pixels"):
        read_image(path)
    set_max_pixels(384)
    assert read_image(path).shape == (16, 24, 3)
    set_max_pixels(None)
    monkeypatch.setenv(MAX_PIXELS_VARIABLE, "1_000_000")
    assert read_image(path).shape == (16, 24, 3)


def test_under_the_limit_the_reader_goes_on_to_the_data(tmp_path, monkeypatch):
    """A claim within the limit reaches the decoder (here: truncated data, a decoder
    error, not the limit), and Pillow's own bomb limit is raised to ours, so Pillow
    never refuses a JPEG the limit allows."""
    path = huge_png(tmp_path / "tall.png", width=100, height=100)  # one row of data of 100
    message = refused_cheaply(read_image, path)
    assert message == f"{path}: truncated: 1 of 100 rows of image data"
    from PIL import Image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)
    monkeypatch.setenv(MAX_PIXELS_VARIABLE, str(10**9))
    jpeg = tmp_path / "small.jpg"
    write_image(jpeg, np.zeros((8, 8, 3)))
    assert read_image(jpeg).shape == (8, 8, 3)
    assert Image.MAX_IMAGE_PIXELS >= 10**9


def test_a_malformed_limit_is_a_one_line_error(monkeypatch):
    for text in ("lots", "0", "-5", "1.5"):
        monkeypatch.setenv(MAX_PIXELS_VARIABLE, text)
        with pytest.raises(ParamError, match=rf"^{MAX_PIXELS_VARIABLE}: "):
            max_pixels()
    with pytest.raises(ParamError):
        set_max_pixels(0)
