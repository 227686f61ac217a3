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
