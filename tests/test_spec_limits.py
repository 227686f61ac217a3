"""Specs that would exhaust resources are refused with one line: huge or endless files
(``/dev/zero``, FIFOs), deep nesting, too many stages; long fused chains compile in
bounded chunks (issue 19, item 6)."""

import os
from pathlib import Path

import numpy as np
import pytest

from ispengine import Pipeline, SpecError
from ispengine.cli import main
from ispengine.core.spec import MAX_NESTING, MAX_SPEC_BYTES, MAX_STAGES, load_spec_file
from ispengine.kernels import fused
from ispengine.kernels.fused import CHUNK_STAGES, chain_kernel, plan

GAIN = '[[stage]]\ntype = "gain"\n'


def _one_line_failure(capsys, argv) -> str:
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ispengine: error: "), err
    return lines[0]


def test_deeply_nested_array_is_a_spec_error(tmp_path, capsys):
    spec = tmp_path / "deep.toml"
    spec.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(SpecError, match=f"nest deeper than the limit of {MAX_NESTING}"):
        load_spec_file(spec)
    assert "deep.toml: arrays and tables nest deeper" in _one_line_failure(capsys, ["check", spec])


def test_deep_dotted_keys_and_python_dicts_are_refused(tmp_path):
    spec = tmp_path / "dotted.toml"
    spec.write_text("a" + ".a" * 5000 + " = 1\n")
    with pytest.raises(SpecError, match="nest deeper"):
        load_spec_file(spec)
    value: list = []
    for _ in range(MAX_NESTING + 5):
        value = [value]
    with pytest.raises(SpecError, match="nest deeper"):
        Pipeline.from_dict({"stage": [{"type": "gain", "params": {"p_h": value}}]})


def test_ordinary_nesting_is_accepted():
    matrix = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    pipeline = Pipeline.from_dict(
        {"stage": [{"type": "color_correction", "params": {"matrix": matrix}}]}
    )
    assert pipeline.labels == ("color_correction",)


def test_oversized_spec_is_refused_before_parsing(tmp_path, capsys):
    spec = tmp_path / "huge.toml"
    spec.write_text(GAIN + "# padding\n" * (MAX_SPEC_BYTES // 10 + 1))
    assert spec.stat().st_size > MAX_SPEC_BYTES
    with pytest.raises(SpecError, match="larger than the limit of 1024 KiB"):
        load_spec_file(spec)
    assert "huge.toml: spec is larger than the limit" in _one_line_failure(capsys, ["check", spec])


def test_spec_at_the_size_limit_is_read(tmp_path):
    spec = tmp_path / "big.toml"
    text = GAIN + "# padding\n" * ((MAX_SPEC_BYTES - len(GAIN)) // 10)
    spec.write_text(text)
    assert spec.stat().st_size <= MAX_SPEC_BYTES
    assert load_spec_file(spec) == {"stage": [{"type": "gain"}]}


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_dev_zero_is_refused_without_reading(capsys):
    with pytest.raises(SpecError, match="not a regular file"):
        load_spec_file("/dev/zero")
    assert "/dev/zero: not a regular file" in _one_line_failure(capsys, ["check", "/dev/zero"])


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
@pytest.mark.parametrize("bench", ["srgb2raw", "raw2srgb", "raw2raw", "semiisp"])
def test_benchmark_specs_are_bounded_the_same_way(bench, tmp_path, capsys):
    argv = ["bench", bench, "--spec", "/dev/zero", "--out", tmp_path / "o", "--quiet"]
    assert "/dev/zero: not a regular file" in _one_line_failure(capsys, argv)
    assert not (tmp_path / "o").exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_is_refused_without_blocking(tmp_path, capsys):
    fifo = tmp_path / "spec.toml"
    os.mkfifo(fifo)  # nobody writes to it: opening it for reading would block
    with pytest.raises(SpecError, match="not a regular file"):
        load_spec_file(fifo)
    assert "not a regular file" in _one_line_failure(capsys, ["check", fifo])


def test_folder_is_refused(tmp_path):
    with pytest.raises(SpecError, match="is a folder"):
        load_spec_file(tmp_path)


def test_too_many_stages(tmp_path, capsys):
    with pytest.raises(SpecError, match=f"{MAX_STAGES + 1} stages; a pipeline has at most"):
        Pipeline.from_dict({"stage": [{"type": "gain"}] * (MAX_STAGES + 1)})
    spec = tmp_path / "many.toml"
    spec.write_text(GAIN * 20000)  # small enough to read: refused by its stage count
    assert "many.toml: stage: 20000 stages" in _one_line_failure(capsys, ["check", spec])


def test_stage_limit_is_inclusive():
    pipeline = Pipeline.from_dict({"stage": [{"type": "gain"}] * MAX_STAGES})
    assert len(pipeline.steps) == MAX_STAGES
    assert len(set(pipeline.labels)) == MAX_STAGES


def _gain_chain(count: int) -> str:
    text = 'schema = 1\nname = "long"\n'
    for index in range(count):
        p_h = 0.3 + 0.4 * index / count
        text += f'{GAIN}name = "g{index}"\nparams = {{ p_h = {p_h:.4f} }}\n'
    return text


def test_a_long_chain_compiles_in_bounded_chunks(tmp_path, monkeypatch):
    spec = tmp_path / "long.toml"
    spec.write_text(_gain_chain(100))
    pipeline = Pipeline.from_toml(spec)
    ((first, group),) = pipeline._fused_groups()  # one fused pass over the image ...
    assert first == 0 and group.size == 100
    calls = []
    original = fused._sequence

    def recording(functions, *, inline):
        calls.append((len(functions), inline))
        return original(functions, inline=inline)

    monkeypatch.setattr(fused, "_sequence", recording)
    monkeypatch.setattr(fused, "_compiled", {})
    chain_kernel(plan(pipeline.stages))  # builds (lazily compiled) functions only
    # ... whose per-pixel chain is built from chunks of at most CHUNK_STAGES stages, each
    # compiled on its own (not inlined), so compile time grows linearly with the length.
    chunks = [n for n, inline in calls if not inline]
    assert sum(chunks) == 100 and max(chunks) <= CHUNK_STAGES
    assert calls[-1] == (len(chunks), True)


def test_a_short_chain_is_one_inlined_function(monkeypatch):
    calls = []
    original = fused._sequence
    monkeypatch.setattr(
        fused,
        "_sequence",
        lambda functions, *, inline: (
            calls.append((len(functions), inline)) or original(functions, inline=inline)
        ),
    )
    monkeypatch.setattr(fused, "_compiled", {})
    stages = Pipeline.from_dict({"stage": [{"type": "gain"}] * CHUNK_STAGES}).stages
    chain_kernel(plan(stages))
    assert calls == [(CHUNK_STAGES, True)]


@pytest.mark.skipif(not fused.numba_available(), reason="needs Numba")
def test_chunked_chain_equals_stage_by_stage():
    stages = []
    for index in range(CHUNK_STAGES + 3):  # two chunks of mixed kinds
        if index % 3 == 0:
            stages.append({"type": "gamma_tone", "params": {"g1": 1.5 + 0.05 * index}})
        elif index % 3 == 1:
            stages.append({"type": "gain", "params": {"p_h": 0.4 + 0.02 * index}})
        else:
            stages.append({"type": "contrast_stretch", "params": {"p_h": 0.6 - 0.02 * index}})
    pipeline = Pipeline.from_dict({"stage": stages})
    assert [g.size for _, g in pipeline._fused_groups()] == [len(stages)]
    x = np.random.default_rng(0).uniform(0.0, 1.0, (8, 10, 3))
    np.testing.assert_allclose(pipeline(x), pipeline(x, fuse=False), rtol=1e-12, atol=1e-12)
