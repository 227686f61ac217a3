"""Generic invertibility: every registered exact or numerical inverse, over whole declared ranges.

Parametrised from the registry at collection time, so any installed plugin's
stage (the contrib vignetting plugin included) gets this test for free.
"""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ispengine import Pipeline, get_registry
from ispengine.testing import assert_round_trip, stage_examples

INVERTIBLE = [
    record
    for record in get_registry().records("inverse_stage")
    if record.method in ("exact", "numerical")
]


def test_every_builtin_function_stage_is_covered():
    names = {record.inverts for record in INVERTIBLE}
    assert {"color_correction", "gain", "gamma_tone", "contrast_stretch", "inverse_tone"} <= names


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("record", INVERTIBLE, ids=lambda r: r.name)
@given(data=st.data())
def test_inverse_undoes_forward(record, dtype, data):
    example = data.draw(stage_examples(record.cls.forward))
    assert_round_trip(record.cls, example, dtype)


FUNCTION_ISP = """
schema = 1
name = "cc-ga-gm-cs"
input = "camera_rgb"
output = "srgb"
[[stage]]
type = "color_correction"
params = { matrix = [[1.5, -0.35, -0.15], [-0.25, 1.4, -0.15], [0.0, -0.5, 1.5]] }
[[stage]]
type = "gain"
params = { p_x = 0.2, p_w = 0.3, p_h = [0.5, 0.6, 0.7] }
[[stage]]
type = "gamma_tone"
params = { g1 = 2.2, g2 = 0.8, k = 0.3 }
[[stage]]
type = "contrast_stretch"
params = { p_x = 0.5, p_w = 0.4, p_h = 0.55 }
"""


def test_function_isp_from_toml_inverts_to_1e6(tmp_path):
    spec = tmp_path / "isp.toml"
    spec.write_text(FUNCTION_ISP)
    pipeline = Pipeline.from_toml(spec)
    x = np.random.default_rng(1).uniform(0, 1, size=(32, 48, 3))
    restored = pipeline.inverse()(pipeline(x))
    assert np.max(np.abs(restored - x)) <= 1e-6


def _toml_value(value) -> str:
    return repr(np.asarray(value).tolist())


@st.composite
def _function_isp_toml(draw, numerical: bool) -> str:
    """A CC → GA → GM → CS spec as TOML text, parameters drawn over their declared ranges.

    The colour matrix is drawn row-stochastic (non-negative rows summing to 1) so
    colour-corrected pixels stay in [0, 1], where the tone curve is monotone.
    """
    unit = st.floats(0.05, 1.0)
    rows = np.array(draw(st.lists(st.lists(unit, min_size=3, max_size=3), min_size=3, max_size=3)))
    matrix = rows / rows.sum(axis=1, keepdims=True)
    assume(np.linalg.cond(matrix) <= 20)
    window = {"p_x": st.floats(0, 1), "p_w": st.floats(0.05, 0.95), "p_h": st.floats(0.05, 0.95)}
    tone = {"g1": st.floats(0.5, 4.0), "g2": st.floats(0.6, 1.5), "k": st.floats(0.05, 1.0)}

    def table(specs):
        # each parameter drawn as one value for all channels or one per channel
        values = {
            name: draw(st.one_of(strategy, st.lists(strategy, min_size=3, max_size=3)))
            for name, strategy in specs.items()
        }
        return ", ".join(f"{name} = {_toml_value(value)}" for name, value in values.items())

    method = "numerical" if numerical else "exact"
    return (
        'schema = 1\ninput = "camera_rgb"\noutput = "srgb"\n'
        f'[[stage]]\ntype = "color_correction"\nparams = {{ matrix = {_toml_value(matrix)} }}\n'
        f'[[stage]]\ntype = "gain"\nparams = {{ {table(window)} }}\n'
        f'[[stage]]\ntype = "gamma_tone"\nparams = {{ {table(tone)} }}\n'
        f'[[stage]]\ntype = "contrast_stretch"\nparams = {{ {table(window)} }}\n'
        f'[inverse.gamma_tone]\nmethod = "{method}"\n'
    )


@given(data=st.data(), numerical=st.booleans(), seed=st.integers(0, 2**16))
def test_pipelines_from_toml_round_trip_over_parameter_ranges(
    tmp_path_factory, data, numerical, seed
):
    spec = tmp_path_factory.mktemp("spec") / "isp.toml"
    spec.write_text(data.draw(_function_isp_toml(numerical)))
    pipeline = Pipeline.from_toml(spec)
    x = np.random.default_rng(seed).uniform(0, 1, size=(4, 5, 3))
    assert np.max(np.abs(pipeline.inverse()(pipeline(x)) - x)) <= 1e-9
