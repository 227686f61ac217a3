"""``auto_white_balance`` / ``mosaic_auto_white_balance``: estimates, reporting, edges."""

import logging

import numpy as np
import pytest
from scipy import ndimage

from ispengine import InputError, Pipeline, get_registry
from ispengine.core.cfa import merge_cfa
from plugins_builtin.camera_modules.auto_white_balance import (
    AutoWhiteBalance,
    MosaicAutoWhiteBalance,
    estimate_gains,
    estimate_mosaic_gains,
)

CAST = np.array([0.6, 1.0, 0.8])  # illuminant colour relative to green


def scene(size=(32, 40), batch=()):
    """A smooth, textured grey-world scene (equal channel statistics), then a colour cast."""
    rng = np.random.default_rng(0)
    base = ndimage.gaussian_filter(rng.uniform(0, 1, batch + size), 2.0)[..., None]
    tint = 1 + 0.2 * ndimage.gaussian_filter(rng.standard_normal(batch + size + (3,)), 3.0)
    return base * tint


def test_grey_world_and_white_patch_match_transcribed_formulas():
    x = scene() * CAST
    means = x.reshape(-1, 3).mean(0)
    np.testing.assert_allclose(estimate_gains(x), means[1] / means)
    top = np.percentile(x.reshape(-1, 3), 95, axis=0)
    np.testing.assert_allclose(estimate_gains(x, "white_patch", percentile=95), top[1] / top)
    peak = x.reshape(-1, 3).max(0)
    np.testing.assert_allclose(estimate_gains(x, "white_patch", percentile=100), peak[1] / peak)


def test_grey_edge_matches_scipy_gradient_magnitude():
    """van de Weijer et al. 2007: Minkowski p-norm of the Gaussian gradient magnitude."""
    x = scene() * CAST
    sigma, p = 1.5, 6.0
    edges = np.array(
        [
            np.mean(ndimage.gaussian_gradient_magnitude(x[..., c], sigma) ** p) ** (1 / p)
            for c in range(3)
        ]
    )
    got = estimate_gains(x, "grey_edge", sigma=sigma, p=p)
    np.testing.assert_allclose(got, edges[1] / edges, rtol=1e-10)


@pytest.mark.parametrize("method", ["grey_world", "white_patch", "grey_edge"])
def test_recovers_a_cast_on_a_neutral_scene(method):
    grey = np.repeat(scene()[..., :1], 3, axis=-1)
    gains = estimate_gains(grey * CAST, method, percentile=100.0)
    np.testing.assert_allclose(gains, 1 / CAST, rtol=1e-10)
    balanced = AutoWhiteBalance(method=method, percentile=100.0)(grey * CAST)
    np.testing.assert_allclose(balanced, grey, rtol=1e-10)


def test_stage_reports_its_estimate(caplog):
    x = scene(batch=(2,)) * CAST
    stage = AutoWhiteBalance(method="grey_world")
    with caplog.at_level(logging.INFO, logger="ispengine.camera_modules"):
        stage(x)
    lines = [r.getMessage() for r in caplog.records if r.name == "ispengine.camera_modules"]
    assert len(lines) == 2 and lines[0].startswith("auto_white_balance (grey_world): image 0")
    assert stage.last_gains.shape == (2, 3)
    r, g, b = stage.last_gains[1]
    assert f"R={r:.6g} G=1 B={b:.6g}" in lines[1] and g == 1


def test_gains_clipped_constant_and_black_images():
    x = np.ones((8, 8, 3)) * np.array([0.01, 1.0, 2.0])
    np.testing.assert_allclose(estimate_gains(x, min_gain=0.5, max_gain=3.0), [3.0, 1.0, 0.5])
    np.testing.assert_allclose(estimate_gains(x, "grey_edge"), 1.0)  # no edges: gains 1
    np.testing.assert_allclose(estimate_gains(np.zeros((4, 4, 3))), 1.0)
    with pytest.raises(InputError, match="numpy"):
        estimate_gains([[[1.0, 1.0, 1.0]]])


@pytest.mark.parametrize("pattern", ["rggb", "gbrg"])
def test_mosaic_variant_estimates_from_cfa_planes(pattern, caplog):
    grey = scene(size=(16, 20))[..., 0]
    planes = [grey * CAST[0], grey * CAST[1], grey * CAST[1], grey * CAST[2]]
    mosaic = merge_cfa(planes, pattern, np)
    np.testing.assert_allclose(estimate_mosaic_gains(mosaic, pattern), 1 / CAST, rtol=1e-10)
    stage = MosaicAutoWhiteBalance(pattern=pattern, method="grey_edge")
    with caplog.at_level(logging.INFO, logger="ispengine.camera_modules"):
        out = stage(mosaic)
    np.testing.assert_allclose(out, merge_cfa([grey] * 4, pattern, np), rtol=1e-10)
    assert "mosaic_auto_white_balance (grey_edge)" in caplog.text


def test_registered_as_filters_and_run_from_spec():
    registry = get_registry()
    for name in ("auto_white_balance", "mosaic_auto_white_balance"):
        assert registry.inverse_kind(name) == "none"
    pipe = Pipeline.from_dict(
        {"stage": [{"type": "auto_white_balance", "params": {"method": "grey_edge", "p": 2}}]}
    )
    x = (scene() * CAST).astype(np.float32)
    y = pipe(x)
    assert y.dtype == np.float32 and y.shape == x.shape
