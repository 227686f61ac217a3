"""``ispengine bench semiisp --quick``: the SemiISP experiment at CI size."""

import json
import math
from pathlib import Path

import pytest

pytest.importorskip("torch")

from ispengine.cli import main  # noqa: E402
from ispengine.core.errors import SpecError  # noqa: E402
from plugins_builtin.semiisp.experiment import CONDITIONS, load_experiment  # noqa: E402

SPEC = Path(__file__).resolve().parents[1] / "benchmarks" / "semiisp_synthcam.toml"


def test_quick_experiment_trains_every_target_under_every_condition(tmp_path):
    out = tmp_path / "semi"
    assert (
        main(["bench", "semiisp", "--spec", str(SPEC), "--quick", "--quiet", "--out", str(out)])
        == 0
    )
    document = json.loads((out / "results.json").read_text())
    assert set(document["results"]) == {"function_isp", "unet"}
    for rows in document["results"].values():
        assert tuple(rows) == CONDITIONS
        for condition, row in rows.items():
            assert math.isfinite(row["psnr"]) and 0 < row["ssim"] <= 1
            assert row["finetune_steps"] == (0 if condition == "supervised" else 2)
            kept = row["kept_fraction"]
            assert (kept is None) == (condition == "supervised")
            if condition.startswith("semi") and "no_opf" in condition:
                assert kept == 1.0
    assert document["data"]["paired"]["train_pairs"] <= 8
    assert document["function_isp"]["steps"] == 4
    table = (out / "results.md").read_text()
    assert "| unet" in table and "SemiISP without OPF and USQ" in table
    assert document["quick"] is True
    assert "(quick)" in table.splitlines()[0] and "**Quick run**" in table
    assert (out / "psnr_bar.png").stat().st_size > 1000


def test_spec_errors_name_the_key(tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text(SPEC.read_text().replace("[pseudo]", "[pseudo]\nsample = 3"))
    with pytest.raises(SpecError, match="pseudo.sample"):
        load_experiment(spec)
    spec.write_text(SPEC.read_text().replace('"semi_no_usq",', '"semi_no_usg",'))
    with pytest.raises(SpecError, match="protocol.conditions"):
        load_experiment(spec)
