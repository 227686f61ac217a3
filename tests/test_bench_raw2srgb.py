"""`ispengine bench raw2srgb`: the forward head-to-head end to end, at a tiny size."""

import json
import math
from pathlib import Path

import pytest
from PIL import Image

from ispengine.bench.spec import load_spec
from ispengine.cli import main

SPEC = Path(__file__).parents[1] / "benchmarks" / "raw2srgb_synthcam.toml"
TINY = """
schema = 1
name = "tiny"

[data]
synthcam = { n = 6, size = [32, 48], seed = 4, cameras = ["nikon_5100"] }

[protocol]
budget = { steps = 3 }
error_map_images = 1

[[method]]
name = "pipeline"
label = "camera_default"

[[method]]
name = "unet_isp"
label = "U-Net"
settings = { width = 4, depth = 1, crop = 16, batch_size = 2 }

[[method]]
name = "unet_isp"
label = "U-Net, crop too large"
settings = { width = 4, depth = 1, crop = 64 }
"""


def _bench(spec, out, *extra):
    return main(["bench", "raw2srgb", "--spec", str(spec), "--out", str(out), "--quiet", *extra])


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, torch_one_thread):
    folder = tmp_path_factory.mktemp("raw2srgb")
    spec = folder / "tiny.toml"
    spec.write_text(TINY)
    code = _bench(spec, folder / "out")
    return code, folder / "out"


def test_writes_the_table_the_json_and_the_figures(tiny_run):
    code, out = tiny_run
    assert code == 2  # one method failed
    document = json.loads((out / "results.json").read_text())
    assert document["format"] == "ispengine-bench-raw2srgb"
    assert document["protocol"]["budget"]["steps"] == 3 and document["data"]["test"] >= 1
    fixed, unet, failed = document["methods"]
    for method in (fixed, unet):
        assert method["error"] is None
        assert len(method["per_image"]) == document["data"]["test"]
        for key in ("psnr", "ssim", "delta_e", "seconds_per_mp"):
            assert math.isfinite(method["mean"][key]), (method["label"], key)
    assert fixed["parameters"] == 0 and fixed["fit"]["steps"] == 0
    assert unet["parameters"] > 0 and unet["fit"]["steps"] == 3
    assert fixed["mean"]["psnr"] > unet["mean"]["psnr"]  # 3 steps teach a U-Net little
    assert 0 < fixed["mean"]["delta_e"] < unet["mean"]["delta_e"]
    table = (out / "results.md").read_text()
    assert "| camera_default |" in table and "ΔE2000" in table
    for figure in ("psnr_bar.png", "error_maps.png"):
        with Image.open(out / figure) as image:
            assert image.size[0] > 300


def test_a_failing_method_is_reported_and_the_others_still_run(tiny_run):
    _, out = tiny_run
    document = json.loads((out / "results.json").read_text())
    failed = document["methods"][2]
    assert "smaller than the 64x64 crop" in failed["error"] and failed["per_image"] == []
    assert "| U-Net, crop too large | failed: InputError" in (out / "results.md").read_text()


def test_only_runs_the_named_methods_on_the_same_data(tiny_run, tmp_path):
    _, out = tiny_run
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY)
    code = _bench(spec, tmp_path / "o", "--only", "camera_default", "--data", str(out / "data"))
    assert code == 0
    again = json.loads((tmp_path / "o" / "results.json").read_text())
    first = json.loads((out / "results.json").read_text())
    assert [m["label"] for m in again["methods"]] == ["camera_default"]
    before, after = first["methods"][0]["per_image"], again["methods"][0]["per_image"]
    assert [i["psnr"] for i in before] == [i["psnr"] for i in after]


def test_the_committed_spec_has_its_five_rows_and_a_quick_section():
    full, quick = load_spec(SPEC), load_spec(SPEC, quick=True)
    assert [m.name for m in full.methods] == [
        "pipeline",
        "semiisp_function_isp",
        "unet_isp",
        "paramisp",
        "invisp",
    ]
    assert full.protocol.budget.steps == 2000 and full.synthcam.n == 80
    assert quick.protocol.budget.steps < 20 and quick.synthcam.n < full.synthcam.n
    crops = [m.settings.get("crop", 64) for m in full.methods]
    assert max(crops) <= min(quick.synthcam.size)  # every crop fits the quick images


def test_the_committed_spec_runs_quick_with_every_row(tmp_path, torch_one_thread):
    assert _bench(SPEC, tmp_path, "--quick") == 0
    document = json.loads((tmp_path / "results.json").read_text())
    rows = {m["label"]: m for m in document["methods"]}
    assert len(rows) == 5 and all(m["error"] is None for m in rows.values())
    paramisp = rows["ParamISP forward (small)"]
    assert paramisp["fit"]["steps"] == document["protocol"]["budget"]["steps"]
    assert math.isfinite(paramisp["mean"]["delta_e"])
    invisp = rows["Invertible-ISP forward (small)"]
    assert invisp["parameters"] == 52_544 and math.isfinite(invisp["mean"]["psnr"])


def test_bad_specs_are_one_line_and_exit_2(tmp_path, capsys):
    spec = tmp_path / "bad.toml"
    spec.write_text("schema = 1\n[protocol]\nbudgt = { steps = 3 }\n")
    assert _bench(spec, tmp_path / "o") == 2
    err = capsys.readouterr().err.strip()
    assert "protocol.budgt" in err and len(err.splitlines()) == 1
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('[[method]]\nname = "pipelin"\n')
    assert _bench(unknown, tmp_path / "u") == 2
    err = capsys.readouterr().err.strip()
    assert "pipelin" in err and "pipeline" in err and len(err.splitlines()) == 1
