"""``false_colour_suppression``: fast-openISP's fcs transcribed, its order with eeh, edges."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ispengine import ParamError, Pipeline, get_registry
from plugins_builtin.camera_modules.edge_enhancement import EdgeEnhancement
from plugins_builtin.camera_modules.false_colour import FalseColourSuppression
from tests.test_module_edge_enhancement import fast_openisp_edge_map


def fast_openisp_fcs(cbcr, edge, low, high):
    """modules/fcs.py of fast-openISP in floats (thresholds /255 applied, neutral 0.5)."""
    slope = -1.0 / max(high - low, 1e-12)
    gain = np.clip(slope * (np.abs(edge) - high), 0, 1)
    return gain[..., None] * (cbcr - 0.5) + 0.5


@settings(max_examples=40, deadline=None)
@given(
    pair=st.tuples(st.floats(0, 1), st.floats(0, 1)).map(sorted),
    seed=st.integers(0, 2**16),
)
def test_matches_fast_openisp(pair, seed):
    low, high = pair
    x = np.random.default_rng(seed).uniform(0, 1, (9, 10, 3))
    out = FalseColourSuppression(delta_min=low, delta_max=high)(x)
    ref = fast_openisp_fcs(x[..., 1:], fast_openisp_edge_map(x[..., 0]), low, high)
    if high - low > 1e-9:
        np.testing.assert_allclose(out[..., 1:], ref, atol=1e-9)
    np.testing.assert_array_equal(out[..., 0], x[..., 0])
    assert np.all(np.abs(out[..., 1:] - 0.5) <= np.abs(x[..., 1:] - 0.5) + 1e-12)


def test_before_edge_enhancement_reproduces_fast_openisp_order():
    """fast-openISP runs eeh then fcs with eeh's (pre-enhancement) edge map."""
    x = np.random.default_rng(1).uniform(0, 1, (12, 12, 3))
    ours = Pipeline.from_dict(
        {"stage": [{"type": "false_colour_suppression"}, {"type": "edge_enhancement"}]}
    )(x)
    enhanced = EdgeEnhancement()(x)
    theirs_cbcr = fast_openisp_fcs(x[..., 1:], fast_openisp_edge_map(x[..., 0]), 8 / 255, 32 / 255)
    np.testing.assert_allclose(ours[..., 0], enhanced[..., 0], atol=1e-12)
    np.testing.assert_allclose(ours[..., 1:], theirs_cbcr, atol=1e-9)


def test_flat_luma_keeps_chroma_strong_edges_neutral_equal_thresholds_and_batches():
    rng = np.random.default_rng(2)
    x = np.concatenate([np.full((2, 8, 8, 1), 0.5), rng.uniform(0, 1, (2, 8, 8, 2))], -1)
    np.testing.assert_array_equal(FalseColourSuppression()(x), x)
    step = np.where(np.arange(8) < 4, 0.0, 1.0)[None, :].repeat(8, 0)
    y = FalseColourSuppression()(np.concatenate([step[..., None], x[0, ..., 1:]], -1))
    np.testing.assert_allclose(y[:, 3:5, 1:], 0.5)  # the edge's columns are neutral
    z = FalseColourSuppression(delta_min=0.1, delta_max=0.1)(
        np.concatenate([step[..., None], x[0, ..., 1:]], -1)
    )
    np.testing.assert_allclose(z[:, 3:5, 1:], 0.5)
    np.testing.assert_array_equal(z[:, 0, 1:], x[0, :, 0, 1:])
    assert FalseColourSuppression()(x.astype(np.float32)).dtype == np.float32


def test_declarations_registry_and_pipeline():
    with pytest.raises(ParamError, match="delta_max"):
        FalseColourSuppression(delta_min=0.3, delta_max=0.2)
    assert "false_colour_suppression" in get_registry().names("filter")
    assert get_registry().inverse_kind("false_colour_suppression") == "none"
