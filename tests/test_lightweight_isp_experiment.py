"""The committed lightweight-ISP experiment spec: its rows differ as documented, share the
forward head-to-head's data and budget, and the quick version runs end to end."""

import json
from pathlib import Path

import pytest

from ispengine.bench.spec import load_spec
from ispengine.cli import main

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"
SPEC = BENCHMARKS / "lightweight_isp_synthcam.toml"
HEAD_TO_HEAD = BENCHMARKS / "raw2srgb_synthcam.toml"


def test_same_data_and_budget_as_the_forward_head_to_head():
    spec, head_to_head = load_spec(SPEC), load_spec(HEAD_TO_HEAD)
    assert spec.synthcam == head_to_head.synthcam
    assert spec.protocol.budget == head_to_head.protocol.budget
    shared = {m.label: m.settings for m in head_to_head.methods}
    for method in spec.methods:
        if method.label in shared:
            assert method.settings == shared[method.label]


def test_rows_switch_one_thing_each():
    from ispengine.learning.raw_to_srgb import raw_to_srgb_class

    spec = load_spec(SPEC)
    configs = {m.label: (m.name, m.build(raw_to_srgb_class).config) for m in spec.methods}
    _, paired = configs["Efficient ISP, paired"]
    _, adversarial = configs["Efficient ISP, paired + adversarial"]
    _, unpaired = configs["Efficient ISP, unpaired"]
    _, fixed = configs["Efficient ISP, unpaired, fixed loss weights"]

    def differ(a, b):
        return {k for k in a if a[k] != b[k]}

    assert differ(paired, adversarial) == {"adversarial"}
    assert differ(unpaired, fixed) == {"loss_adaptation"}
    _, pretrained = configs["Efficient ISP, unpaired, 500 pre-training steps"]
    assert differ(unpaired, pretrained) == {"pretrain_steps"}
    assert paired["training"] == "paired" and unpaired["training"] == "unpaired"
    robust = {label: c for label, (name, c) in configs.items() if name == "robust_isp"}
    assert differ(robust["Robust ISP, paired"], paired) == set()
    assert differ(robust["Robust ISP, unpaired"], unpaired) == set()
    learned = [c for name, c in configs.values() if name.endswith("_isp") and "extractors" in c]
    assert all(c["extractors"] == "random" for c in learned)


def test_the_experiment_runs_quick(tmp_path, torch_one_thread):
    pytest.importorskip("torch")
    out = tmp_path / "quick"
    argv = ["bench", "raw2srgb", "--spec", str(SPEC), "--quick", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    document = json.loads((out / "results.json").read_text())
    rows = {m["label"]: m for m in document["methods"]}
    assert len(rows) == 10 and all(m["error"] is None for m in rows.values())
    assert rows["Efficient ISP, unpaired"]["parameters"] == 3060
    assert rows["Robust ISP, paired"]["parameters"] == 1616
