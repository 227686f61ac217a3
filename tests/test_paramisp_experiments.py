"""The committed ParamISP experiment specs: every row builds, the rows differ as documented,
and the ablation's quick version runs end to end (CI size)."""

import json
from pathlib import Path

import pytest

from ispengine.bench.spec import load_spec
from ispengine.cli import main

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"
ABLATION = BENCHMARKS / "paramisp_ablation_synthcam.toml"
PRETRAINING = BENCHMARKS / "paramisp_pretraining_synthcam.toml"


def _configs(path):
    spec = load_spec(path)
    return {entry.label: entry.build().config for entry in spec.methods}, spec


def test_the_ablation_rows_switch_one_thing_each():
    configs, spec = _configs(ABLATION)
    full = configs["ParamNet, equalisation, dropout (full)"]
    assert full["use_paramnet"] and full["equalise"] and full["dropout"] == 0.2
    assert not configs["no ParamNet"]["use_paramnet"]
    assert not configs["ParamNet, no equalisation, no dropout"]["equalise"]
    assert configs["ParamNet, equalisation, no dropout"]["dropout"] == 0.0
    left_out = {"without ISO": "iso", "without exposure time": "exposure_time"}
    left_out |= {"without f-number": "f_number", "without focal length": "focal_length"}
    for label, name in left_out.items():
        assert name not in configs[label]["optical"] and configs[label]["optical"].count(",") == 2
    shared = ("config", "crop", "batch_size", "lr", "decay_every", "directions")
    assert all(c[k] == full[k] for c in configs.values() for k in shared)
    assert list(spec.synthcam.cameras) == ["nikon_5100"]


def test_the_pretraining_rows_and_the_nikon_test_set():
    configs, spec = _configs(PRETRAINING)
    assert len(spec.synthcam.cameras) == 5 and list(spec.protocol.test_cameras) == ["nikon_5100"]
    assert configs["Nikon only (individual)"]["train_cameras"] == "nikon_5100"
    generic = configs["five cameras (generic)"]
    assert generic["train_cameras"] == "" and generic["fine_tune_camera"] == ""
    both = configs["five cameras, then Nikon (generic + individual)"]
    assert both["fine_tune_camera"] == "nikon_5100" and both["use_paramnet"]
    assert not configs["generic + individual, no ParamNet"]["use_paramnet"]


def test_the_ablation_runs_quick(tmp_path, torch_one_thread):
    pytest.importorskip("torch")
    out = tmp_path / "ablation"
    argv = ["bench", "srgb2raw", "--spec", str(ABLATION), "--quick", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    document = json.loads((out / "results.json").read_text())
    assert len(document["methods"]) == 8
    assert all(m["error"] is None and m["fit"]["steps"] == 2 for m in document["methods"])
