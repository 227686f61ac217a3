"""``edge_enhancement``: fast-openISP's eeh transcribed, thresholds, edges, declarations."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ispengine import ParamError, Pipeline, get_registry
from plugins_builtin.camera_modules.edge_enhancement import EdgeEnhancement


def fast_openisp_edge_map(y: np.ndarray) -> np.ndarray:
    """``y`` minus fast-openISP's 5x5 Gaussian (sigma 1.2, reflect borders), in floats."""
    k = np.arange(5) - 2
    kernel = np.exp(-(k[:, None] ** 2 + k[None, :] ** 2) / (2 * 1.2**2))
    padded = np.pad(y, 2, mode="reflect")
    h, w = y.shape
    blurred = (
        sum(kernel[u, v] * padded[u : u + h, v : v + w] for u in range(5) for v in range(5))
        / kernel.sum()
    )
    return y - blurred


def fast_openisp_eeh(y, gain, t1, t2, cap):
    """modules/eeh.py of fast-openISP in floats (gain /256 and thresholds /255 applied)."""
    delta = fast_openisp_edge_map(y)
    a = np.abs(delta)
    slope = gain * t2 / max(t2 - t1, 1e-12)
    middle = slope * a - gain * t1 * t2 / max(t2 - t1, 1e-12)
    enhanced = (a > t1) * (a <= t2) * middle + (a > t2) * gain * a
    return np.clip(y + np.sign(delta) * np.clip(enhanced, 0, cap), 0, 1)


thresholds = st.tuples(st.floats(0, 1), st.floats(0, 1)).map(sorted)


@settings(max_examples=40, deadline=None)
@given(
    gain=st.floats(0, 16),
    pair=thresholds,
    cap=st.floats(0, 1),
    seed=st.integers(0, 2**16),
)
def test_matches_fast_openisp(gain, pair, cap, seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (9, 10, 3)) * rng.uniform(0, 1)
    t1, t2 = pair
    stage = EdgeEnhancement(
        edge_gain=gain, flat_threshold=t1, edge_threshold=t2, delta_threshold=cap
    )
    out = stage(x)
    np.testing.assert_allclose(
        out[..., 0], fast_openisp_eeh(x[..., 0], gain, t1, t2, cap), atol=1e-9
    )
    np.testing.assert_array_equal(out[..., 1:], x[..., 1:])


def test_defaults_are_the_test_configuration():
    stage = EdgeEnhancement()
    assert float(stage.values["edge_gain"]) == 384 / 256
    assert float(stage.values["flat_threshold"]) * 255 == pytest.approx(4)
    assert float(stage.values["edge_threshold"]) * 255 == pytest.approx(8)
    assert float(stage.values["delta_threshold"]) * 255 == pytest.approx(64)


def test_flat_noise_is_cored_edges_sharpened_and_batches():
    rng = np.random.default_rng(1)
    noise = 0.5 + rng.uniform(-1, 1, (2, 16, 16)) / 255  # below the flat threshold
    x = np.stack([noise, np.full_like(noise, 0.4), np.full_like(noise, 0.6)], -1)
    np.testing.assert_array_equal(EdgeEnhancement()(x), x)
    step = np.where(np.arange(16) < 8, 0.3, 0.7)[None, :].repeat(16, 0)
    y = EdgeEnhancement()(np.stack([step, step, step], -1))[..., 0]
    assert y[0, 7] < 0.3 < 0.7 < y[0, 8]  # overshoot on both sides of the edge
    per_pixel_gain = np.zeros((2, 16, 16))
    np.testing.assert_array_equal(EdgeEnhancement()(x, {"edge_gain": per_pixel_gain}), x)
    assert EdgeEnhancement()(x.astype(np.float32)).dtype == np.float32


def test_declarations_registry_and_pipeline():
    with pytest.raises(ParamError, match="edge_threshold"):
        EdgeEnhancement(flat_threshold=0.2, edge_threshold=0.1)
    with pytest.raises(ParamError):
        EdgeEnhancement(edge_gain=17.0)
    assert "edge_enhancement" in get_registry().names("filter")
    pipe = Pipeline.from_dict(
        {"stage": [{"type": "edge_enhancement", "params": {"edge_gain": 2.0}}]}
    )
    x = np.random.default_rng(2).uniform(0, 1, (8, 8, 3))
    np.testing.assert_allclose(pipe(x), EdgeEnhancement(edge_gain=2.0)(x))
