"""CameraTensors: the per-image camera parameters ParamISP reads."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from ispengine.core.errors import InputError  # noqa: E402
from ispengine.io.raw.image import CaptureParams  # noqa: E402
from plugins_builtin.paramisp.camera_tensors import CameraTensors  # noqa: E402

EYE = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]


def test_columns_order_and_unknown_values():
    captures = [
        CaptureParams(iso=800, exposure_time=0.004, f_number=2.8, focal_length=50),
        CaptureParams(iso=100),
        None,
    ]
    cam = CameraTensors.from_values(captures, [[2.0, 1.0, 1.5]] * 3, [EYE] * 3)
    assert len(cam) == 3
    assert cam.optical[0].tolist() == pytest.approx([50.0, 2.8, 0.004, 800.0])
    assert math.isnan(cam.optical[1, 0].item()) and cam.optical[1, 3].item() == 100.0
    assert torch.isnan(cam.optical[2]).all()
    assert cam.optical.dtype == torch.float32 and cam.ccm.shape == (3, 3, 3)


def test_white_balance_is_normalised_to_green():
    cam = CameraTensors.from_values([None], [[4.0, 2.0, 3.0]], [EYE], dtype=torch.float64)
    assert cam.wb.tolist() == [[2.0, 1.0, 1.5]]
    assert cam.to("cpu").wb.dtype == torch.float64


def test_bad_shapes_are_refused():
    with pytest.raises(InputError, match=r"expected wb \(2, 3\)"):
        CameraTensors.from_values([None, None], [[2.0, 1.0, 1.5]], [EYE])
    with pytest.raises(InputError, match="G gains"):
        CameraTensors.from_values([None], [[2.0, 0.0, 1.5]], [EYE])
