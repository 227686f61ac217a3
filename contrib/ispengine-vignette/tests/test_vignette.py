import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from ispengine_vignette import Vignette, VignetteCorrection

from ispengine import Pipeline
from ispengine.testing import assert_round_trip, stage_examples


def test_centre_is_darkened_least():
    image = np.ones((9, 9, 3))
    shaded = Vignette(k1=0.5, k2=0.2)(image)
    assert shaded[4, 4, 0] > shaded[0, 0, 0]
    assert np.allclose(shaded[0, 0], 1 / (1 + 0.5 * (64 / 81) + 0.2 * (64 / 81) ** 2))


@settings(max_examples=50, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(["float64", "float32"]))
def test_round_trip(data, dtype):
    assert_round_trip(VignetteCorrection, data.draw(stage_examples(Vignette)), dtype)


def test_in_a_pipeline():
    pipeline = Pipeline.from_dict(
        {"stage": [{"type": "vignette", "params": {"k1": 1.0}}, {"type": "gain"}]}
    )
    x = np.random.default_rng(0).uniform(0, 1, (6, 8, 3))
    assert np.allclose(pipeline.inverse()(pipeline(x)), x, atol=1e-12)


def test_per_image_parameters():
    batch = np.random.default_rng(1).uniform(0, 1, (2, 4, 6, 3))
    k1 = np.array([[0.1, 0.2, 0.3], [1.0, 1.5, 2.0]])
    cx = np.array([0.0, 0.2])
    shaded = Vignette()(batch, {"k1": k1, "cx": cx})
    for i in range(2):
        alone = Vignette(k1=k1[i], cx=cx[i])(batch[i])
        assert np.allclose(shaded[i], alone)
