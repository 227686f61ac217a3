"""``ispengine run``/``invert`` on folders: created outputs, skipped side-cars, one bad
output that does not stop the others, one summary line, ``--quiet``, and the defaults
an inverse falls back to without ``--like``."""

import numpy as np
import pytest

from ispengine.cli import main
from ispengine.io.image_files import write_image


@pytest.fixture
def folder(tmp_path):
    """Three small sRGB PNGs whose function ISP output clips, and an ``unprocess`` side-car."""
    folder = tmp_path / "in"
    folder.mkdir()
    for index, name in enumerate("abc"):
        image = np.random.default_rng(index).uniform(0.0, 1.0, size=(16, 24, 3))
        write_image(folder / f"{name}.png", image)
    (folder / "a.json").write_text("{}\n")
    return folder


def _run(capsys, *argv):
    code = main(["run", "function_isp", *map(str, argv), "--executor", "serial"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_missing_output_folder_is_created(folder, tmp_path, capsys):
    out = tmp_path / "developed" / "today"
    code, _, err = _run(capsys, folder, out)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png", "c.png"]


def test_side_car_files_are_skipped_not_failed(folder, tmp_path, capsys):
    code, _, err = _run(capsys, folder, tmp_path / "out")
    assert code == 0, err
    assert "a.json" not in err and "error" not in err


def test_a_folder_of_side_cars_only_is_one_line(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "x.json").write_text("{}")
    code, _, err = _run(capsys, folder, tmp_path / "out")
    assert code == 2
    assert err.strip().splitlines() == [
        f"ispengine: error: {folder}: no images or RAW files to convert (only side-car files: 1)"
    ]
    assert not (tmp_path / "out").exists()


def test_a_side_car_given_as_input_names_the_accepted_types(folder, tmp_path, capsys):
    code, _, err = _run(capsys, folder / "a.json", tmp_path / "o.png")
    assert code == 2
    assert "side-car" in err and ".dng" in err and ".png" in err


def test_one_unwritable_output_does_not_stop_the_others(folder, tmp_path, capsys):
    out = tmp_path / "out"
    (out / "b.png").mkdir(parents=True)  # b's output cannot be written
    code, stdout, err = _run(capsys, folder, out)
    assert code == 2
    assert (out / "a.png").is_file() and (out / "c.png").is_file()
    errors = [line for line in err.splitlines() if line.startswith("ispengine: error: ")]
    assert errors == [
        f"ispengine: error: {out / 'b.png'}: is a folder, not a file that can be written",
        "ispengine: error: 1 of 3 files failed (nothing written for them)",
    ]
    assert "item (" not in err and "IsADirectoryError" not in err
    assert "2 of 3 files" in stdout


def test_a_folder_run_prints_one_summary_and_one_clipping_warning(folder, tmp_path, capsys):
    code, stdout, err = _run(capsys, folder, tmp_path / "out")
    assert code == 0
    assert len(stdout.strip().splitlines()) == 1
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "clipped in 3 of 3 files" in warnings[0]


def test_quiet_prints_only_warnings(folder, tmp_path, capsys):
    code, stdout, err = _run(capsys, folder, tmp_path / "out", "--quiet")
    assert code == 0
    assert stdout == ""
    assert all(line.startswith("ispengine: warning: ") for line in err.strip().splitlines())


def test_invert_without_like_says_which_defaults_it_used(tmp_path, capsys):
    source = tmp_path / "in.png"
    write_image(source, np.full((32, 48, 3), 0.4))
    code = main(["invert", "camera_default", str(source), str(tmp_path / "o.dng"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 0
    assert "no --like RAW" in err and "black 0, white 65535" in err


def test_a_pipeline_without_camera_values_needs_no_like(tmp_path, capsys):
    source = tmp_path / "in.npy"
    np.save(source, np.full((8, 8, 3), 0.4))
    assert main(["run", "function_isp", str(source), str(tmp_path / "o.npy")]) == 0
    assert "--like" not in capsys.readouterr().err
