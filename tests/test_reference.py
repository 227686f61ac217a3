"""The generated component reference (``ispengine.reference``) and ``docs/reference/``."""

import os
import re
import subprocess
import sys
import types
from pathlib import Path

from ispengine import ParamSpec, Stage, hookimpl
from ispengine.core.params import PER_CHANNEL, OptionSpec
from ispengine.core.plugins import PluginHost
from ispengine.core.settings import IntegerSetting, PathSetting
from ispengine.reference import (
    COMMAND,
    builtin_registry,
    declaration_row,
    differences,
    generate,
    main,
    page_path,
    to_markdown,
    write,
)

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "reference"


def test_checked_in_reference_is_current():
    stale = differences(generate(), REFERENCE)
    assert not stale, "docs/reference/ is not current; run: " + COMMAND + "\n" + "\n".join(stale)


def test_every_builtin_component_has_a_page_with_its_declarations():
    registry = builtin_registry()
    pages = generate(registry)
    kinds = ("stage", "inverse_stage", "filter", "param_predictor", "srgb_to_raw", "lut_backend")
    for kind in kinds:
        for record in registry.records(kind):
            page = pages[page_path(record)]
            assert page.startswith(f"# `{record.name}`\n")
            assert f"`{record.plugin}` (distribution `ispengine`)" in page
            assert f"({page_path(record)})" in pages["index.md"]
    gain = pages["stages/gain.md"]
    assert "| `p_w` | per channel (3) | [0.05, 0.95] | `0.5` |" in gain
    assert "exact ([`gain_inverse`](../inverse_stages/gain_inverse.md))" in gain
    lut_inverse = pages["inverse_stages/gamma_tone_lut_inverse.md"]
    assert "[`gamma_tone`](../stages/gamma_tone.md)" in lut_inverse
    assert "| `newton_steps` |" in lut_inverse
    assert "| `mode` | choice | faithful \\| exact | `faithful` |" in pages["srgb_to_raw/upi.md"]
    assert "| `resize` | integer | [16, 1024] | `64` |" in pages["param_predictors/pqdynamic.md"]
    assert "inverse kinds | none" in pages["filters/unsharp_mask.md"]
    assert "arXiv:2504.02345" in gain.split("## Source", 1)[1]


def test_output_is_deterministic_and_machine_independent():
    first, second = generate(), generate()
    assert first == second
    assert list(first) == sorted(first)
    text = "".join(first.values())
    assert not re.search(r"0x[0-9a-f]{6,}", text)  # no memory addresses
    assert " object at " not in text
    assert "0.1.0" not in text  # no distribution versions


def test_generating_imports_no_torch():
    code = (
        "import sys; from ispengine.reference import generate; generate(); "
        "print('torch' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_only_builtin_components_get_pages():
    class Outsider(Stage):
        """An outside stage."""

        name = "outsider"

    plugin = types.SimpleNamespace(
        ispengine_register_stages=hookimpl(lambda register: register(Outsider))
    )
    host = PluginHost(load_entry_points=False)
    host.register(plugin, "outside", distribution="someone-else", version="9.9")
    pages = generate(host.registry)
    assert "stages/outsider.md" not in pages
    assert "outsider" not in pages["index.md"]


def test_one_function_renders_every_declaration_kind():
    param = ParamSpec("gains", PER_CHANNEL, 0.05, 20, default=[1, 2, 1], description="a | b")
    assert declaration_row(param) == (
        "`gains`",
        "per channel (3)",
        "[0.05, 20]",
        "`[1, 2, 1]`",
        "a \\| b",
    )
    required = ParamSpec("matrix", (3, 3), -4, 4, local=False)
    assert declaration_row(required)[1:4] == ("3×3", "[-4, 4], not per pixel", "required")
    option = OptionSpec("pattern", ("rggb", "bggr"), default="rggb", description="CFA")
    assert declaration_row(option) == ("`pattern`", "choice", "rggb \\| bggr", "`rggb`", "CFA")
    setting = IntegerSetting("steps", 100, "``steps`` to run", low=1)
    assert declaration_row(setting) == ("`steps`", "integer", "[1, inf]", "`100`", "`steps` to run")
    path = PathSetting("weights", None, "a local file")
    assert declaration_row(path)[1:4] == ("path", "path", "none")


def test_docstring_markup_becomes_markdown():
    doc = (
        "Uses :class:`~ispengine.core.params.ParamSpec` and ``x``::\n\n"
        "    y = f(x)\n\n"
        "Parameters:\n"
        "    g1: in [0.5, 4] (``gamma``).\n"
        "Done."
    )
    assert to_markdown(doc) == (
        "Uses `ParamSpec` and `x`:\n\n"
        "```text\ny = f(x)\n```\n\n"
        "Parameters:\n\n"
        "```text\ng1: in [0.5, 4] (gamma).\n```\n\n"
        "Done."
    )


def test_check_names_stale_missing_and_extra_pages(tmp_path, capsys):
    out = tmp_path / "reference"
    assert main(["--check", "--out", str(out)]) == 1
    assert "index.md (missing)" in capsys.readouterr().err
    assert main(["--out", str(out)]) == 0
    assert main(["--check", "--out", str(out)]) == 0
    (out / "stages" / "gain.md").write_text("old\n", encoding="utf-8")
    (out / "stages" / "gone.md").write_text("old\n", encoding="utf-8")
    assert main(["--check", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "gain.md (stale)" in err and "gone.md (extra)" in err
    assert COMMAND in err
    write(generate(), out)  # rewrites the stale page and removes the extra one
    assert differences(generate(), out) == []
