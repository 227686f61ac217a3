"""Pipelines: construction (TOML, dict, Python), calling, per-call params by label,
values bound from metadata, the choice of each stage's inverse, and the repr."""

import numpy as np
import pytest

from ispengine import ISPEngineError, ParamError, Pipeline, SpecError
from ispengine.io.raw import RawImage
from plugins_builtin.function_stages.gamma_tone import GammaTone
from plugins_builtin.function_stages.piecewise_gain import Gain, GainInverse

GOOD = {"stage": [{"type": "gain"}, {"type": "gamma_tone", "params": {"g1": 2.2}}]}

WB_FROM_METADATA = {
    "input": "raw_mosaic",
    "output": "raw_mosaic",
    "stage": [
        {
            "type": "mosaic_white_balance",
            "from_metadata": {"gains": "wb_gains", "pattern": "cfa_pattern"},
        }
    ],
}


# -- construction -------------------------------------------------------------------------
def test_python_stages_keep_their_labels_and_run_in_order():
    pipeline = Pipeline([("exposure", Gain(p_h=0.7)), GammaTone(g1=2.2)], name="mine")
    assert pipeline.labels == ("exposure", "gamma_tone")
    assert [s.name for s in pipeline.stages] == ["gain", "gamma_tone"]
    x = np.linspace(0, 1, 12).reshape(2, 2, 3)
    expected = pipeline.stages[1](pipeline.stages[0](x))
    np.testing.assert_array_equal(pipeline(x, fuse=False), expected)
    np.testing.assert_allclose(pipeline(x), expected, atol=1e-12)


def test_an_empty_pipeline_is_refused():
    with pytest.raises(SpecError, match="at least one stage"):
        Pipeline([])


def test_from_toml_names_the_file_in_errors(tmp_path):
    path = tmp_path / "isp.toml"
    path.write_text('schema = 1\n[[stage]]\ntype = "gain"\nparams = { p_h = 5.0 }\n')
    with pytest.raises(SpecError, match=r"isp.toml: stage 1 \(gain\): params.p_h"):
        Pipeline.from_toml(path)


def test_duplicate_types_get_distinct_labels():
    pipeline = Pipeline.from_dict({"stage": [{"type": "gain"}, {"type": "gain"}]})
    assert pipeline.labels == ("gain", "gain_2")


def test_python_pipelines_validate_their_colour_spaces():
    with pytest.raises(SpecError, match="unknown colour space 'bogus'"):
        Pipeline([Gain()], output="bogus")


# -- calling ------------------------------------------------------------------------------
def test_per_call_parameters_by_stage_label():
    pipeline = Pipeline.from_dict({"stage": [{"type": "gain", "name": "exposure"}]})
    x = np.full((1, 1, 3), 0.1)
    brighter = pipeline(x, {"exposure": {"p_x": 0.0, "p_w": 0.2, "p_h": 0.8}})
    assert np.all(brighter > x)
    with pytest.raises(ISPEngineError, match="no stage is labelled 'gain'"):
        pipeline(x, {"gain": {}})


@pytest.mark.parametrize(
    "bad", [np.full((2, 2, 3), np.nan), np.ones((2, 2, 4)), np.ones((2, 2, 3), int)]
)
def test_bad_images_are_rejected(bad):
    with pytest.raises(ISPEngineError):
        Pipeline.from_dict(GOOD)(bad)


# -- metadata bindings --------------------------------------------------------------------
def _raw(pattern="grbg", gains=(2.0, 1.0, 1.5)):
    mosaic = np.random.default_rng(0).uniform(0.1, 0.4, (4, 6))
    return RawImage(mosaic, pattern, 0.0, 1.0, gains, normalized=True)


def test_bind_takes_values_from_metadata_and_equals_the_call():
    pipeline = Pipeline.from_dict(WB_FROM_METADATA)
    raw = _raw()
    bound = pipeline.bind(raw.metadata())
    assert bound.bindings == {}
    stage = bound.stages[0]
    assert stage.config["pattern"] == "grbg"
    np.testing.assert_array_equal(stage.values["gains"], [2.0, 1.0, 1.5])
    mosaic = raw.mosaic.astype(np.float64)
    np.testing.assert_array_equal(pipeline(raw), bound(mosaic))
    np.testing.assert_array_equal(pipeline(mosaic, metadata=raw.metadata()), bound(mosaic))
    restored = pipeline.inverse()(bound(mosaic), metadata=raw.metadata())
    np.testing.assert_allclose(restored, mosaic, atol=1e-12)


def test_bindings_need_metadata_with_the_keys_in_range():
    pipeline = Pipeline.from_dict(WB_FROM_METADATA)
    mosaic = _raw().mosaic
    with pytest.raises(ParamError, match="from the input's metadata"):
        pipeline(mosaic)
    with pytest.raises(ParamError, match="'wb_gains', which the input does not have"):
        pipeline.bind({"cfa_pattern": "rggb"})
    with pytest.raises(ParamError, match=r"stage 1 \(mosaic_white_balance\), from metadata"):
        pipeline.bind({"cfa_pattern": "rggb", "wb_gains": [50.0, 1.0, 1.0]})


# -- inverse choice -----------------------------------------------------------------------
def test_the_most_accurate_inverse_is_the_default():
    pipeline = Pipeline.from_dict(GOOD)
    assert type(pipeline.inverse().stages[1]) is GainInverse
    assert [s.name for s in pipeline.inverse().stages] == ["gamma_tone_inverse", "gain_inverse"]
    lut = Pipeline.from_dict({**GOOD, "inverse": {"gamma_tone": {"method": "lut"}}})
    assert lut.inverse().stages[0].name == "gamma_tone_lut_inverse"


def test_numerical_inverse_can_be_chosen_per_stage():
    pipeline = Pipeline.from_dict({**GOOD, "inverse": {"gamma_tone": {"method": "numerical"}}})
    inverse = pipeline.inverse()
    assert [s.name for s in inverse.stages] == ["gamma_tone_numerical_inverse", "gain_inverse"]
    x = np.linspace(0, 1, 12).reshape(2, 2, 3)
    assert np.max(np.abs(inverse(pipeline(x)) - x)) < 1e-12


def test_inverse_refuses_a_stage_without_inverse():
    pipeline = Pipeline.from_dict({"stage": [{"type": "gain"}, {"type": "clip"}]})
    with pytest.raises(ISPEngineError, match=r"stage 2 \(clip\) has no registered inverse"):
        pipeline.inverse()


def test_inverse_of_inverse_is_the_forward():
    pipeline = Pipeline.from_dict(GOOD)
    assert [s.name for s in pipeline.inverse().inverse().stages] == ["gain", "gamma_tone"]


# -- repr ---------------------------------------------------------------------------------
def test_repr_shows_spaces_labels_and_types():
    pipeline = Pipeline([("exposure", Gain()), GammaTone(g1=2.2)], name="mine")
    assert repr(pipeline) == (
        "Pipeline('mine': camera_rgb -> [exposure:gain -> gamma_tone:gamma_tone] -> srgb)"
    )
    assert repr(pipeline.inverse()) == (
        "Pipeline('mine-inverse': srgb -> "
        "[gamma_tone:gamma_tone_inverse -> exposure:gain_inverse] -> camera_rgb)"
    )
