"""ParamISP's applications with any models: HDR from one sRGB image and camera transfer.

UPI (no fitting) inverts and the ``camera_default`` pipeline renders, on a tiny SynthCam
dataset of two cameras. The CLI tests run through ``ispengine.cli.main``; until the ParamISP
plugin registers the commands, the fixture adds them to the core's table for the test.
"""

from __future__ import annotations

import numpy as np
import pytest

from ispengine.core.errors import InputError, ParamError
from ispengine.io.image_files import read_image, write_image
from ispengine.io.raw import CaptureParams
from ispengine.learning.raw_to_srgb import RawToSrgbMethod
from ispengine.specs import shipped_specs
from ispengine.synthcam import generate_dataset
from plugins_builtin.paramisp import applications as apps
from plugins_builtin.paramisp.commands import COMMANDS

SIZE = (32, 48)
CAMERA_A, CAMERA_B = "nikon_5100", "synthcam_phone"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthcam")
    manifest = generate_dataset(root, 4, SIZE, 3, cameras=[CAMERA_A, CAMERA_B], progress=False)
    return root, manifest


def _files(dataset, camera):
    root, manifest = dataset
    entries = [e for e in manifest["samples"] if e["camera"] == camera]
    return [(root / e["files"]["srgb"], root / e["files"]["raw"]) for e in entries]


@pytest.fixture(scope="module")
def models():
    return apps.load_inverse("upi"), apps.load_forward("camera_default")


@pytest.fixture
def cli(monkeypatch):
    """``ispengine.cli.main`` with the commands registered (by the plugin or, until then,
    added to the core's commands for this test)."""
    import ispengine.cli as cli_module

    names = {record.command.name for record in cli_module.command_table().records()}
    if "paramisp hdr" not in names:
        monkeypatch.setattr(cli_module, "CORE_COMMANDS", (*cli_module.CORE_COMMANDS, *COMMANDS))
    return cli_module.main


# -- functions ---------------------------------------------------------------------


def test_hdr_fuses_the_gained_renderings(dataset, models):
    inverse, forward = models
    srgb_path, raw_path = _files(dataset, CAMERA_A)[0]
    srgb = read_image(srgb_path)
    result = apps.hdr_from_srgb(
        srgb, inverse, forward, metadata=apps.camera_metadata(raw_path), capture=None
    )
    assert result.gains == apps.DEFAULT_GAINS
    assert result.image.shape == srgb.shape and result.image.dtype == np.float32
    assert result.image.min() >= 0.0 and result.image.max() <= 1.0
    means = [float(e.mean()) for e in result.exposures]
    assert means == sorted(means) and means[0] < 0.5 * means[-1]
    single = forward(result.raw)
    assert np.abs(result.image - single).mean() > 0.01
    for exposure in result.exposures:
        assert np.abs(result.image - exposure).mean() > 0.005
    # highlights: the fused image saturates less than the brightest exposure
    assert np.mean(result.image >= 0.99) < np.mean(result.exposures[-1] >= 0.99)


def test_hdr_clips_the_gained_raw_only_when_asked(dataset, models, tmp_path):
    inverse, _ = models
    # camera_default clips highlights after white balance (LibRaw's default), which hides
    # the gained RAW's own clipping; develop without that clip to see it.
    spec = shipped_specs()["camera_default"].read_text()
    spec = spec.replace('type = "highlights"', 'type = "highlights"\nparams = { mode = "none" }')
    assert 'mode = "none"' in spec
    (tmp_path / "unclipped.toml").write_text(spec)
    forward = apps.load_forward(str(tmp_path / "unclipped.toml"))
    srgb = read_image(_files(dataset, CAMERA_A)[0][0])
    kept = apps.hdr_from_srgb(srgb, inverse, forward, gains=(0.5, 4.0))
    clipped = apps.hdr_from_srgb(srgb, inverse, forward, gains=(0.5, 4.0), clip=True)
    assert np.any(kept.raw.mosaic * 4.0 > 1.0)
    np.testing.assert_array_equal(kept.exposures[0], clipped.exposures[0])
    assert not np.array_equal(kept.exposures[1], clipped.exposures[1])


def test_odd_sizes_are_padded_and_cropped_back(models):
    inverse, forward = models
    srgb = np.random.default_rng(0).uniform(0.1, 0.9, (21, 27, 3))
    result = apps.hdr_from_srgb(srgb, inverse, forward)
    assert result.image.shape == (21, 27, 3)
    assert result.raw.shape == (22, 28)


def test_exposure_fusion_keeps_one_exposure_and_prefers_well_exposed_pixels():
    rng = np.random.default_rng(1)
    image = rng.uniform(0.3, 0.7, (32, 32, 3)).astype(np.float32)
    same = apps.exposure_fusion([image, image])
    np.testing.assert_allclose(same, image, atol=0.02)
    dark, bright = image * 0.1, np.clip(image * 3.0, 0.0, 1.0)
    fused = apps.exposure_fusion([dark, image, bright])
    assert abs(float(fused.mean()) - float(image.mean())) < 0.1
    with pytest.raises(ParamError, match="at least two"):
        apps.exposure_fusion([image])


@pytest.mark.parametrize("gains", [(1.0,), (0.1, -1.0), (0.1, float("nan")), (0.1, 100.0)])
def test_bad_gains_are_refused(gains):
    with pytest.raises(ParamError, match="gains"):
        apps.check_gains(gains)


def test_transfer_swaps_pattern_levels_and_matrices(dataset, models):
    inverse, forward = models
    srgb_path, raw_a = _files(dataset, CAMERA_A)[0]
    raw_b = _files(dataset, CAMERA_B)[0][1]
    srgb = read_image(srgb_path)
    meta_a, meta_b = apps.camera_metadata(raw_a), apps.camera_metadata(raw_b)
    result = apps.transfer(srgb, inverse, forward, metadata_a=meta_a, metadata_b=meta_b)
    assert result.image.shape == srgb.shape
    assert result.image.min() >= 0.0 and result.image.max() <= 1.0
    b = result.raw_b
    assert b.cfa_pattern == meta_b["cfa_pattern"] == result.raw_a.cfa_pattern == "grbg"
    assert b.white_level == meta_b["white_level"] == 1023
    np.testing.assert_array_equal(b.black_level, meta_b["black_level"])
    np.testing.assert_allclose(b.camera_to_srgb, meta_b["camera_to_srgb"])
    np.testing.assert_allclose(b.xyz_to_camera, meta_b["xyz_to_camera"])
    np.testing.assert_array_equal(b.wb_gains, result.raw_a.wb_gains)  # the scene's own
    np.testing.assert_array_equal(b.mosaic, result.raw_a.mosaic)  # A's response, relabelled
    own = apps.transfer(srgb, inverse, forward, metadata_a=meta_a, metadata_b=meta_a)
    assert np.abs(own.image - result.image).mean() > 0.005
    with_b = apps.transfer(
        srgb, inverse, forward, metadata_a=meta_a, metadata_b=meta_b, white_balance="b"
    )
    np.testing.assert_allclose(with_b.raw_b.wb_gains, meta_b["wb_gains"])
    with pytest.raises(ParamError, match="white_balance"):
        apps.transfer(srgb, inverse, forward, metadata_a=meta_a, metadata_b=meta_b,
                      white_balance="c")  # fmt: skip


def test_capture_parsing():
    capture = apps.parse_capture("iso=400, exposure_time=0.01,f_number=2.8,focal_length=50")
    assert capture == CaptureParams(iso=400, exposure_time=0.01, f_number=2.8, focal_length=50)
    for bad in ("iso", "speed=3", "iso=fast", "iso=-5"):
        with pytest.raises(ParamError, match="capture"):
            apps.parse_capture(bad)


def test_model_loading_errors(tmp_path):
    with pytest.raises(InputError, match="no such saved method"):
        apps.load_inverse(tmp_path / "missing.json")
    with pytest.raises(InputError, match="is learned"):
        apps.load_inverse("cycleisp")
    with pytest.raises(InputError, match="upi"):
        apps.load_inverse("nonsense")
    with pytest.raises(InputError, match="pipeline spec"):
        apps.load_inverse("camera.toml")
    saved_upi = apps.load_inverse("upi").save(tmp_path / "upi")
    assert type(apps.load_inverse(saved_upi)).__name__ == "UPI"
    with pytest.raises(InputError, match="which is not a RAW-to-sRGB method"):
        apps.load_forward(saved_upi)  # an inverse given as the forward
    with pytest.raises(InputError, match="no such pipeline spec"):
        apps.load_forward("no_such_spec")
    with pytest.raises(InputError, match="a forward ISP goes from raw_mosaic to srgb"):
        apps.load_forward("function_isp")


class _LearnedStandIn(RawToSrgbMethod):
    """A 'learned' RAW-to-sRGB method for the test: camera_default on the RAW."""

    name = "standin"
    learned = True

    def render(self, raw, *, capture=None):
        return apps.load_forward("camera_default")(raw.evolve(normalized=True))


def test_a_saved_forward_method_renders_with_clipped_input(tmp_path, monkeypatch, models):
    from ispengine.learning import raw_to_srgb

    monkeypatch.setattr(raw_to_srgb, "raw_to_srgb_class", lambda name: _LearnedStandIn)
    saved = _LearnedStandIn().save(tmp_path / "forward")
    forward = apps.load_forward(saved)
    assert forward.name == "standin" and forward.unit_range
    with pytest.raises(InputError, match="not a saved ispengine sRGB-to-RAW method"):
        apps.load_inverse(saved)
    srgb = np.random.default_rng(2).uniform(0.2, 0.95, (16, 16, 3))
    result = apps.hdr_from_srgb(srgb, models[0], forward, gains=(0.5, 4.0))
    assert result.image.shape == (16, 16, 3)


# -- commands ----------------------------------------------------------------------


def _hdr_args(source, target, *extra):
    return ["paramisp", "hdr", str(source), str(target), "--inverse", "upi",
            "--forward", "camera_default", *extra]  # fmt: skip


def test_cli_hdr_writes_a_png(dataset, cli, tmp_path, capsys):
    srgb, raw = _files(dataset, CAMERA_A)[0]
    out = tmp_path / "hdr.png"
    assert cli(_hdr_args(srgb, out, "--like", str(raw), "--capture", "iso=800")) == 0
    image = read_image(out)
    assert image.shape == SIZE + (3,)
    assert np.abs(image - read_image(srgb)).mean() > 0.01
    from ispengine.io.image_files import read_capture

    assert read_capture(out).iso == 800
    capsys.readouterr()
    assert cli(_hdr_args(srgb, out)) == 2  # OUT exists
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "exists (use --overwrite" in err
    assert cli(_hdr_args(srgb, out, "--overwrite", "--gains", "0.5,2", "--bits", "8")) == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--inverse": "missing.json"}, "no such saved method"),
        ({"--inverse": "cycleisp"}, "is learned"),
        ({"--forward": "SAVED_UPI"}, "which is not a RAW-to-sRGB method"),
        ({"--forward": "function_isp"}, "a forward ISP goes from raw_mosaic"),
        ({"--gains": "0.5"}, "at least two gains"),
        ({"--gains": "a,b"}, "expected numbers"),
        ({"--capture": "speed=1"}, "capture"),
        ({"input": "NOT_AN_IMAGE"}, "not an sRGB image"),
        ({"input": "BROKEN_PNG"}, "cannot read image"),
        ({"input": "missing.png"}, "no such file"),
    ],
)
def test_cli_bad_inputs_are_one_line_and_exit_2(dataset, cli, tmp_path, capsys, change, message):
    srgb, raw = _files(dataset, CAMERA_A)[0]
    saved_upi = apps.load_inverse("upi").save(tmp_path / "upi")
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    replacements = {
        "SAVED_UPI": str(saved_upi),
        "NOT_AN_IMAGE": str(tmp_path / "notes.txt"),
        "BROKEN_PNG": str(tmp_path / "broken.png"),
        "missing.json": str(tmp_path / "missing.json"),
        "missing.png": str(tmp_path / "missing.png"),
    }
    options = {"--inverse": "upi", "--forward": "camera_default", "--like": str(raw)}
    source = str(srgb)
    for key, value in change.items():
        value = replacements.get(value, value)
        if key == "input":
            source = value
        else:
            options[key] = value
    out = tmp_path / "out.png"
    args = ["paramisp", "hdr", source, str(out)]
    for key, value in options.items():
        args += [key, value]
    assert cli(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("ispengine: error:") and message in err
    assert not out.exists()


def _transfer_args(source, target, raw_a, raw_b, *extra):
    return ["paramisp", "transfer", str(source), str(target), "--inverse", "upi", "--forward",
            "camera_default", "--like-a", str(raw_a), "--like-b", str(raw_b), *extra]  # fmt: skip


def test_cli_transfer_one_file(dataset, cli, tmp_path):
    (srgb, raw_a), (_, raw_b) = _files(dataset, CAMERA_A)[0], _files(dataset, CAMERA_B)[0]
    out = tmp_path / "moved.png"
    assert cli(_transfer_args(srgb, out, raw_a, raw_b)) == 0
    assert read_image(out).shape == SIZE + (3,)


def test_cli_transfer_a_folder_reports_failures_and_keeps_going(dataset, cli, tmp_path, capsys):
    (_, raw_a), (_, raw_b) = _files(dataset, CAMERA_A)[0], _files(dataset, CAMERA_B)[0]
    folder = tmp_path / "in"
    folder.mkdir()
    root, manifest = dataset
    names = []
    for entry in manifest["samples"][:3]:
        name = f"img_{entry['id']}.png"
        (folder / name).write_bytes((root / entry["files"]["srgb"]).read_bytes())
        names.append(name)
    (folder / "bad.png").write_bytes(b"garbage")
    (folder / "readme.txt").write_text("skipped: not an image")
    out = tmp_path / "out"
    args = _transfer_args(folder, out, raw_a, raw_b, "--quiet")
    assert cli(args) == 2
    err = capsys.readouterr().err
    assert "bad.png" in err and "1 of 4 images failed" in err
    assert sorted(p.name for p in out.iterdir()) == sorted(names)
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert cli(args) == 2  # nothing overwritten without --overwrite
    err = capsys.readouterr().err
    assert err.count("exists (use --overwrite") == 3
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps
    (folder / "bad.png").unlink()
    assert cli([*args, "--overwrite"]) == 0


def test_cli_hdr_on_a_folder_of_odd_sized_images(cli, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for k in range(2):
        write_image(folder / f"{k}.png", rng.uniform(0.1, 0.9, (15, 19, 3)), bits=8)
    out = tmp_path / "out"
    assert cli(_hdr_args(folder, out, "--quiet", "--format", "tif")) == 0
    assert sorted(p.name for p in out.iterdir()) == ["0.tif", "1.tif"]
    assert read_image(out / "0.tif").shape == (15, 19, 3)


def test_the_commands():
    names = [command.name for command in COMMANDS]
    assert names == ["paramisp", "paramisp hdr", "paramisp transfer", "paramisp import"]
    assert COMMANDS[0].is_group and not COMMANDS[1].is_group
    assert apps.DEFAULT_GAINS == (0.1, 1.4, 2.7, 4.0)  # the paper's
