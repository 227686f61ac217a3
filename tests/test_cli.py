"""The command line: happy paths and every bad-input case (one line, exit 2, nothing written)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from ispengine.cli import main
from ispengine.io.image_files import read_image, write_image

SPEC = """
schema = 1
input = "camera_rgb"
output = "srgb"
[[stage]]
type = "color_correction"
params = { matrix = [[1.4, -0.3, -0.1], [-0.2, 1.3, -0.1], [0.0, -0.4, 1.4]] }
[[stage]]
type = "gain"
params = { p_x = 0.1, p_w = 0.3, p_h = 0.5 }
[[stage]]
type = "gamma_tone"
params = { g1 = 2.2, g2 = 0.8, k = 0.3 }
[[stage]]
type = "contrast_stretch"
params = { p_x = 0.5, p_w = 0.4, p_h = 0.5 }
"""


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "isp.toml"
    path.write_text(SPEC)
    return path


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "in.npy"
    np.save(path, np.random.default_rng(0).uniform(0.05, 0.95, (12, 16, 3)))
    return path


def _fails(capsys, argv, *, output=None):
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ispengine: error: "), err
    assert "Traceback" not in err
    if output is not None:
        assert not output.exists()
    return lines[0]


def test_run_and_invert_round_trip_through_files(tmp_path, spec, image, capsys):
    forward, back = tmp_path / "out.npy", tmp_path / "back.npy"
    assert main(["run", str(spec), str(image), str(forward)]) == 0
    assert main(["invert", str(spec), str(forward), str(back)]) == 0
    assert np.max(np.abs(np.load(back) - np.load(image))) <= 1e-6
    assert "in.npy -> " in capsys.readouterr().out


def test_sixteen_bit_png_and_tiff_in_and_out(tmp_path, spec, image):
    for suffix in (".png", ".tif"):
        out = tmp_path / f"out{suffix}"
        assert main(["run", str(spec), str(image), str(out)]) == 0
        assert main(["run", str(spec), str(image), str(tmp_path / "exact.npy")]) == 0
        expected = np.clip(np.load(tmp_path / "exact.npy"), 0, 1)
        assert np.max(np.abs(read_image(out) - expected)) <= 0.5 / 65535 + 1e-12
        back = tmp_path / f"back{suffix}.npy"
        assert main(["invert", str(spec), str(out), str(back)]) == 0
        exact = np.load(tmp_path / "exact.npy")
        representable = np.all((exact >= 0) & (exact <= 1), axis=-1)
        error = np.abs(np.load(back) - np.load(image))[representable]
        assert representable.any() and np.max(error) < 1e-3


def test_png_round_trip_is_16_bit(tmp_path):
    ramp = np.linspace(0, 1, 3 * 4 * 3).reshape(3, 4, 3)
    write_image(tmp_path / "ramp.png", ramp)
    assert np.max(np.abs(read_image(tmp_path / "ramp.png") - ramp)) <= 0.5 / 65535 + 1e-12


def test_check_reports_the_chain_and_its_inverse(spec, capsys):
    assert main(["check", str(spec)]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "gamma_tone_inverse" in out


def test_shipped_spec_by_name(capsys):
    assert main(["check", "function_isp"]) == 0


def test_stages_lists_inverse_kinds(capsys):
    assert main(["stages"]) == 0
    out = capsys.readouterr().out
    for name in (
        "color_correction",
        "gain",
        "gamma_tone",
        "contrast_stretch",
        "inverse_tone",
        "demosaic_malvar",
        "srgb_oetf",
        "clip",
    ):
        assert name in out
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "exact" in rows["gain"] and "none" in rows["mosaic"]
    assert rows["clip"].split()[1] == "filter"


def test_plugins_json(capsys):
    assert main(["plugins", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    plugins = {p["name"]: p for p in data["plugins"]}
    assert "ispengine_register_stages" in plugins["function_stages"]["hooks"]
    assert plugins["canonical_stages"]["distribution"] == "ispengine"
    assert data["failures"] == []


def test_demo_writes_its_files(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    assert "round trip max" in out
    assert (tmp_path / "demo" / "srgb.png").exists()
    recovered = np.load(tmp_path / "demo" / "camera_rgb_recovered.npy")
    original = np.load(tmp_path / "demo" / "camera_rgb.npy")
    assert np.max(np.abs(recovered - original)) < 1e-9


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[[stage]\ntype='gain'", "TOML syntax error"),
        ("colour = 1\n[[stage]]\ntype='gain'", "colour: unknown key"),
        ("[[stage]]\ntype='gain'\nparms={}", "stage 1 (gain): parms: unknown key"),
        ("[[stage]]\ntype='gamma_tones'", "did you mean 'gamma_tone'"),
        (
            "input='raw_mosaic'\noutput='raw_mosaic'\n[[stage]]\ntype='black_level'\n"
            "params={white=1023}",
            "stage 1 (black_level): params.black: missing",
        ),
        ("[[stage]]\ntype='gain'\nparams={p_w=1.5}", "params.p_w: value 1.5 is outside"),
        ("[[stage]]\ntype='gain'\nparams={p_w='wide'}", "params.p_w: expected a number"),
    ],
)
def test_bad_specs(tmp_path, image, capsys, text, expected):
    spec = tmp_path / "bad.toml"
    spec.write_text(text)
    out = tmp_path / "out.npy"
    line = _fails(capsys, ["run", spec, image, out], output=out)
    assert "bad.toml" in line and expected in line


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (np.ones((4, 4)), "expected a rgb image of shape (..., H, W, 3), got (4, 4)"),
        (np.ones((4, 4, 4)), "got (4, 4, 4)"),
        (np.ones((4, 4, 3), dtype=np.int32), "expected a float32 or float64 array"),
        (np.full((4, 4, 3), np.nan), "NaN or Inf"),
        (np.full((4, 4, 3), np.inf), "NaN or Inf"),
        (np.ones((0, 4, 3)), "empty"),
    ],
)
def test_bad_images(tmp_path, spec, capsys, array, expected):
    path = tmp_path / "bad.npy"
    np.save(path, array)
    out = tmp_path / "out.png"
    line = _fails(capsys, ["run", spec, path, out], output=out)
    assert expected in line and "bad.npy" in line


def test_missing_input_and_unsupported_types(tmp_path, spec, image, capsys):
    out = tmp_path / "out.npy"
    assert "no such file" in _fails(capsys, ["run", spec, tmp_path / "nope.npy", out], output=out)
    assert "unsupported file type" in _fails(capsys, ["run", spec, image, tmp_path / "o.bmp"])
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG not really")
    assert "cannot read image" in _fails(capsys, ["run", spec, corrupt, out], output=out)


def test_failure_leaves_an_existing_output_untouched(tmp_path, spec, capsys):
    out = tmp_path / "out.npy"
    np.save(out, np.zeros(3))
    before = out.read_bytes()
    bad = tmp_path / "bad.npy"
    np.save(bad, np.full((2, 2, 3), np.nan))
    _fails(capsys, ["run", spec, bad, out])
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.npy", "isp.toml", "out.npy"]


def test_non_invertible_pipeline_is_one_line(tmp_path, image, capsys):
    spec = tmp_path / "clip.toml"
    spec.write_text("[[stage]]\ntype='clip'\n")
    line = _fails(capsys, ["invert", spec, image, tmp_path / "o.npy"])
    assert "stage 1 (clip) has no registered inverse" in line


def test_missing_spec_file(tmp_path, image, capsys):
    assert "cannot read spec" in _fails(capsys, ["check", tmp_path / "none.toml"])


def test_console_script_exit_status_and_no_traceback(tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text("[[stage]]\ntype='nonsense'\n")
    result = subprocess.run(
        [sys.executable, "-m", "ispengine.cli", "check", str(spec)], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "unknown stage 'nonsense'" in result.stderr


def test_listing_plugins_does_not_import_torch():
    code = (
        "import sys, ispengine; from ispengine.cli import main; main(['plugins']); "
        "main(['stages']); assert 'torch' not in sys.modules, 'torch imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("old", "new", "name"),
    [
        ("ispengine.cli_srgb2raw", "ispengine.cli.unprocess", "cached_method"),
        ("ispengine.cli_srgb2raw", "ispengine.cli.bench", "cmd_bench_srgb2raw"),
        ("ispengine.cli_train", "ispengine.cli.train", "cmd_train"),
        ("ispengine.demo", "ispengine.cli.demo", "run_demo"),
    ],
)
def test_old_module_names_import_with_a_deprecation_warning(old, new, name, monkeypatch):
    import importlib

    monkeypatch.delitem(sys.modules, old, raising=False)
    with pytest.warns(DeprecationWarning, match=new):
        module = importlib.import_module(old)
    assert getattr(module, name) is getattr(importlib.import_module(new), name)


def test_missing_output_folder_names_the_target(tmp_path, capsys):
    source = tmp_path / "in.npy"
    np.save(source, np.full((2, 2, 3), 0.5))
    assert main(["run", "function_isp", str(source), str(tmp_path / "nope" / "out.npy")]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and ".out.npy." not in err


def test_unsupported_output_type_fails_before_any_work(tmp_path, capsys):
    assert main(["run", "function_isp", str(tmp_path / "absent.npy"), str(tmp_path / "o.bmp")]) == 2
    assert "unsupported file type '.bmp'" in capsys.readouterr().err


def test_demo_warns_about_the_values_its_png_clips(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    srgb = np.load(tmp_path / "demo" / "srgb.npy")
    outside = int(np.count_nonzero((srgb < 0) | (srgb > 1)))
    assert outside  # the scene's highlight leaves the PNG's range
    assert err == [
        f"ispengine: warning: {outside} values ({100 * outside / srgb.size:.2f}%) outside the "
        f"output range were clipped in {tmp_path / 'demo' / 'srgb.png'}; write .npy to keep them"
    ]
