import types

import pytest

import ispengine.core.plugins as plugins
from ispengine import InverseStage, PluginError, PluginHost, Stage, hookimpl
from ispengine.cli import main
from ispengine.core.errors import UnknownComponentError
from plugins_builtin import function_stages


class Doubler(Stage):
    name = "doubler"

    def apply(self, x, p, xp):
        return 2 * x


def _plugin(**hooks):
    module = types.SimpleNamespace(**{name: hookimpl(fn) for name, fn in hooks.items()})
    return module


def test_builtins_register_through_entry_points():
    host = PluginHost()
    names = {info.name: info for info in host.plugins()}
    assert {"function_stages", "canonical_stages"} <= set(names)
    assert names["function_stages"].distribution == "ispengine"
    assert "ispengine_register_stages" in names["function_stages"].hooks
    record = host.registry.get("stage", "gamma_tone")
    assert record.plugin == "function_stages" and record.distribution == "ispengine"


def test_inverse_kinds_are_recorded():
    registry = PluginHost().registry
    assert registry.inverse_kind("gain") == "exact"
    assert registry.inverse_kinds("gamma_tone") == ["exact", "lut", "numerical"]
    assert registry.inverse_kind("clip") == "none"


def test_a_plugin_object_registers_a_stage():
    host = PluginHost(load_entry_points=False)
    host.register(_plugin(ispengine_register_stages=lambda register: register(Doubler)), "mine")
    assert host.registry.get("stage", "doubler").cls is Doubler
    host.unregister("mine")
    assert host.registry.names("stage") == []


def test_an_srgb_to_raw_name_must_be_a_method_when_looked_up():
    from ispengine.learning.srgb_to_raw import method_class

    host = PluginHost(load_entry_points=False)
    host.register(_plugin(ispengine_register_srgb_to_raw=lambda register: register(Doubler)), "bad")
    with pytest.raises(PluginError, match="plugin 'bad': 'doubler' is not a subclass"):
        method_class("doubler", host.registry)
    with pytest.raises(UnknownComponentError):
        method_class("upi", host.registry)


def test_misspelt_hook_is_an_error():
    host = PluginHost(load_entry_points=False)
    with pytest.raises(PluginError, match="ispengine_register_stage"):
        host.register(_plugin(ispengine_register_stage=lambda register: None), "typo")


def test_name_clash_names_both_sources():
    host = PluginHost(load_entry_points=False)
    host.register(_plugin(ispengine_register_stages=lambda register: register(Doubler)), "first")
    host.register(_plugin(ispengine_register_stages=lambda register: register(Doubler)), "second")
    with pytest.warns(UserWarning, match="first.*second|second.*first"):
        host.registry  # noqa: B018 - building the registry reports the clash
    assert len(host.failures) == 1


def test_unknown_name_suggests_the_nearest():
    registry = PluginHost().registry
    with pytest.raises(UnknownComponentError, match="did you mean 'gamma_tone'"):
        registry.get("stage", "gama_tone")


def _broken_entry_point(monkeypatch):
    from importlib import metadata

    real = metadata.entry_points

    class BrokenEntryPoint:
        name = "broken"
        dist = None

        def load(self):
            raise ImportError("No module named 'nowhere'")

    def fake(group):
        return [*real(group=group), BrokenEntryPoint()]

    monkeypatch.setattr("ispengine.core.plugins.entry_points", fake)


def test_broken_plugin_is_reported_and_others_still_load(monkeypatch):
    _broken_entry_point(monkeypatch)
    host = PluginHost()
    with pytest.warns(UserWarning, match="broken"):
        registry = host.registry
    assert "gain" in registry.names("stage")
    assert [f.name for f in host.failures] == ["broken"]
    assert "nowhere" in host.failures[0].error


def test_strict_mode_makes_a_broken_plugin_fatal(monkeypatch):
    _broken_entry_point(monkeypatch)
    monkeypatch.setenv("ISPENGINE_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="broken"):
        PluginHost().registry  # noqa: B018


def test_registering_a_non_stage_is_rejected():
    host = PluginHost(load_entry_points=False)
    host.register(_plugin(ispengine_register_stages=lambda register: register(dict)), "odd")
    with pytest.warns(UserWarning, match="name"):
        host.registry  # noqa: B018
    assert host.failures


def test_plugins_load_lazily():
    host = PluginHost()
    assert not host._loaded
    host.registry  # noqa: B018
    assert host._loaded


def test_every_hook_is_documented():
    from ispengine.core import hookspecs

    for name in dir(hookspecs):
        if name.startswith("ispengine_"):
            assert getattr(hookspecs, name).__doc__, name


def test_filters_run_in_pipelines_and_have_no_inverse():
    import numpy as np

    from ispengine import ISPEngineError, Pipeline

    host = PluginHost(load_entry_points=False)
    host.register(_plugin(ispengine_register_filters=lambda register: register(Doubler)), "f")
    pipeline = Pipeline.from_dict({"stage": [{"type": "doubler"}]}, registry=host.registry)
    assert pipeline(np.ones((1, 1, 3))).tolist() == [[[2.0, 2.0, 2.0]]]
    with pytest.raises(ISPEngineError, match="no registered inverse"):
        pipeline.inverse()


def test_lossy_operations_register_as_filters_and_invertible_ones_as_stages():
    registry = PluginHost().registry
    filters, stages = set(registry.names("filter")), set(registry.names("stage"))
    assert {"clip", "quantize", "tone_curve", "upi_noise", "gaussian_denoise"} <= filters
    assert {"unet_isp", "mosaic", "gamma_tone", "black_level"} <= stages
    inverted = {r.inverts for r in registry.records("inverse_stage")}
    assert not inverted & filters


def test_an_inverse_of_a_filter_is_refused():
    from ispengine import InverseStage

    class Halver(InverseStage):
        name = "halver"
        forward = Doubler
        method = "exact"

        def apply(self, x, p, xp):
            return x / 2

    host = PluginHost(load_entry_points=False)
    host.register(_plugin(ispengine_register_filters=lambda register: register(Doubler)), "f")
    host.register(_plugin(ispengine_register_inverse_stages=lambda register: register(Halver)), "i")
    with pytest.warns(UserWarning, match="registers as a filter; filters are never inverted"):
        assert host.registry.inverses_of("doubler") == []
    assert [f.name for f in host.failures] == ["i"]


def test_hook_kinds_are_declared_once_in_hookspecs():
    from ispengine import hookspecs, plugins, registry

    component_hooks = {entry.hook for entry in hookspecs.COMPONENT_KINDS.values()}
    declared = {name for name in dir(hookspecs) if name.startswith("ispengine_register_")}
    assert declared - component_hooks == {"ispengine_register_commands"}
    assert set(plugins.HOOK_KINDS) == component_hooks
    assert tuple(hookspecs.COMPONENT_KINDS) == registry.KINDS
    assert registry.KIND_LABELS["srgb_to_raw"] == "sRGB-to-RAW method"


class FakeGain(Stage):
    name = "gain"

    def apply(self, x, p, xp):
        return x


def test_a_clashing_third_party_plugin_fails_whole_and_builtins_win():
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
    class FakeGainInverse(InverseStage):
        name = "fake_gain_inverse"
        forward = FakeGain

        def apply(self, x, p, xp):
            return x

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
    monkeypatch.setenv("ISPENGINE_STRICT_PLUGINS", value)
    assert plugins.strict_plugins() is strict
