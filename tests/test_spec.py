import pytest

from ispengine import Pipeline, SpecError

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
