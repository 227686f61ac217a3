"""ParamISP's CanoNet: the engine's canonical stages on torch batches."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ispengine.core.errors import InputError  # noqa: E402
from ispengine.core.pipeline import Pipeline  # noqa: E402
from ispengine.specs import resolve_spec, shipped_specs  # noqa: E402
from plugins_builtin.paramisp.canonet import (  # noqa: E402
    canonical_forward,
    canonical_inverse,
    pipelines,
)

pytestmark = pytest.mark.usefixtures("torch_one_thread")

WB = [[2.0, 1.0, 1.5], [1.7, 1.0, 1.3]]
CCM = [
    [[1.6, -0.4, -0.2], [-0.2, 1.5, -0.3], [0.0, -0.5, 1.5]],
    [[1.8, -0.6, -0.2], [-0.3, 1.6, -0.3], [0.1, -0.6, 1.5]],
]


def values(dtype=torch.float64):
    return torch.tensor(WB, dtype=dtype), torch.tensor(CCM, dtype=dtype)


def test_spec_is_shipped_and_inverse_has_no_clip():
    assert "paramisp_canonet" in shipped_specs()
    forward, inverse = pipelines("rggb")
    assert [s.name for s in forward.stages] == [
        "demosaic_malvar",
        "white_balance",
        "clip",
        "camera_to_srgb",
    ]
    assert [s.name for s in inverse.stages] == [
        "camera_to_srgb_inverse",
        "white_balance_inverse",
        "demosaic_malvar_inverse",
    ]


@pytest.mark.parametrize("pattern", ["rggb", "gbrg"])
def test_forward_matches_numpy_pipeline(pattern):
    torch.manual_seed(0)
    mosaic = torch.rand(2, 8, 10, dtype=torch.float64)
    wb, ccm = values()
    out = canonical_forward(mosaic, pattern, wb, ccm)
    assert out.shape == (2, 3, 8, 10)
    reference = Pipeline.from_toml(resolve_spec("paramisp_canonet"))
    for k in range(2):
        metadata = {"cfa_pattern": pattern, "wb_gains": WB[k], "camera_to_srgb": CCM[k]}
        expected = reference(mosaic[k].numpy(), metadata=metadata)
        np.testing.assert_allclose(out[k].permute(1, 2, 0).numpy(), expected, atol=1e-12)


def test_clip_then_matrix():
    wb, ccm = values()
    out = canonical_forward(torch.ones(2, 4, 4, dtype=torch.float64), "rggb", wb, ccm)
    # WB pushes R and B above 1; clipped to 1 before the matrix: M · [1, 1, 1].
    expected = torch.tensor(CCM, dtype=torch.float64).sum(-1)
    assert torch.allclose(out[:, :, 2, 2], expected)


def test_round_trip_and_gradients():
    torch.manual_seed(1)
    mosaic = (0.4 * torch.rand(2, 6, 8, dtype=torch.float64)).requires_grad_()
    wb, ccm = values()
    linear = canonical_forward(mosaic, "bggr", wb, ccm)
    back = canonical_inverse(linear, "bggr", wb, ccm)
    assert back.shape == mosaic.shape
    assert torch.allclose(back, mosaic, atol=1e-12)
    back.sum().backward()
    assert mosaic.grad.abs().sum() > 0


def test_inverse_does_not_clip():
    wb, ccm = values()
    big = torch.full((2, 3, 4, 4), 2.0, dtype=torch.float64)
    raw = canonical_inverse(big, "rggb", wb, ccm)
    assert raw.max() > 1.0


def test_float32_and_bad_shapes():
    wb, ccm = values(torch.float32)
    out = canonical_forward(torch.rand(2, 4, 4), "rggb", wb, ccm)
    assert out.dtype == torch.float32
    with pytest.raises(InputError):
        canonical_forward(torch.rand(2, 4, 4), "rggb", wb[:1], ccm[:1])
    with pytest.raises(InputError):
        canonical_inverse(torch.rand(2, 4, 4), "rggb", wb, ccm)
