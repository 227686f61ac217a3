import numpy as np
import pytest

from ispengine import ISPEngineError, Pipeline, SpecError

GOOD = {"stage": [{"type": "gain"}, {"type": "gamma_tone", "params": {"g1": 2.2}}]}


def _error(spec) -> str:
    with pytest.raises(SpecError) as caught:
        Pipeline.from_dict(spec, source="isp.toml")
    return str(caught.value)


def test_unknown_envelope_key():
    assert _error({**GOOD, "stages": []}) == (
        "isp.toml: stages: unknown key (did you mean 'stage'? known: description, input, "
        "inverse, name, output, predictor, schema, stage)"
    )


def test_unknown_stage_type_lists_registered_and_suggests_nearest():
    message = _error({"stage": [{"type": "gain"}, {"type": "gamma_tones"}]})
    assert message.startswith("isp.toml: stage 2 (gamma_tones): type: unknown stage")
    assert "did you mean 'gamma_tone'?" in message
    assert "registered: " in message and "color_correction" in message


def test_unknown_stage_key():
    message = _error({"stage": [{"type": "gain", "param": {}}]})
    assert message.startswith("isp.toml: stage 1 (gain): param: unknown key")


def test_out_of_range_parameter_names_stage_and_key():
    message = _error({"stage": [{"type": "gamma_tone", "params": {"g2": 0.3}}]})
    assert message == (
        "isp.toml: stage 1 (gamma_tone): params.g2: value 0.3 is outside the valid range [0.6, 1.5]"
    )


def test_unknown_parameter():
    message = _error({"stage": [{"type": "gain", "params": {"p_z": 0.3}}]})
    assert message.startswith("isp.toml: stage 1 (gain): params.p_z: unknown parameter")


def test_missing_required_parameter():
    message = _error(
        {
            "input": "raw_mosaic",
            "output": "raw_mosaic",
            "stage": [{"type": "black_level", "params": {"white": 1023}}],
        }
    )
    assert message.startswith("isp.toml: stage 1 (black_level): params.black: missing")


def test_ill_conditioned_colour_matrix_is_rejected():
    message = _error(
        {
            "stage": [
                {
                    "type": "color_correction",
                    "params": {"matrix": [[1, 1, 1], [1, 1, 1], [1, 1, 1.01]]},
                }
            ]
        }
    )
    assert "params.matrix: matrix condition number" in message


def test_layout_mismatch_is_reported():
    message = _error({"stage": [{"type": "demosaic_malvar"}]})
    assert message.startswith("isp.toml: stage 1 (demosaic_malvar): expects mosaic input")


def test_inverse_table_for_unknown_stage_label():
    message = _error({**GOOD, "inverse": {"gamma": {"method": "exact"}}})
    assert "inverse.gamma: no stage is named 'gamma'" in message


def test_inverse_method_not_available():
    message = _error({**GOOD, "inverse": {"gain": {"method": "lut"}}})
    assert "inverse.gain: no 'lut' inverse (available: exact)" in message


def test_inverse_setting_is_validated():
    message = _error({**GOOD, "inverse": {"gamma_tone": {"method": "numerical", "max_iter": 0}}})
    assert "inverse.gamma_tone.max_iter: value 0 is outside the valid range" in message


def test_unknown_predictor_is_reported():
    message = _error({**GOOD, "predictor": {"type": "nosuchpredictor"}})
    assert "predictor.type: unknown parameter predictor 'nosuchpredictor'" in message


def test_toml_syntax_error_names_the_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[[stage]\ntype = 'gain'\n")
    with pytest.raises(SpecError, match=r"broken.toml: TOML syntax error"):
        Pipeline.from_toml(path)


def test_duplicate_types_get_distinct_labels():
    pipeline = Pipeline.from_dict({"stage": [{"type": "gain"}, {"type": "gain"}]})
    assert pipeline.labels == ("gain", "gain_2")


def test_inverse_refuses_a_stage_without_inverse():
    pipeline = Pipeline.from_dict({"stage": [{"type": "gain"}, {"type": "clip"}]})
    with pytest.raises(ISPEngineError, match=r"stage 2 \(clip\) has no registered inverse"):
        pipeline.inverse()


def test_numerical_inverse_can_be_chosen_per_stage():
    pipeline = Pipeline.from_dict({**GOOD, "inverse": {"gamma_tone": {"method": "numerical"}}})
    inverse = pipeline.inverse()
    assert [s.name for s in inverse.stages] == ["gamma_tone_numerical_inverse", "gain_inverse"]
    x = np.linspace(0, 1, 12).reshape(2, 2, 3)
    assert np.max(np.abs(inverse(pipeline(x)) - x)) < 1e-12


def test_inverse_of_inverse_is_the_forward():
    pipeline = Pipeline.from_dict(GOOD)
    assert [s.name for s in pipeline.inverse().inverse().stages] == ["gain", "gamma_tone"]


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
