"""The committed SSDNet and Invertible-ISP experiment specs: every row builds, the rows
differ as documented, and both quick versions run end to end (CI size)."""

import json
from pathlib import Path

import pytest

from ispengine.bench.spec import load_spec
from ispengine.cli import main

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"
SOFT_SUPERVISION = BENCHMARKS / "ssdnet_soft_supervision_synthcam.toml"
JPEG = BENCHMARKS / "invisp_jpeg_synthcam.toml"


def _configs(path):
    spec = load_spec(path)
    return {entry.label: entry.build().config for entry in spec.methods}, spec


def test_the_soft_supervision_rows_switch_one_thing_each():
    configs, spec = _configs(SOFT_SUPERVISION)
    assert not configs["without soft supervision"]["soft_supervision"]
    samples = {label: config["samples"] for label, config in configs.items()}
    assert samples == {
        "without soft supervision": 0,
        "soft supervision, plain prediction": 0,
        "soft supervision, resampling 1": 1,
        "soft supervision, resampling 10": 10,
        "soft supervision, resampling 50 (paper)": 50,
    }
    shared = ("config", "crops", "batch_size", "lr", "alpha", "grad_clip")
    first = next(iter(configs.values()))
    assert all(c[k] == first[k] for c in configs.values() for k in shared)
    assert list(spec.synthcam.cameras) == ["nikon_5100"]


def test_the_jpeg_rows_differ_only_in_the_jpeg_simulation():
    configs, _ = _configs(JPEG)
    with_jpeg = configs["with JPEG simulation (paper)"]
    without = configs["without JPEG simulation"]
    assert with_jpeg["jpeg"] and not without["jpeg"] and with_jpeg["jpeg_quality"] == 90
    assert {k: v for k, v in with_jpeg.items() if k != "jpeg"} == {
        k: v for k, v in without.items() if k != "jpeg"
    }


@pytest.mark.parametrize("spec, rows", [(SOFT_SUPERVISION, 5), (JPEG, 2)])
def test_the_experiments_run_quick(tmp_path, torch_one_thread, spec, rows):
    pytest.importorskip("torch")
    out = tmp_path / spec.stem
    argv = ["bench", "srgb2raw", "--spec", str(spec), "--quick", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    document = json.loads((out / "results.json").read_text())
    assert len(document["methods"]) == rows
    assert all(m["error"] is None for m in document["methods"])
