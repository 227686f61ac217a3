"""The core parameter predictor (:mod:`ispengine.core.predictor`): outputs squashed into every
declared range, squash and unsquash inverse to each other, nothing-to-predict refused.

The predictor type is ``pqdynamic`` (the semiisp plugin's); the squashing is the core's.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from ispengine import Pipeline  # noqa: E402
from ispengine.core.errors import SpecError  # noqa: E402
from ispengine.core.predictor import predicted_params, squash, unsquash  # noqa: E402

FOUR_STAGES = [
    {"type": "color_correction"},
    {"type": "gain"},
    {"type": "gamma_tone"},
    {"type": "contrast_stretch"},
]


def _pipeline(stages=FOUR_STAGES, **predictor):
    return Pipeline.from_dict(
        {
            "name": "t",
            "input": "camera_rgb",
            "output": "srgb",
            "predictor": {"type": "pqdynamic", **predictor},
            "stage": stages,
        }
    )


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@settings(max_examples=25)
@given(
    mode=st.sampled_from(["global", "local"]),
    spec=st.sampled_from(["four", "enhance", "other"]),
    scale=st.floats(0.0, 1e3),
    seed=st.integers(0, 2**16),
    size=st.tuples(st.integers(4, 20), st.integers(4, 20)),
)
def test_predictor_outputs_stay_inside_declared_ranges(mode, spec, scale, seed, size):
    stages = {
        "four": FOUR_STAGES,
        "enhance": [{"type": "inverse_tone"}, *FOUR_STAGES],
        "other": [{"type": "gamma_compression"}, {"type": "white_balance"}],
    }[spec]
    pipeline = _pipeline(stages, mode=mode, resize=16, width=4, grid=2)
    predictor = pipeline.predictor
    with torch.no_grad(), torch.random.fork_rng():
        torch.manual_seed(seed)
        for parameter in predictor.network.parameters():  # push outputs to the range ends
            parameter.copy_(torch.randn_like(parameter) * scale)
    image = np.random.default_rng(seed).random((*size, 3))
    values = predictor(image)
    for item in predictor.params:
        value = values[item.label][item.spec.name]
        lead = size if mode == "local" and item.spec.local else ()
        assert value.shape == lead + item.spec.shape
        assert np.all(value >= item.spec.low) and np.all(value <= item.spec.high), item.key


def test_squash_and_unsquash_invert_each_other_inside_the_range():
    spec = predicted_params(_pipeline())[1].spec  # gain.p_x in [0, 1]
    values = np.linspace(spec.low, spec.high, 11)
    raw = unsquash(values, spec)
    assert np.all(np.isfinite(raw))
    np.testing.assert_allclose(squash(raw, spec, np), values, atol=2e-6)


def test_everything_constant_is_an_error():
    stages = [{"type": "gamma_compression", "params": {"gamma": 2.2}}]
    with pytest.raises(SpecError, match="nothing to predict"):
        _pipeline(stages)
