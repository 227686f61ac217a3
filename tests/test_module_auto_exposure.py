"""``auto_exposure``: mean and histogram metering, gain clip, reporting, edges."""

import logging

import numpy as np
import pytest

from ispengine import InputError, ParamError, Pipeline, get_registry
from plugins_builtin.camera_modules.auto_exposure import AutoExposure, estimate_gain

WEIGHTS = np.array([0.2126, 0.7152, 0.0722])


def image(batch=()):
    return np.random.default_rng(0).uniform(0, 0.2, batch + (16, 20, 3))


def test_mean_mode_brings_mean_luminance_to_target():
    x = image()
    gain = estimate_gain(x, target=0.18)
    assert gain == pytest.approx(0.18 / np.mean(x @ WEIGHTS))
    y = AutoExposure()(x)
    assert np.mean(y @ WEIGHTS) == pytest.approx(0.18)


def test_histogram_mode_places_the_percentile():
    x = image()
    y = AutoExposure(mode="histogram", percentile=99, target_percentile_value=0.9)(x)
    assert np.percentile(y @ WEIGHTS, 99) == pytest.approx(0.9)
    gain = estimate_gain(x, "histogram", percentile=50, target_percentile_value=0.5)
    assert gain == pytest.approx(0.5 / np.median(x @ WEIGHTS))


def test_gain_clipped_black_and_batch():
    assert estimate_gain(np.full((4, 4, 3), 1e-4), max_gain=8.0) == 8.0
    assert estimate_gain(np.zeros((4, 4, 3))) == 16.0  # black: the largest gain
    assert estimate_gain(np.full((4, 4, 3), 0.9), target=0.05, min_gain=0.5) == 0.5
    x = image(batch=(2,)) * np.array([1.0, 0.25])[:, None, None, None]
    stage = AutoExposure()
    y = stage(x)
    assert stage.last_gain.shape == (2,)
    np.testing.assert_allclose(np.mean(y @ WEIGHTS, axis=(1, 2)), 0.18)
    with pytest.raises(InputError, match="numpy"):
        estimate_gain([[[0.1, 0.1, 0.1]]])
    with pytest.raises(ParamError, match="target"):
        AutoExposure(target=0.95)


def test_stage_reports_its_gain(caplog):
    stage = AutoExposure(mode="histogram")
    with caplog.at_level(logging.INFO, logger="ispengine.camera_modules"):
        stage(image())
    (line,) = [r.getMessage() for r in caplog.records if r.name == "ispengine.camera_modules"]
    assert line == f"auto_exposure (histogram): image 0 gain {stage.last_gain:.6g}"


def test_registered_as_filter_and_runs_from_spec():
    assert get_registry().inverse_kind("auto_exposure") == "none"
    pipe = Pipeline.from_dict(
        {
            "stage": [
                {"type": "auto_exposure", "params": {"target": 0.25}},
                {"type": "global_tone_map"},
            ]
        }
    )
    x = image().astype(np.float32)
    assert pipe(x).dtype == np.float32
