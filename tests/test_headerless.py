"""Headerless sensor dumps (.raw/.bin): packings, declared geometry, errors, CLI, spec, DNG."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ispengine.cli import main
from ispengine.core.errors import InputError, SpecError
from ispengine.core.pipeline import Pipeline
from ispengine.io.image_files import read_image, set_max_pixels, write_image
from ispengine.io.raw.headerless import (
    SensorGeometry,
    encode_headerless,
    pack_mipi_raw10,
    pack_mipi_raw12,
    read_headerless,
    unpack_mipi_raw10,
    unpack_mipi_raw12,
)
from ispengine.io.raw.image import RawImage
from ispengine.io.raw.reader import read_raw
from ispengine.specs import resolve_spec


def _mosaic(height, width, bits, seed=0):
    return np.random.default_rng(seed).integers(0, 1 << bits, (height, width), dtype=np.uint16)


def _dump(path, mosaic, geometry):
    path.write_bytes(encode_headerless(mosaic, geometry))
    return path


def _one_line(error):
    text = str(error.value)
    assert "\n" not in text
    return text


@pytest.mark.parametrize("order", ["little", "big"])
def test_unpacked_16bit_round_trip(tmp_path, order):
    geometry = SensorGeometry(24, 16, 16, "bggr", byte_order=order)
    mosaic = _mosaic(16, 24, 16)
    raw = read_headerless(_dump(tmp_path / "d.raw", mosaic, geometry), geometry)
    np.testing.assert_array_equal(raw.mosaic, mosaic)
    assert raw.mosaic.dtype == np.uint16 and raw.cfa_pattern == "bggr"
    assert raw.white_level == 65535 and np.all(raw.black_level == 0)


def test_byte_order_is_the_declared_one(tmp_path):
    geometry = SensorGeometry(4, 2, 12, "rggb", byte_order="big")
    mosaic = np.arange(8, dtype=np.uint16).reshape(2, 4) * 500
    data = encode_headerless(mosaic, geometry)
    assert data == mosaic.astype(">u2").tobytes()
    assert (
        encode_headerless(mosaic, SensorGeometry(4, 2, 12, "rggb"))
        == mosaic.astype("<u2").tobytes()
    )


def test_unpacked_8bit_round_trip(tmp_path):
    geometry = SensorGeometry(16, 8, 8, "grbg", black=16, white=250)
    mosaic = _mosaic(8, 16, 8)
    path = _dump(tmp_path / "d.bin", mosaic, geometry)
    assert path.stat().st_size == 16 * 8
    raw = read_raw(path, geometry)
    np.testing.assert_array_equal(raw.mosaic, mosaic)
    assert raw.white_level == 250 and np.all(raw.black_level == 16)


def test_unpacked16_holds_8bit_data_in_words(tmp_path):
    geometry = SensorGeometry(8, 4, 8, "rggb", packing="unpacked16")
    mosaic = _mosaic(4, 8, 8)
    path = _dump(tmp_path / "d.raw", mosaic, geometry)
    assert path.stat().st_size == 8 * 4 * 2
    np.testing.assert_array_equal(read_headerless(path, geometry).mosaic, mosaic)


def test_mipi_raw10_layout():
    """MIPI CSI-2 RAW10: four MSB bytes, then the LSB pairs, pixel 0 in bits 1..0."""
    pixels = np.array([[0x3FF, 0x000, 0x155, 0x2AA]])
    packed = pack_mipi_raw10(pixels)
    assert packed.tolist() == [[0xFF, 0x00, 0x55, 0xAA, (0b10 << 6) | (0b01 << 4) | 0b11]]
    np.testing.assert_array_equal(unpack_mipi_raw10(packed), pixels)


def test_mipi_raw12_layout():
    """MIPI CSI-2 RAW12: two MSB bytes, then pixel 0's LSBs in bits 3..0, pixel 1's in 7..4."""
    pixels = np.array([[0xABC, 0x123]])
    packed = pack_mipi_raw12(pixels)
    assert packed.tolist() == [[0xAB, 0x12, 0x3C]]
    np.testing.assert_array_equal(unpack_mipi_raw12(packed), pixels)


@pytest.mark.parametrize(("packing", "bits", "size"), [("mipi_raw10", 10, 5), ("raw12", 12, 6)])
def test_mipi_round_trip(tmp_path, packing, bits, size):
    geometry = SensorGeometry(8, 4, bits, "gbrg", packing=packing)
    mosaic = _mosaic(4, 8, bits, seed=bits)
    path = _dump(tmp_path / "d.raw", mosaic, geometry)
    assert path.stat().st_size == 4 * 8 * size // 4
    np.testing.assert_array_equal(read_headerless(path, geometry).mosaic, mosaic)


def test_mipi_packing_fixes_the_bit_depth():
    assert (
        SensorGeometry.from_mapping(
            {"width": 8, "height": 2, "pattern": "rggb", "packing": "raw10"}
        ).bits
        == 10
    )


@settings(max_examples=40, deadline=None)
@given(
    bits=st.integers(8, 16),
    order=st.sampled_from(["little", "big"]),
    height=st.integers(1, 5).map(lambda n: 2 * n),
    width=st.integers(1, 6).map(lambda n: 2 * n),
    pad=st.integers(0, 5),
    short_last_row=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_unpacked_every_bit_depth_round_trips(
    tmp_path_factory, bits, order, height, width, pad, short_last_row, seed
):
    word = 1 if bits == 8 else 2
    stride = width * word + pad if pad else None
    geometry = SensorGeometry(width, height, bits, "rggb", byte_order=order, stride=stride)
    mosaic = _mosaic(height, width, bits, seed)
    data = encode_headerless(mosaic, geometry)
    assert len(data) == (stride or width * word) * height
    if short_last_row and pad:
        data = data[:-pad]  # no padding after the last row
    path = tmp_path_factory.mktemp("dump") / "d.raw"
    path.write_bytes(data)
    np.testing.assert_array_equal(read_headerless(path, geometry).mosaic, mosaic)


def test_stride_with_mipi_raw10(tmp_path):
    geometry = SensorGeometry(8, 4, 10, "rggb", packing="mipi_raw10", stride=16)
    mosaic = _mosaic(4, 8, 10)
    path = _dump(tmp_path / "d.raw", mosaic, geometry)
    assert path.stat().st_size == 64
    np.testing.assert_array_equal(read_headerless(path, geometry).mosaic, mosaic)


def test_size_mismatch_names_both_counts_and_what_fits(tmp_path):
    path = tmp_path / "d.raw"
    path.write_bytes(bytes(1920 * 1080 * 2))
    geometry = SensorGeometry(1920, 1080, 10, "rggb", packing="mipi_raw10")
    with pytest.raises(InputError) as error:
        read_headerless(path, geometry)
    text = _one_line(error)
    assert "needs 2592000 bytes, the file has 4147200 bytes" in text
    assert "4147200 bytes fit 1920x1080 16-bit unpacked" in text


def test_size_mismatch_offers_another_height(tmp_path):
    path = _dump(tmp_path / "d.raw", _mosaic(6, 8, 12), SensorGeometry(8, 6, 12, "rggb"))
    with pytest.raises(InputError) as error:
        read_headerless(path, SensorGeometry(8, 4, 12, "rggb"))
    text = _one_line(error)
    assert "needs 64 bytes, the file has 96 bytes" in text and "8x6 16-bit unpacked" in text


def test_bigger_file_refused_before_reading(tmp_path, monkeypatch):
    path = tmp_path / "d.raw"
    path.write_bytes(bytes(8 * 4 * 2 + 1))

    def no_read(*args, **kwargs):
        raise AssertionError("read")

    monkeypatch.setattr(np, "fromfile", no_read)
    with pytest.raises(InputError, match="size mismatch"):
        read_headerless(path, SensorGeometry(8, 4, 10, "rggb"))


def test_pixel_limit_is_respected(tmp_path):
    geometry = SensorGeometry(8, 4, 10, "rggb")
    path = _dump(tmp_path / "d.raw", _mosaic(4, 8, 10), geometry)
    set_max_pixels(16)
    try:
        with pytest.raises(InputError) as error:
            read_headerless(path, geometry)
    finally:
        set_max_pixels(None)
    assert "8x4" in _one_line(error)


def test_values_above_the_bit_depth_are_refused(tmp_path):
    path = _dump(tmp_path / "d.raw", _mosaic(4, 8, 12), SensorGeometry(8, 4, 12, "rggb"))
    with pytest.raises(InputError) as error:
        read_headerless(path, SensorGeometry(8, 4, 12, "rggb", byte_order="big"))
    assert "exceed the 12-bit maximum 4095" in _one_line(error)


BAD = [
    ({"width": 7}, "width: 7 is odd"),
    ({"height": 3}, "height: 3 is odd"),
    ({"width": 0}, "width: must be positive"),
    ({"width": 8.5}, "width: expected a whole number"),
    ({"bits": 7}, "bits: 7 is outside 8..16"),
    ({"bits": 17}, "bits: 17 is outside 8..16"),
    ({"pattern": "rgbg"}, "pattern: 'rgbg' is not a Bayer pattern"),
    ({"packing": "raw14"}, "packing: unknown packing 'raw14'"),
    ({"byte_order": "middle"}, "byte_order: unknown byte_order 'middle'"),
    ({"packing": "mipi_raw10"}, "mipi_raw10 holds 10-bit pixels, but bits is 12"),
    ({"packing": "mipi_raw12", "bits": 12, "width": 6}, None),
    ({"packing": "mipi_raw10", "bits": 10, "width": 6}, "width: 6 is not a multiple of 4"),
    ({"white": 100, "black": 100}, "white: 100 must exceed the black level 100"),
    ({"white": 50, "black": [0, 0, 60, 0]}, "white: 50 must exceed the black level 60"),
    ({"white": 5000}, "white: 5000 exceeds the 12-bit maximum 4095"),
    ({"black": -1}, "black: -1 is outside 0..4095"),
    ({"black": [1, 2, 3]}, "black: expected one level or four"),
    ({"stride": 10}, "stride: 10 bytes is shorter than a row (16 bytes"),
]


@pytest.mark.parametrize(("change", "message"), BAD)
def test_impossible_declarations_one_line_each(change, message):
    values = {"width": 8, "height": 4, "bits": 12, "pattern": "rggb", **change}
    if message is None:
        SensorGeometry.from_mapping(values)
        return
    with pytest.raises(InputError) as error:
        SensorGeometry.from_mapping(values)
    assert message in _one_line(error)


def test_missing_and_unknown_keys():
    with pytest.raises(InputError, match="missing height .*--height"):
        SensorGeometry.from_mapping({"width": 8, "bits": 10, "pattern": "rggb"})
    with pytest.raises(InputError, match="missing bits .*--raw-bits"):
        SensorGeometry.from_mapping({"width": 8, "height": 2, "pattern": "rggb"})
    with pytest.raises(InputError, match="unknown key 'depth'"):
        SensorGeometry.from_mapping({"depth": 8})


def test_dumps_without_geometry_need_one(tmp_path):
    for name in ("d.bin", "d.raw"):
        path = tmp_path / name
        path.write_bytes(bytes(64))
        with pytest.raises(InputError) as error:
            read_raw(path)
        assert "needs its geometry" in _one_line(error)


# -- the command line, the spec's [input] table, DNG output ------------------------------


def _fails(capsys, argv):
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ispengine: error: "), err
    return lines[0]


FLAGS = ["--width", "32", "--height", "16", "--raw-bits", "10", "--pattern", "grbg"]


@pytest.fixture
def dump(tmp_path):
    mosaic = np.random.default_rng(3).integers(64, 1024, (16, 32), dtype=np.uint16)
    geometry = SensorGeometry(32, 16, 10, "grbg", black=64)
    return _dump(tmp_path / "dump.raw", mosaic, geometry), mosaic


def _developed(tmp_path, mosaic, name="ref.png"):
    raw = RawImage(mosaic, "grbg", 64.0, 1023.0)
    reference = tmp_path / name
    write_image(reference, Pipeline.from_toml(resolve_spec("camera_default"))(raw))
    return read_image(reference)


def test_cli_develops_a_dump_like_the_raw_image(tmp_path, dump, capsys):
    path, mosaic = dump
    out = tmp_path / "out.png"
    assert main(["run", "camera_default", str(path), str(out), *FLAGS, "--black", "64"]) == 0
    assert "headerless sensor dump carries no colour data" in capsys.readouterr().err
    np.testing.assert_array_equal(read_image(out), _developed(tmp_path, mosaic))


def test_cli_errors_are_one_line(tmp_path, dump, capsys):
    path, _ = dump
    out = tmp_path / "out.png"
    line = _fails(capsys, ["run", "camera_default", path, out, *FLAGS, "--packing", "raw10"])
    assert "needs 640 bytes, the file has 1024 bytes" in line
    line = _fails(capsys, ["run", "camera_default", path, out, "--width", "32"])
    assert "missing height" in line
    line = _fails(capsys, ["run", "camera_default", path, out, *FLAGS, "--white", "2000"])
    assert "white: 2000 exceeds the 10-bit maximum 1023" in line
    line = _fails(capsys, ["run", "camera_default", path, out])
    assert "needs its geometry" in line
    assert not out.exists()


INPUT_TABLE = """
[input]
space = "raw_mosaic"
width = 32
height = 16
bits = 10
pattern = "grbg"
black = 64
"""


def _spec_with_input_table(tmp_path, table=INPUT_TABLE):
    text = resolve_spec("camera_default").read_text().replace('input = "raw_mosaic"\n', "")
    spec = tmp_path / "dump_isp.toml"
    spec.write_text(text + table)
    return spec


def test_spec_input_table_works_without_flags(tmp_path, dump, capsys):
    path, mosaic = dump
    spec = _spec_with_input_table(tmp_path)
    pipeline = Pipeline.from_toml(spec)
    assert pipeline.input == "raw_mosaic" and pipeline.input_geometry["width"] == 32
    out = tmp_path / "out.png"
    assert main(["run", str(spec), str(path), str(out)]) == 0
    np.testing.assert_array_equal(read_image(out), _developed(tmp_path, mosaic))


def test_flags_override_the_spec_table(tmp_path, dump, capsys):
    path, mosaic = dump
    spec = _spec_with_input_table(tmp_path, INPUT_TABLE.replace("height = 16", "height = 8"))
    out = tmp_path / "out.png"
    assert main(["run", str(spec), str(path), str(out), "--height", "16"]) == 0
    np.testing.assert_array_equal(read_image(out), _developed(tmp_path, mosaic))


def test_spec_input_table_is_checked(tmp_path):
    def build(table):
        return Pipeline.from_dict(
            {"input": table, "output": "raw_mosaic", "stage": [{"type": "bayer_normalize"}]}
        )

    assert build({"width": 8, "bits": 12}).input_geometry == {"width": 8, "bits": 12}
    assert build("raw_mosaic").input_geometry is None
    with pytest.raises(SpecError, match="input.depth: unknown key"):
        build({"depth": 8})
    with pytest.raises(SpecError, match="input.width: expected integer or float"):
        build({"width": "8"})
    with pytest.raises(SpecError, match="bits: 20 is outside 8..16"):
        build({"width": 8, "height": 2, "bits": 20, "pattern": "rggb"})


def test_dump_to_dng_keeps_pattern_and_levels(tmp_path, capsys):
    rawpy = pytest.importorskip("rawpy")
    out = tmp_path / "out.dng"
    flags = ["--width", "32", "--height", "24", "--raw-bits", "10", "--pattern", "grbg"]
    flags += ["--black", "64", "--white", "1000"]
    mosaic = np.minimum(_mosaic(24, 32, 10), 1000)  # LibRaw reads DNGs of 22x22 and more
    path = _dump(tmp_path / "dump.raw", mosaic, SensorGeometry(32, 24, 10, "grbg"))
    assert main(["run", "raw_identity", str(path), str(out), *flags]) == 0
    with rawpy.imread(str(out)) as raw:
        np.testing.assert_array_equal(raw.raw_image_visible, mosaic)
        letters = raw.color_desc.decode().lower()
        assert "".join(letters[i] for i in np.asarray(raw.raw_pattern).ravel()) == "grbg"
        assert list(raw.black_level_per_channel) == [64] * 4
        assert raw.white_level == 1000


def test_folder_of_dumps(tmp_path, capsys):
    source = tmp_path / "dumps"
    source.mkdir()
    geometry = SensorGeometry(32, 16, 10, "grbg", black=64)
    mosaics = [_mosaic(16, 32, 10, seed) for seed in range(2)]
    for index, mosaic in enumerate(mosaics):
        _dump(source / f"{index}.raw", mosaic, geometry)
    target = tmp_path / "out"
    argv = ["run", "camera_default", source, target, *FLAGS, "--black", "64", "--quiet"]
    argv += ["--executor", "serial"]
    assert main([str(a) for a in argv]) == 0
    for index, mosaic in enumerate(mosaics):
        reference = _developed(tmp_path, mosaic, f"ref{index}.png")
        np.testing.assert_array_equal(read_image(target / f"{index}.png"), reference)
