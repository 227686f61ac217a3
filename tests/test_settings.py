"""The one settings declaration family: each kind, tables, paths, listings."""

import json
from pathlib import Path

import numpy as np
import pytest

from ispengine.cli import main
from ispengine.core.errors import ParamError, SpecError
from ispengine.core.settings import (
    PER_CHANNEL,
    ArraySetting,
    BooleanSetting,
    FloatSetting,
    IntegerSetting,
    OptionSpec,
    ParamSpec,
    PathSetting,
    StringSetting,
    TableSetting,
    coerce_table,
    load_toml,
    resolve_paths,
    spec_folder,
)


def _rejects(setting, value, message):
    with pytest.raises(ParamError, match=message) as caught:
        setting.coerce(value)
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith(setting.name)


def test_number_is_the_param_spec_with_shapes_and_ranges():
    gain = ParamSpec("gain", PER_CHANNEL, 0.5, 2.0, default=1.0)
    assert gain.coerce(1.5).tolist() == [1.5, 1.5, 1.5]
    assert gain.coerce(np.ones((2, 3))).shape == (2, 3)  # per image
    _rejects(gain, 2.5, r"value 2.5 is outside the valid range \[0.5, 2\]")
    _rejects(gain, True, "expected a number")
    assert gain.range_text() == "[0.5, 2]"
    assert gain.kind == "number" and gain.describe()["shape"] == [3]
    assert gain.text() == "gain=[0.5, 2]×3 (default 1)"


def test_float():
    lr = FloatSetting("lr", 1e-3, "learning rate", low=1e-6, high=1.0)
    assert lr.coerce(1) == 1.0 and isinstance(lr.coerce(1), float)
    assert lr.coerce(np.float32(0.5)) == 0.5
    _rejects(lr, 2.0, r"2.0 is outside \[1e-06, 1\]")
    _rejects(lr, float("nan"), "outside")
    _rejects(lr, "0.1", "expected a number")
    _rejects(lr, False, "expected a number")
    assert lr.range_text() == "[1e-06, 1]"
    assert FloatSetting("x").range_text() == "[-inf, inf]"


def test_integer():
    crop = IntegerSetting("crop", 64, "crop side", low=8, high=1024)
    assert crop.coerce(32) == 32 and crop.coerce(16.0) == 16 and crop.coerce(np.int64(9)) == 9
    assert isinstance(crop.coerce(16.0), int)
    _rejects(crop, 4, r"4 is outside \[8, 1024\]")
    _rejects(crop, 16.5, "expected a whole number")
    _rejects(crop, True, "expected a whole number")
    assert crop.range_text() == "[8, 1024]"
    assert IntegerSetting("n", low=0).range_text() == "[0, inf]"


def test_choice():
    mode = OptionSpec("mode", ("global", "local"), "global", "prediction mode")
    assert mode.coerce("LOCAL") == "local"
    _rejects(mode, "grid", "expected one of global, local, got 'grid'")
    _rejects(mode, 1, "expected one of")
    assert mode.range_text() == "global | local" and mode.kind == "choice"


def test_boolean():
    noise = BooleanSetting("noise", False)
    assert noise.coerce(True) is True and noise.coerce(np.bool_(False)) is False
    _rejects(noise, 1, "expected true or false")
    _rejects(noise, "yes", "expected true or false")
    assert noise.range_text() == "true | false"


def test_string_and_list_of_strings():
    spec = StringSetting("spec", "default", "a pipeline")
    assert spec.coerce("x.toml") == "x.toml"
    _rejects(spec, 3, "expected a string")
    cameras = StringSetting("cameras", None, "names", multiple=True)
    assert cameras.coerce(["a", "b"]) == ("a", "b")
    assert not cameras.required  # an absent list is no list
    _rejects(cameras, [], "non-empty list of strings")
    _rejects(cameras, "a", "non-empty list of strings")
    assert spec.range_text() == "text" and cameras.range_text() == "list of text"


def test_path_resolves_against_a_base_folder(tmp_path):
    weights = PathSetting("weights", None, "a weights file")
    assert weights.coerce("") is None and weights.coerce(None) is None
    assert weights.coerce(Path("a/b.pt")) == str(Path("a/b.pt"))
    _rejects(weights, 3, "expected a file path")
    assert weights.resolve("w.pt", tmp_path) == str(tmp_path / "w.pt")
    assert weights.resolve("/abs/w.pt", tmp_path) == "/abs/w.pt"
    assert weights.resolve("w.pt", None) == "w.pt"
    assert weights.range_text() == "path" and not weights.required
    table = coerce_table((weights,), {"weights": "w.pt"}, "x", base=tmp_path)
    assert table == {"weights": str(tmp_path / "w.pt")}
    nested = TableSetting("data", (PathSetting("folder"),))
    resolved = resolve_paths((nested, weights), {"data": {"folder": "d"}, "weights": "w"}, tmp_path)
    assert resolved == {"data": {"folder": str(tmp_path / "d")}, "weights": str(tmp_path / "w")}
    assert spec_folder(tmp_path / "spec.toml") == tmp_path and spec_folder("<dict>") is None


def test_array_with_shape_and_names():
    bank = ArraySetting("bank", (None, 3, 3), "published", "matrices", names=("published",))
    eye = np.eye(3)
    assert bank.coerce([eye, eye]) == [eye.tolist(), eye.tolist()]  # JSON-ready lists
    assert bank.coerce("Published") == "published"
    assert bank.coerce(eye) == [eye.tolist()]  # one item of the list
    _rejects(bank, "other", "expected one of published or an array")
    _rejects(bank, [eye[:2]], r"shape \(N, 3, 3\), got shape \(1, 2, 3\)")
    _rejects(bank, np.zeros((0, 3, 3)), "shape")
    _rejects(bank, [[[True] * 3] * 3], "of numbers")
    size = ArraySetting("size", (2,), [192, 256], "[h, w]", low=32, integer=True)
    assert size.coerce([48.0, 64]) == [48, 64]
    _rejects(size, [16, 64], r"value 16 is outside \[32, inf\]")
    _rejects(size, [48.5, 64], "whole numbers")
    assert bank.range_text() == "published | [-inf, inf], shape (N, 3, 3)"
    assert size.range_text() == "[32, inf], shape (2,)"


def test_table_checks_its_own_keys_and_names_the_nested_key():
    budget = TableSetting(
        "budget",
        (
            IntegerSetting("steps", None, low=0, optional=True),
            FloatSetting("seconds", None, low=0.0, optional=True),
        ),
        {"steps": 10},
    )
    assert budget.coerce({"seconds": 2}) == {"steps": None, "seconds": 2.0}
    assert budget.default_value() == {"steps": 10, "seconds": None}
    _rejects(budget, {"steps": -1}, r"^budget.steps: -1 is outside")
    _rejects(budget, {"step": 1}, "did you mean 'steps'")
    _rejects(budget, 3, "expected a table")
    assert budget.range_text() == "table {steps, seconds}"


def test_unknown_key_is_one_error_with_the_nearest_match_and_the_known_keys():
    declared = (IntegerSetting("width", 16, low=4), IntegerSetting("depth", 2, low=1))
    with pytest.raises(ParamError) as caught:
        coerce_table(declared, {"widht": 8}, "stage 'unet_isp'")
    assert str(caught.value) == (
        "widht: unknown setting of stage 'unet_isp' (did you mean 'width'? known: depth, width)"
    )
    assert coerce_table(declared, {"depth": 3}, "x") == {"width": 16, "depth": 3}
    with pytest.raises(ParamError, match=r"^mode: missing \(a \| b\)"):
        coerce_table((OptionSpec("mode", ("a", "b")),), {}, "x")


def test_load_toml_errors_are_one_line_spec_errors(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text('name = "x"\n')
    assert load_toml(good) == {"name": "x"}
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    for path, message in ((bad, "TOML syntax error"), (tmp_path / "none.toml", "cannot read")):
        with pytest.raises(SpecError, match=message) as caught:
            load_toml(path)
        assert str(caught.value).startswith(str(path)) and "\n" not in str(caught.value)


def test_stage_option_values_are_config_and_the_old_name_warns():
    from plugins_builtin.canonical_stages.demosaic import DemosaicBilinear

    stage = DemosaicBilinear(pattern="BGGR")
    assert stage.config == {"pattern": "bggr"}
    with pytest.warns(DeprecationWarning, match="Stage.config"):
        assert stage.settings == {"pattern": "bggr"}


def test_inverse_settings_values_are_inverse_config_and_the_old_name_warns():
    from ispengine import Pipeline

    pipe = Pipeline.from_dict(
        {"stage": [{"type": "gamma_tone"}], "inverse": {"gamma_tone": {"method": "numerical"}}}
    )
    inverse = pipe.inverse().steps[0].stage
    assert inverse.inverse_config["max_iter"] == 200
    with pytest.warns(DeprecationWarning, match="inverse_config"):
        assert inverse.method_settings is inverse.inverse_config


def test_the_old_method_setting_class_still_declares_settings():
    from ispengine.learning.srgb_to_raw import Setting

    with pytest.warns(DeprecationWarning):
        declared = (
            Setting("crop", "int", 64, "crop", low=8, high=1024),
            Setting("lr", "float", 1e-3, "lr", low=0.0),
            Setting("mode", "str", "a", "mode", choices=("a", "b")),
            Setting("spec", "str", "x", "spec"),
            Setting("noise", "bool", False, "noise"),
        )
    kinds = [type(s) for s in declared]
    assert kinds == [IntegerSetting, FloatSetting, OptionSpec, StringSetting, BooleanSetting]
    assert coerce_table(declared, {"crop": 8.0}, "m")["crop"] == 8


def test_settings_files_saved_before_the_change_still_load(tmp_path):
    from ispengine.learning.srgb_to_raw import load_method

    bank = [[[0.8, -0.2, -0.1], [-0.3, 1.1, 0.2], [-0.1, 0.2, 0.6]]]
    document = {
        "format": "ispengine-srgb2raw",
        "version": 1,
        "method": "upi",
        "settings": {"mode": "exact", "bank": bank, "gains": "published", "noise": "none"},
        "weights": None,
    }
    (tmp_path / "upi.json").write_text(json.dumps(document))
    method = load_method(tmp_path / "upi.json")
    assert method.config["bank"] == bank
    from plugins_builtin.semiisp.method import SemiISP

    old = {"vgg_weights": "", "spec": "semiisp_function_isp", "mode": "local", "crop": 32}
    assert SemiISP(**old).config["vgg_weights"] is None


def test_bench_and_experiment_paths_resolve_against_the_spec_folder(tmp_path):
    from ispengine.bench.spec import load_spec
    from plugins_builtin.semiisp.experiment import parse_experiment

    spec = tmp_path / "specs" / "bench.toml"
    spec.parent.mkdir()
    spec.write_text('[data]\nfolder = "raws"\n[[method]]\nname = "upi"\n')
    parsed = load_spec(spec)
    assert parsed.folder == tmp_path / "specs" / "raws"
    assert parsed.methods[0].folder == tmp_path / "specs"
    document = {
        "data": {
            "paired": {"n": 12, "size": [48, 64], "camera": "nikon_5100"},
            "unpaired": {"n": 4, "size": [48, 64], "camera": "nikon_5100"},
        },
        "function_isp": {"vgg_weights": "vgg16.pth", "steps": 3},
        "targets": {"unet": {"width": 8}},
    }
    experiment = parse_experiment(document, str(spec), quick=False)
    assert experiment.function_isp["vgg_weights"] == str(tmp_path / "specs" / "vgg16.pth")
    assert experiment.targets["unet"] == {"width": 8, "depth": 2}
    document["targets"] = {"unet": {"widht": 8}}
    with pytest.raises(SpecError, match="targets.unet.widht: unknown setting .*'width'"):
        parse_experiment(document, str(spec), quick=False)


def test_unet_isp_weights_resolve_against_the_spec_folder(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from ispengine import Pipeline
    from plugins_builtin.semiisp.unet import UNetISP

    folder = tmp_path / "model"
    folder.mkdir()
    UNetISP(width=4, depth=1).save_weights(folder / "unet.safetensors")
    spec = folder / "isp.toml"
    spec.write_text(
        '[[stage]]\ntype = "unet_isp"\nparams = { weights = "unet.safetensors", width = 4, '
        "depth = 1 }\n"
    )
    monkeypatch.chdir(tmp_path)  # the working directory holds no such file
    stage = Pipeline.from_toml(spec).steps[0].stage
    assert stage.weights == str(folder / "unet.safetensors") and stage.width == 4
    with pytest.raises(SpecError, match=r"params.width: 2 is outside \[4, 128\]"):
        Pipeline.from_dict({"stage": [{"type": "unet_isp", "params": {"width": 2}}]})


def test_stages_lists_every_component_s_settings_with_ranges(capsys):
    assert main(["stages"]) == 0
    # A name may stand in several kinds (unet_isp: a stage and a RAW-to-sRGB method);
    # the first listed, the stage, is the one checked.
    rows: dict[str, str] = {}
    for line in capsys.readouterr().out.splitlines()[1:]:
        rows.setdefault(line.split()[0], line)
    assert "width=[4, 128] (default 16)" in rows["unet_isp"]
    assert "weights=path" in rows["unet_isp"]
    assert "p_x=[0, 1]×3 (default 0.5)" in rows["gain"]
    assert "max_iter=[1, 10000] (default 200)" in rows["gamma_tone_numerical_inverse"]
    assert "crop=[8, 1024] (default 64)" in rows["cycleisp"]
    assert "mode=global | local (default global)" in rows["pqdynamic"]
    assert main(["stages", "--json"]) == 0
    records: dict[str, dict] = {}
    for record in json.loads(capsys.readouterr().out):
        records.setdefault(record["name"], record)
    unet = {s["name"]: s for s in records["unet_isp"]["settings"]}
    assert unet["width"] == {
        "name": "width",
        "kind": "integer",
        "range": "[4, 128]",
        "default": 16,
        "description": "channels of the first level",
        "group": "options",
    }
    gain = {s["name"]: s for s in records["gain"]["settings"]}
    assert gain["p_x"]["range"] == "[0, 1]" and gain["p_x"]["shape"] == [3]
    assert {s["group"] for s in records["gamma_tone_lut_inverse"]["settings"]} == {
        "params",
        "inverse_settings",
    }


def test_a_path_setting_keeps_its_names_and_resolves_other_relative_paths(tmp_path):
    setting = PathSetting(
        "spec", "shipped_isp", "a shipped name or a TOML path", names=("shipped_isp",)
    )
    assert setting.range_text() == "path or one of shipped_isp"
    assert setting.coerce("shipped_isp") == "shipped_isp"
    assert setting.resolve("shipped_isp", tmp_path) == "shipped_isp"
    assert setting.resolve("mine.toml", tmp_path) == str(tmp_path / "mine.toml")


def test_semiisp_spec_setting_resolves_a_relative_toml_against_the_spec_folder(tmp_path):
    pytest.importorskip("torch")
    from plugins_builtin.semiisp.method import SemiISP

    resolved = resolve_paths(SemiISP.settings, {"spec": "isp.toml"}, tmp_path)
    assert resolved["spec"] == str(tmp_path / "isp.toml")
    shipped = resolve_paths(SemiISP.settings, {"spec": "semiisp_function_isp"}, tmp_path)
    assert shipped["spec"] == "semiisp_function_isp"
