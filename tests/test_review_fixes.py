"""Edge cases found in review: file output, number parsing, plugin clashes, domains."""

import os
import stat
import types

import numpy as np
import png
import pytest

from ispengine import ParamError, Pipeline, PluginHost, SpecError, Stage, hookimpl
from ispengine.cli import main
from ispengine.io.image_files import read_image, write_image


def test_upper_case_npy_suffix_writes_the_array(tmp_path):
    data = np.arange(6, dtype=np.float64).reshape(1, 2, 3)
    write_image(tmp_path / "OUT.NPY", data)
    assert np.array_equal(np.load(tmp_path / "OUT.NPY"), data)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["OUT.NPY"]


def test_new_outputs_get_umask_permissions_and_overwrites_keep_theirs(tmp_path):
    umask = os.umask(0o022)
    try:
        write_image(tmp_path / "a.npy", np.zeros(3))
        assert stat.S_IMODE((tmp_path / "a.npy").stat().st_mode) == 0o644
        os.chmod(tmp_path / "a.npy", 0o640)
        write_image(tmp_path / "a.npy", np.ones(3))
        assert stat.S_IMODE((tmp_path / "a.npy").stat().st_mode) == 0o640
    finally:
        os.umask(umask)


@pytest.mark.parametrize("bitdepth", [1, 2, 4, 8, 16])
def test_png_of_any_bit_depth_reads_white_as_one(tmp_path, bitdepth):
    path = tmp_path / "grey.png"
    top = (1 << bitdepth) - 1
    with open(path, "wb") as handle:
        png.Writer(2, 1, greyscale=True, bitdepth=bitdepth).write(handle, [[0, top]])
    assert read_image(path).tolist() == [[0.0, 1.0]]


def test_missing_output_folder_names_the_target(tmp_path, capsys):
    source = tmp_path / "in.npy"
    np.save(source, np.full((2, 2, 3), 0.5))
    assert main(["run", "function_isp", str(source), str(tmp_path / "nope" / "out.npy")]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and ".out.npy." not in err


def test_unsupported_output_type_fails_before_any_work(tmp_path, capsys):
    assert main(["run", "function_isp", str(tmp_path / "absent.npy"), str(tmp_path / "o.bmp")]) == 2
    assert "unsupported file type '.bmp'" in capsys.readouterr().err


@pytest.mark.parametrize("value", [True, "0.3", [0.3, True, 0.3], None])
def test_booleans_and_strings_are_not_numbers(value):
    with pytest.raises(SpecError, match="params.p_x: expected a number"):
        Pipeline.from_dict({"stage": [{"type": "gain", "params": {"p_x": value}}]})


def test_spec_constants_must_have_exactly_the_declared_shape():
    with pytest.raises(SpecError, match=r"params.p_w: expected one value or an array of shape"):
        Pipeline.from_dict({"stage": [{"type": "gain", "params": {"p_w": [[0.5] * 3] * 2}}]})


@pytest.mark.parametrize("schema", [True, 1.0, "1"])
def test_schema_must_be_the_integer_1(schema):
    with pytest.raises(SpecError, match="unsupported schema"):
        Pipeline.from_dict({"schema": schema, "stage": [{"type": "gain"}]})


def test_spec_errors_use_toml_type_names():
    with pytest.raises(SpecError, match="stage: expected array, got table"):
        Pipeline.from_dict({"stage": {"type": "gain"}})


def test_python_pipelines_validate_their_colour_spaces():
    from plugins_builtin.function_stages.piecewise_gain import Gain

    with pytest.raises(SpecError, match="unknown colour space 'bogus'"):
        Pipeline([Gain()], output="bogus")


def test_numpy_scalar_overrides_are_range_checked():
    from plugins_builtin.function_stages.piecewise_gain import Gain

    with pytest.raises(ParamError, match="outside the valid range"):
        Gain()(np.ones((1, 1, 3)), {"p_h": np.float32(5.0)})


def test_numerical_inverse_covers_values_above_one():
    from plugins_builtin.function_stages.gamma_tone import GammaTone, GammaToneNumericalInverse

    forward = GammaTone(g1=2.2, g2=0.8, k=0.3)
    x = np.array([[[1.2, 1.5, -1.3]]])
    restored = GammaToneNumericalInverse.from_forward(forward)(forward(x))
    assert np.allclose(restored, x, atol=1e-12)


class FakeGain(Stage):
    name = "gain"

    def apply(self, x, p, xp):
        return x


def _plugin(**hooks):
    return types.SimpleNamespace(**{name: hookimpl(fn) for name, fn in hooks.items()})


def test_a_clashing_third_party_plugin_fails_whole_and_builtins_win():
    from plugins_builtin import function_stages

    host = PluginHost(load_entry_points=False)
    host.register(function_stages, "function_stages", distribution="ispengine", version="0")

    class Extra(Stage):
        name = "extra_stage"

        def apply(self, x, p, xp):
            return x

    def register(register):
        register(Extra)
        register(FakeGain)

    host.register(_plugin(ispengine_register_stages=register), "aaa", distribution="other")
    with pytest.warns(UserWarning, match="aaa"):
        registry = host.registry
    assert registry.get("stage", "gain").plugin == "function_stages"
    assert "extra_stage" not in registry.names("stage")  # all or none
    assert {"gamma_tone", "contrast_stretch"} <= set(registry.names("stage"))
    assert [f.name for f in host.failures] == ["aaa"]


def test_an_inverse_of_an_unregistered_class_is_rejected():
    from ispengine import InverseStage

    class FakeGainInverse(InverseStage):
        name = "fake_gain_inverse"
        forward = FakeGain

        def apply(self, x, p, xp):
            return x

    from plugins_builtin import function_stages

    host = PluginHost(load_entry_points=False)
    host.register(function_stages, "function_stages", distribution="ispengine", version="0")
    host.register(
        _plugin(ispengine_register_inverse_stages=lambda register: register(FakeGainInverse)),
        "sneaky",
    )
    with pytest.warns(UserWarning, match="not the registered one"):
        registry = host.registry
    assert "fake_gain_inverse" not in registry.names("inverse_stage")


def test_plugins_listing_reports_registration_failures(monkeypatch, capsys):
    import ispengine.core.plugins as plugins

    host = PluginHost()
    host.register(_plugin(ispengine_register_stages=lambda register: register(FakeGain)), "zzz")
    monkeypatch.setattr(plugins, "_default_host", host)
    with pytest.warns(UserWarning):
        assert main(["plugins"]) == 0
    assert "FAILED zzz" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("value", "strict"), [("1", True), ("true", True), ("0", False), ("false", False), ("", False)]
)
def test_strict_flag_parsing(monkeypatch, value, strict):
    from ispengine.core.plugins import strict_plugins

    monkeypatch.setenv("ISPENGINE_STRICT_PLUGINS", value)
    assert strict_plugins() is strict
