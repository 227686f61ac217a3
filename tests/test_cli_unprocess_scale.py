"""``ispengine unprocess`` on a folder: the same bytes on every executor, bad files skipped."""

import json

import numpy as np
import pytest

from ispengine.cli import main, unprocess
from ispengine.io.image_files import write_image


def _files(root):
    return {p.name: p.read_bytes() for p in sorted(root.iterdir()) if p.is_file()}


@pytest.fixture
def folder(tmp_path):
    """Three small sRGB PNGs, named so that a bad ``b.png`` sorts between them."""
    folder = tmp_path / "srgb"
    folder.mkdir()
    for index, name in enumerate(("a", "c", "d")):
        image = np.random.default_rng(index).uniform(0.05, 0.95, size=(64, 96, 3))
        write_image(folder / f"{name}.png", image)
    return folder


def _unprocess(source, out, *options):
    argv = ["unprocess", "--method", "upi", "--samples", "2", "--seed", "7", "--quiet"]
    return main([*argv, *options, str(source), str(out)])


def test_serial_and_process_executors_write_identical_bytes(folder, tmp_path, capsys):
    serial, process = tmp_path / "serial", tmp_path / "process"
    assert _unprocess(folder, serial) == 0  # serial is the default
    assert _unprocess(folder, process, "--executor", "process", "--workers", "2") == 0
    written = _files(serial)
    assert sorted(written) == sorted(
        f"{stem}_s{k}{suffix}" for stem in "acd" for k in (0, 1) for suffix in (".dng", ".json")
    )
    assert _files(process) == written
    assert "unprocess (upi): 3 image(s) x 2" in capsys.readouterr().out
    # Every image draws seeds S and S + 1 whatever its place in the folder, so one
    # image alone gives the bytes it gets in the folder.
    for stem in "acd":
        assert [json.loads(written[f"{stem}_s{k}.json"])["seed"] for k in (0, 1)] == [7, 8]
    alone = tmp_path / "alone"
    alone.mkdir()
    assert _unprocess(folder / "c.png", alone / "c.dng") == 0
    assert _files(alone) == {name: data for name, data in written.items() if name[0] == "c"}


@pytest.mark.parametrize("executor", ["serial", "process"])
def test_a_bad_file_is_one_line_and_the_others_are_written(folder, tmp_path, capsys, executor):
    (folder / "b.png").write_bytes(b"not a png")
    out = tmp_path / "out"
    code = _unprocess(folder, out, "--executor", executor, "--workers", "2")
    captured = capsys.readouterr()
    assert code == 2
    errors = captured.err.strip().splitlines()
    assert len(errors) == 2 and "Traceback" not in captured.err
    assert errors[0].startswith("ispengine: error: ") and "b.png" in errors[0]
    assert errors[1] == "ispengine: error: 1 of 4 images failed (nothing written for them)"
    assert sorted({p.name.split("_")[0] for p in out.iterdir()}) == ["a", "c", "d"]
    assert len(list(out.iterdir())) == 12


def test_a_bad_single_file_is_one_line(tmp_path, capsys):
    image = tmp_path / "odd.png"
    write_image(image, np.full((5, 6, 3), 0.5))
    out = tmp_path / "odd.dng"
    assert _unprocess(image, out) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"ispengine: error: {image}: ")
    assert not out.exists() and not (tmp_path / "odd_s0.dng").exists()


def test_bad_executor_options_write_nothing(folder, tmp_path, capsys):
    out = tmp_path / "out"
    assert _unprocess(folder, out, "--address", "tcp://127.0.0.1:1") == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        "ispengine: error: a scheduler address applies to the dask executor, not 'serial'"
    ]
    assert not out.exists()


def test_each_process_builds_the_method_once(tmp_path, monkeypatch):
    built = []
    original = unprocess.build_method

    def counting(*args):
        built.append(args)
        return original(*args)

    monkeypatch.setattr(unprocess, "build_method", counting)
    unprocess._METHODS.clear()
    first = unprocess.cached_method("upi", {"mode": "exact"})
    assert unprocess.cached_method("upi", {"mode": "exact"}) is first
    assert len(built) == 1
    saved = first.save(tmp_path / "upi")
    from_file = unprocess.cached_method("upi", {}, str(saved))
    assert from_file is not first and from_file.config["mode"] == "exact"
    assert unprocess.cached_method("upi", {}, str(saved)) is from_file
    assert len(built) == 2
    unprocess._METHODS.clear()


@pytest.mark.parametrize("samples", [0, unprocess.MAX_SAMPLES + 1])
def test_samples_outside_the_documented_bound_are_refused(folder, tmp_path, capsys, samples):
    argv = ["unprocess", "--method", "upi", "--samples", str(samples)]
    assert main([*argv, str(folder / "a.png"), str(tmp_path / "o.dng")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"ispengine: error: --samples: expected 1..{unprocess.MAX_SAMPLES}, got {samples}"
    ]
    assert not list(tmp_path.glob("o*"))


def test_each_sample_is_written_before_the_next_is_drawn(folder, tmp_path, monkeypatch):
    events = []
    method = unprocess.build_method("upi", {})
    convert = method.convert

    def drawing(*args, **kwargs):
        events.append("draw")
        return convert(*args, **kwargs)

    original_write = unprocess._write_raw

    def writing(path, raw):
        events.append("write")
        original_write(path, raw)

    monkeypatch.setattr(method, "convert", drawing)
    monkeypatch.setattr(unprocess, "_write_raw", writing)
    unprocess._METHODS.clear()
    unprocess._METHODS[unprocess._method_key("upi", {}, None)] = method
    targets = tuple(str(tmp_path / f"o_s{k}.dng") for k in range(3))
    job = unprocess.UnprocessJob(
        "upi", {}, None, unprocess._target_metadata(None), str(folder / "a.png"), targets, 3, 0
    )
    try:
        assert unprocess.unprocess_job(job).error is None
    finally:
        unprocess._METHODS.clear()
    assert events == ["draw", "write"] * 3


def test_ssdnet_draws_one_at_a_time_with_the_same_values():
    from plugins_builtin.ssdnet import method as ssdnet

    predicted = np.random.default_rng(0).random((4, 6, 4)).astype(np.float32)
    error = np.full_like(predicted, 0.1)
    draws = ssdnet._iter_draws(predicted, error, 3, 5)
    assert not isinstance(draws, np.ndarray)  # a generator: nothing drawn up front
    assert np.array_equal(np.stack(list(draws)), ssdnet._draws(predicted, error, 3, 5))
    rng = np.random.default_rng(5)
    whole = predicted[None] + rng.standard_normal((3, *predicted.shape)).astype(np.float32) * error
    assert np.array_equal(ssdnet._draws(predicted, error, 3, 5), whole)  # the old values


def test_the_summary_names_the_files_written(folder, tmp_path, capsys):
    argv = ["unprocess", "--method", "upi", "--samples", "3", "--quiet"]
    assert main([*argv, str(folder / "a.png"), str(tmp_path / "upi.dng")]) == 0
    out = capsys.readouterr().out
    assert f"-> {tmp_path / 'upi_s0.dng'} .. {tmp_path / 'upi_s2.dng'}" in out
    assert not (tmp_path / "upi.dng").exists()


def test_set_with_weights_is_refused(folder, tmp_path, capsys):
    saved = unprocess.build_method("upi", {}).save(tmp_path / "upi")
    argv = ["unprocess", "--method", "upi", "--weights", str(saved), "--set", "mode=exact"]
    assert main([*argv, str(folder / "a.png"), str(tmp_path / "o.dng")]) == 2
    err = capsys.readouterr().err
    assert "--set cannot change a saved method" in err
    assert not (tmp_path / "o.dng").exists()


def test_method_help_lists_the_registered_methods(capsys):
    with pytest.raises(SystemExit):
        main(["unprocess", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for name in ("upi", "cycleisp", "semiisp"):
        assert name in text.split("(one of:")[1]
