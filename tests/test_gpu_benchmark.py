"""benchmarks/gpu.py: its CPU smoke run works and writes every figure, so the script the
GPU sessions run cannot rot between them."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"


def _script():
    spec = importlib.util.spec_from_file_location("gpu_benchmark", BENCHMARKS / "gpu.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module


def test_the_smoke_run_writes_every_target_figure(tmp_path):
    script = _script()
    out = tmp_path / "gpu.json"
    argv = ["--array-module", "numpy", "--size", "8x12", "--repeat", "1", "--warmup", "1"]
    assert script.main([*argv, "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    figures = results["figures"]
    assert set(script.TARGETS_MS) | {"device_copy"} == set(figures)
    for name, target in script.TARGETS_MS.items():
        figure = figures[name]
        assert figure["target_ms"] == target
        assert figure["target_met"] is None  # no GPU: nothing is claimed
        assert figure["ms"] > 0 and figure["ratio_to_device_copy"] > 0
        # Engine and reference are the same CPU path here: any difference is a bug.
        assert figure["max_abs_difference_vs_cpu"] == 0.0
        assert figure["result_stays_on_device"]
    assert results["image"] == "8x12x3 float32"
    assert results["command"].startswith("python benchmarks/gpu.py --array-module numpy")


def test_a_gpu_run_without_cupy_is_one_line(tmp_path, capsys):
    if importlib.util.find_spec("cupy") is not None:
        pytest.skip("CuPy is installed here; the refusal is for machines without it")
    out = tmp_path / "gpu.json"
    assert _script().main(["--json", str(out)]) == 2
    message = capsys.readouterr().err.strip()
    assert len(message.splitlines()) == 1 and "CuPy is not installed" in message
    assert not out.exists()
