import types

import pytest

from ispengine import PluginError, PluginHost, Stage, hookimpl
from ispengine.errors import UnknownComponentError


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
    from ispengine.srgb_to_raw import method_class

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

    monkeypatch.setattr("ispengine.plugins.entry_points", fake)


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
    from ispengine import hookspecs

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
