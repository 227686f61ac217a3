"""README.md: the command list names every command a user can run, plugins' included."""

import re
from pathlib import Path

from ispengine.cli import command_table

README = Path(__file__).resolve().parent.parent / "README.md"


def _command_block() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("ispengine plugins [--json]")
    return text[start : text.index("```", start)]


def test_the_command_list_names_every_registered_command():
    listed = set(
        re.findall(r"^ispengine ([a-z0-9_ -]+?)(?= [A-Z\[-]| {2,}|$)", _command_block(), re.M)
    )
    listed = {" ".join(words.split()) for words in listed}
    runnable = {r.command.name for r in command_table().records() if r.command.run is not None}
    missing = sorted(name for name in runnable if not any(n.startswith(name) for n in listed))
    assert not missing, f"README.md's command list lacks: {', '.join(missing)}"


def test_quick_bench_times_name_the_machine_they_were_measured_on():
    text = README.read_text(encoding="utf-8")
    claims = re.findall(r"--quick[^\n]*#\s*(~?[0-9][^\n]*)", text)
    assert claims, "no quick-bench timing found"
    for claim in claims:
        assert "2-core" in claim or "CPU" in claim, claim
