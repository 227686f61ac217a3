"""`ispengine bench raw2raw`: the raw-to-raw head-to-head end to end, at a tiny size."""

import json
import math
from pathlib import Path

import pytest

from ispengine.bench.raw2raw import load_spec, parse_spec
from ispengine.cli import main
from ispengine.core.errors import SpecError

SPEC = Path(__file__).parents[1] / "benchmarks" / "raw2raw_synthcam.toml"
TINY = """
schema = 1
name = "tiny"

[data.synthcam_pairs]
cameras = ["nikon_5100", "sigma_sdmerrill"]
unpaired = 2
anchors = 1
test = 2
size = [32, 48]
seed = 3

[protocol]
budget = { steps = 1 }
error_map_images = 1
downsample = [1, 4]
isp = { name = "unet_isp", steps = 2, settings = { width = 4, depth = 1, crop = 16 } }

[[method]]
name = "identity"

[[method]]
name = "calibration_3x3"
label = "3x3"

[[method]]
name = "calibration_polynomial"
label = "polynomial, no anchors"
settings = { source = "anchors", stride = 64 }
"""


def _bench(spec, out, *extra):
    return main(["bench", "raw2raw", "--spec", str(spec), "--out", str(out), "--quiet", *extra])


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, torch_one_thread):
    folder = tmp_path_factory.mktemp("raw2raw")
    spec = folder / "tiny.toml"
    spec.write_text(TINY)
    code = _bench(spec, folder / "out")
    return code, folder / "out"


def test_writes_the_table_the_json_and_the_figures(tiny_run):
    code, out = tiny_run
    assert code == 2  # one method failed
    document = json.loads((out / "results.json").read_text())
    assert document["format"] == "ispengine-bench-raw2raw"
    assert document["data"]["test_pairs"] == 2 and document["data"]["anchors"] == 1
    identity, matrix, failed = document["methods"]
    assert failed["error"] and "anchor" in failed["error"]
    for method in (identity, matrix):
        assert method["error"] is None and len(method["per_image"]) == 2
        for key in ("psnr_ab", "psnr_ba", "ssim_ab", "mae_ba", "kl_ab", "isp_psnr"):
            assert math.isfinite(method["mean"][key])
    assert matrix["parameters"] == 18
    assert matrix["mean"]["psnr_ab"] > identity["mean"]["psnr_ab"]
    assert "on_target_raw" in document["isp"]
    text = (out / "results.md").read_text()
    assert "| identity |" in text and "Cross-camera ISP" in text
    assert (out / "psnr_bar.png").stat().st_size > 0
    assert (out / "error_maps.png").stat().st_size > 0


def test_identity_scores_the_raw_difference_itself(tiny_run):
    _, out = tiny_run
    identity = json.loads((out / "results.json").read_text())["methods"][0]
    image = identity["per_image"][0]
    assert image["psnr_ab"] == pytest.approx(image["psnr_ba"])
    assert image["kl_ab"] == pytest.approx(image["kl_ba"])


def test_data_is_reused_and_only_filters_methods(tiny_run, tmp_path):
    _, out = tiny_run
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY)
    before = (out / "data" / "manifest.json").stat().st_mtime_ns
    assert _bench(spec, out, "--only", "identity") == 0
    assert (out / "data" / "manifest.json").stat().st_mtime_ns == before
    document = json.loads((out / "results.json").read_text())
    assert [m["label"] for m in document["methods"]] == ["identity"]


def test_spec_errors_name_the_key(tmp_path):
    with pytest.raises(SpecError, match="downsample"):
        parse_spec({"protocol": {"downsample": [3]}})
    with pytest.raises(SpecError, match="two different cameras"):
        parse_spec({"data": {"synthcam_pairs": {"cameras": ["nikon_5100", "nikon_5100"]}}})
    with pytest.raises(SpecError, match="exactly one"):
        parse_spec({"data": {"folder": "x", "synthcam_pairs": {}}})
    with pytest.raises(SpecError, match="steps"):
        parse_spec({"protocol": {"isp": {"name": "unet_isp", "steps": -1}}})


def test_unknown_method_fails_before_any_work(tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text(TINY + '\n[[method]]\nname = "no_such_method"\n')
    assert _bench(spec, tmp_path / "out") == 2
    assert not (tmp_path / "out" / "data").exists()


def test_committed_spec_parses_with_and_without_quick():
    full, quick = load_spec(SPEC), load_spec(SPEC, quick=True)
    assert {m.name for m in full.methods} >= {"identity", "calibration_3x3", "cstpp"}
    assert quick.protocol.budget.steps < full.protocol.budget.steps


def test_every_core_bench_has_a_shipped_default_spec():
    from ispengine.cli import build_parser
    from ispengine.cli.bench import resolve_bench_spec

    parser = build_parser()
    for bench in ("srgb2raw", "raw2srgb", "raw2raw"):
        args = parser.parse_args(["bench", bench])
        assert resolve_bench_spec(args.spec).is_file(), bench
    args = parser.parse_args(["bench", "semiisp"])
    assert Path(args.spec).is_file()
