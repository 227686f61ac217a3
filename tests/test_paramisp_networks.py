"""ParamISP networks: sizes, shapes, the ParamNet equalisation, dropout and gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ispengine.core.errors import InputError, ParamError  # noqa: E402
from ispengine.io.raw.image import CaptureParams  # noqa: E402
from plugins_builtin.paramisp.camera_tensors import CameraTensors  # noqa: E402
from plugins_builtin.paramisp.encoding import (  # noqa: E402
    EQUALISATION,
    equalise,
    equalise_numpy,
)
from plugins_builtin.paramisp.features import (  # noqa: E402
    feature_map,
    overexposure_mask,
    sobel_gradients,
    soft_histogram,
)
from plugins_builtin.paramisp.networks import (  # noqa: E402
    CONFIGS,
    ParamISPNet,
    apply_tone,
    count_parameters,
)

pytestmark = pytest.mark.usefixtures("torch_one_thread")

CCM = [[1.6, -0.4, -0.2], [-0.2, 1.5, -0.3], [0.0, -0.5, 1.5]]


def camera(n: int, captures=None) -> CameraTensors:
    captures = (
        captures
        or [CaptureParams(iso=200, exposure_time=1 / 60, f_number=4.0, focal_length=35.0)] * n
    )
    wb = [[2.0 + 0.1 * k, 1.0, 1.5] for k in range(n)]
    return CameraTensors.from_values(captures, wb, [CCM] * n)


@pytest.fixture(scope="module")
def published():
    torch.manual_seed(0)
    return ParamISPNet("forward", "published")


def test_published_parameter_counts(published):
    # GlobalNet 147,996 + LocalNet 535,393 + injections 2 × 4,160 + ParamNet 18,176.
    assert (
        count_parameters(published.tonenet) - count_parameters(published.tonenet.fc_embed)
        == 147_996
    )
    assert (
        count_parameters(published.localnet) - count_parameters(published.localnet.fc_head)
        == 535_393
    )
    assert count_parameters(published.tonenet.fc_embed) == 4_160
    assert count_parameters(published.localnet.fc_head) == 4_160
    assert count_parameters(published.paramnet) == 18_176
    assert count_parameters(published) == 709_885
    assert 700_000 <= count_parameters(ParamISPNet("inverse")) <= 720_000


def test_without_paramnet_has_no_injection():
    net = ParamISPNet("inverse", "small", use_paramnet=False)
    assert net.paramnet is None and net.tonenet.fc_embed is None
    assert net.localnet.fc_head is None
    assert net(torch.rand(1, 3, 8, 8)).shape == (1, 3, 8, 8)


def test_published_forward_runs_once(published):
    with torch.no_grad():
        y = published(torch.rand(1, 3, 96, 96), camera(1))
    assert y.shape == (1, 3, 96, 96) and torch.isfinite(y).all()


@pytest.mark.parametrize("direction", ["forward", "inverse"])
@pytest.mark.parametrize("size", [(30, 46), (130, 98), (2, 2), (5, 7)])
def test_any_size_is_padded_and_cropped(direction, size):
    torch.manual_seed(1)
    net = ParamISPNet(direction, "small").eval()
    x = torch.rand(2, 3, *size)
    with torch.no_grad():
        y = net(x, camera(2))
    assert y.shape == x.shape and torch.isfinite(y).all()


def test_bad_inputs_are_refused():
    net = ParamISPNet("forward", "small")
    with pytest.raises(InputError):
        net(torch.rand(1, 4, 8, 8), camera(1))
    with pytest.raises(InputError):
        net(torch.rand(2, 3, 8, 8), camera(1))
    with pytest.raises(ParamError):
        ParamISPNet("sideways")
    with pytest.raises(ParamError):
        ParamISPNet("forward", "huge")
    with pytest.raises(ParamError):
        ParamISPNet("forward", optical=("shutter",))


def test_equalisation_known_values():
    x = torch.tensor([50.0], dtype=torch.float64)
    e = equalise(x, "focal_length")[0].numpy()
    assert e.shape == (15,)
    assert e[0] == pytest.approx(0.25)
    assert e[1] == pytest.approx(0.5)
    assert e[3] == pytest.approx(4.2 / 50)
    assert e[6] == pytest.approx((math.log2(50) - 1.9) / 5.8)
    assert e[9] == pytest.approx(math.sin(1.0))
    assert e[14] == pytest.approx(math.cos(2.5))
    t = equalise(torch.tensor([1 / 28800], dtype=torch.float64), "exposure_time")[0]
    assert t[3].item() == pytest.approx(1.0)
    assert t[6].item() == pytest.approx((math.log2(1 / 28800) + 15) / 20)
    assert equalise(torch.tensor([0.0]), "iso")[0, 0].item() == pytest.approx(1e-12 / 8000)
    np.testing.assert_allclose(
        equalise_numpy([64.0, 800.0], "iso"),
        equalise(torch.tensor([64.0, 800.0], dtype=torch.float64), "iso").numpy(),
    )
    assert EQUALISATION["exposure_time"].unit == "s"


def test_missing_value_equals_dropped_encoding():
    net = ParamISPNet("forward", "small").eval()
    full = camera(1)
    missing = camera(1, [CaptureParams(iso=200, exposure_time=1 / 60, f_number=4.0)])
    assert math.isnan(missing.optical[0, 0].item())
    codes = net.paramnet.encodings(missing.optical)
    assert torch.equal(codes[0], torch.zeros(1, 15))
    assert not torch.equal(net.paramnet.encodings(full.optical)[0], codes[0])
    left_out = ParamISPNet("forward", "small", optical=("f_number", "exposure_time", "iso"))
    left_out.load_state_dict(net.state_dict())
    left_out.eval()
    with torch.no_grad():
        assert torch.equal(left_out.paramnet(full), net.paramnet(missing))
        assert not torch.equal(net.paramnet(full), net.paramnet(missing))
        unknown = camera(1, [None])
        assert torch.isfinite(net.paramnet(unknown)).all()


def test_dropout_only_in_training():
    net = ParamISPNet("forward", "small", dropout=0.5)
    optical = camera(64).optical
    net.eval()
    assert all(bool((c != 0).any(dim=1).all()) for c in net.paramnet.encodings(optical))
    net.train()
    torch.manual_seed(3)
    dropped = torch.stack([~(c != 0).any(dim=1) for c in net.paramnet.encodings(optical)])
    assert 0.2 < dropped.float().mean().item() < 0.8
    assert ParamISPNet("forward", "small", dropout=0.0).train().paramnet.dropout == 0.0


def test_plain_ablation_uses_one_value():
    net = ParamISPNet("forward", "small", equalise=False).eval()
    assert net.paramnet.embed_focallen.in_features == 1
    codes = net.paramnet.encodings(camera(1).optical)
    assert codes[0].item() == pytest.approx(35.0 / 200.0)


def test_gradients_reach_every_part():
    torch.manual_seed(2)
    net = ParamISPNet("inverse", "small")
    x = torch.rand(2, 3, 12, 12, requires_grad=True)
    net(x, camera(2)).square().mean().backward()
    assert x.grad.abs().sum() > 0
    for name in (
        "tonenet.convs.0.weight",
        "localnet.conv_head.weight",
        "paramnet.embed_color.weight",
    ):
        grad = dict(net.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_features_layout_and_mask_variants():
    x = torch.rand(1, 3, 6, 7)
    mask = overexposure_mask(x, "code")
    f = feature_map(x, mask)
    assert f.shape == (1, 96, 6, 7)
    assert torch.equal(f[:, :3], x) and torch.equal(f[:, -3:], mask)
    ramp = torch.arange(7.0).repeat(1, 3, 6, 1)
    g = sobel_gradients(ramp)
    assert torch.allclose(g[0, 0, :, 1:-1], torch.ones(6, 5))  # dx of R, slope 1
    assert torch.allclose(g[0, 1], torch.zeros(6, 7))  # dy of R
    assert g[0, 0, 0, 0].item() == pytest.approx(0.5)  # replicate padding
    h = soft_histogram(torch.full((1, 3, 1, 1), 1 / 3), 4)
    assert h[0, :4, 0, 0].tolist() == pytest.approx([0.0, 1.0, 0.0, 0.0])
    v = torch.tensor([0.9, 0.95, 1.0]).view(1, 3, 1, 1)
    assert overexposure_mask(v, "paper").flatten().tolist() == pytest.approx([0.0, 0.5, 1.0])
    assert overexposure_mask(v, "code").flatten().tolist() == pytest.approx([0.0, 0.0, 1.0])


def test_tone_stage_identity_and_order():
    y = torch.rand(1, 3, 4, 4)
    w = torch.zeros(1, 39)
    w[:, 36:] = 0.0  # t1 = 1, t0 = 0, gamma = 1: identity
    assert torch.allclose(apply_tone(y, w), y, atol=1e-6)
    w[0, 3 * 3 + 0] = 0.5  # term 3 (r) into channel R: r -> 1.5 r, then gamma 1
    out = apply_tone(y, w)
    assert torch.allclose(out[:, 0], 1.5 * y[:, 0], atol=1e-6)
    assert torch.allclose(out[:, 1:], y[:, 1:], atol=1e-6)
    w = torch.zeros(1, 39)
    w[0, 30] = math.log(2.0)  # gamma 2 on R
    assert torch.allclose(apply_tone(y, w)[:, 0], y[:, 0] ** 2, atol=1e-5)


def test_small_config_is_cheap():
    assert count_parameters(ParamISPNet("forward", CONFIGS["small"])) < 100_000
