"""Engine errors: one line each, and a ParamError's key travels as data, not text."""

import pickle

import pytest

from ispengine import ParamError, Pipeline, SpecError
from ispengine.core.settings import IntegerSetting, TableSetting, coerce_table, table_error


def test_a_param_error_names_its_key_in_its_text_and_as_an_attribute():
    error = ParamError("expected a number", key="gain")
    assert str(error) == "gain: expected a number"
    assert (error.key, error.message) == ("gain", "expected a number")
    plain = ParamError("stage 2 (gain): something")
    assert plain.key is None and str(plain) == "stage 2 (gain): something"


def test_a_param_error_keeps_its_key_through_pickling():
    back = pickle.loads(pickle.dumps(ParamError("too large", key="crop")))
    assert type(back) is ParamError
    assert (back.key, back.message, str(back)) == ("crop", "too large", "crop: too large")


def test_nested_table_errors_become_dotted_spec_keys():
    declared = (TableSetting("train", (IntegerSetting("steps", 10, "", low=1),)),)
    with pytest.raises(ParamError) as caught:
        coerce_table(declared, {"train": {"steps": 0}}, "an experiment")
    assert caught.value.key == "train.steps"
    spec_error = table_error(caught.value, "x.toml", "protocol.")
    assert isinstance(spec_error, SpecError)
    assert spec_error.key == "protocol.train.steps"
    assert str(spec_error).startswith("x.toml: protocol.train.steps: ")


def test_a_stage_parameter_error_in_a_spec_is_keyed_by_the_parameter():
    spec = {"stage": [{"type": "gain", "params": {"p_w": 2.0}}]}
    with pytest.raises(SpecError) as caught:
        Pipeline.from_dict(spec)
    assert caught.value.key == "params.p_w"
    assert caught.value.stage_index == 1
    assert "outside the valid range" in caught.value.message
