"""``ispengine vignette falloff``: the plugin's own command, through the console script
and in-process."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from ispengine.cli import main


def _console_script() -> str:
    found = shutil.which("ispengine", path=os.path.dirname(sys.executable)) or shutil.which(
        "ispengine"
    )
    if found is None:
        pytest.skip("the ispengine console script is not installed")
    return found


def test_console_script_prints_the_falloff_table():
    result = subprocess.run(
        [_console_script(), "vignette", "falloff", "--k1", "0.5", "--k2", "0.2"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["r", "R", "G", "B", "stops"]
    corner = lines[-1].split()
    assert corner[0] == "1.000"
    assert float(corner[1]) == pytest.approx(1 / 1.7, abs=1e-4)
    assert float(corner[4]) == pytest.approx(-0.77, abs=0.01)  # log2(1 / 1.7)


def test_per_channel_json_matches_the_model(capsys):
    argv = [
        "vignette",
        "falloff",
        "--k1",
        "0.4",
        "0.5",
        "0.6",
        "--k2",
        "0",
        "--points",
        "3",
        "--json",
    ]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["r"] == [0.0, 0.5, 1.0]
    for r, row in zip(data["r"], data["falloff"], strict=True):
        expected = [1 / (1 + k1 * r**2) for k1 in (0.4, 0.5, 0.6)]
        assert row == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--k1", "2.5"], "k1: value 2.5 is outside the valid range [0, 2]"),
        (["--points", "1"], "--points: expected an integer in [2, 101], got 1"),
    ],
)
def test_bad_values_are_one_line(argv, message, capsys):
    assert main(["vignette", "falloff", *argv]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"ispengine: error: {message}"]


def test_the_command_and_its_hook_are_listed(capsys):
    assert main(["plugins", "--json"]) == 0
    plugins = {p["name"]: p for p in json.loads(capsys.readouterr().out)["plugins"]}
    assert "ispengine_register_commands" in plugins["vignette"]["hooks"]
    with pytest.raises(SystemExit):
        main(["vignette", "--help"])
    assert "falloff" in capsys.readouterr().out
