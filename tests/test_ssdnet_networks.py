"""SSDNet networks: sizes, the authors' checkpoint layout, shapes, padding, seeding,
gradients, the bias-free layer norm and configuration checks."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from ispengine.core.errors import InputError, ParamError  # noqa: E402
from plugins_builtin.ssdnet.networks import (  # noqa: E402
    CONFIGS,
    ChannelNorm,
    SSDNet,
    SSDNetConfig,
    build,
    count_parameters,
)

pytestmark = pytest.mark.usefixtures("torch_one_thread")

PUBLISHED_WITH_ERROR = 36_241_628
PUBLISHED_WITHOUT_ERROR = 35_563_936
SMALL_WITH_ERROR = 260_998
SMALL_WITHOUT_ERROR = 254_081

#: A representative subset of the authors' checkpoint layout (published, with the error branch).
LAYOUT = {
    "pack_fist.weight": (3, 3, 3, 3),
    "patch_embed.proj.weight": (48, 3, 3, 3),
    "encoder_level1.0.norm1.body.weight": (48,),
    "encoder_level1.3.ffn.project_in.weight": (254, 48, 1, 1),
    "encoder_level1.0.ffn.project_out.weight": (48, 127, 1, 1),
    "encoder_level1.0.attn.bigk.bigk.bias": (48,),
    "down1_2.body.0.weight": (24, 48, 3, 3),
    "encoder_level2.5.ffn.dwconv.weight": (510, 1, 3, 3),
    "encoder_level3.0.attn.conv2atten.conv_du.2.weight": (192, 192, 1, 1),
    "encoder_level3.5.ffn.project_out.weight": (192, 510, 1, 1),
    "down3_4.body.0.weight": (96, 192, 3, 3),
    "latent.7.attn.temperature": (8, 1, 1),
    "latent.0.attn.qkv.weight": (1152, 384, 1, 1),
    "latent.3.ffn.project_in.weight": (2042, 384, 1, 1),
    "latent.0.attn.bigk.bigk.weight": (384, 1, 7, 7),
    "up4_3.body.0.weight": (768, 384, 3, 3),
    "reduce_chan_level3.weight": (192, 384, 1, 1),
    "decoder_level3.5.attn.project_out.weight": (192, 384, 1, 1),
    "reduce_chan_level2.weight": (96, 192, 1, 1),
    "decoder_level2.0.attn.temperature": (2, 1, 1),
    "up2_1.body.0.weight": (192, 96, 3, 3),
    "decoder_level1.3.attn.atten2conv.2.weight": (96, 96, 1, 1),
    "refinement.3.ffn.project_out.weight": (96, 255, 1, 1),
    "refinement_2.0.weight": (3, 96, 3, 3),
    "sigma.0.weight": (96, 3, 3, 3),
    "sigma.5.attn.qkv_dwconv.weight": (288, 1, 3, 3),
    "sigma.6.weight": (1, 96, 3, 3),
    "out.0.weight": (1, 3, 3, 3),
}


@pytest.fixture(scope="module")
def published() -> SSDNet:
    return build(CONFIGS["published"], seed=0)


@pytest.fixture(scope="module")
def small() -> SSDNet:
    return build(CONFIGS["small"], seed=0)


def test_published_parameter_counts(published):
    assert count_parameters(published) == PUBLISHED_WITH_ERROR
    without = PUBLISHED_WITH_ERROR - count_parameters(published.sigma)
    assert without == PUBLISHED_WITHOUT_ERROR
    assert 35_400_000 <= without <= 35_800_000


def test_published_without_error_branch_count():
    # Built on the meta device: counts parameters without allocating 35M floats.
    with torch.device("meta"):
        net = SSDNet(CONFIGS["published"], with_error=False)
    assert net.sigma is None and not net.with_error
    assert count_parameters(net) == PUBLISHED_WITHOUT_ERROR
    assert len(net.state_dict()) == 734 - 62


def test_published_layout(published):
    state = published.state_dict()
    assert len(state) == 734
    for name, shape in LAYOUT.items():
        assert tuple(state[name].shape) == shape, name
    biases = [name for name in state if name.endswith(".bias")]
    assert biases and all(name.endswith("attn.bigk.bigk.bias") for name in biases)
    assert not any(name.startswith("sigma.1.") or name.startswith("sigma.7.") for name in state)


def test_small_counts(small):
    assert count_parameters(small) == SMALL_WITH_ERROR
    assert count_parameters(build(CONFIGS["small"], with_error=False)) == SMALL_WITHOUT_ERROR


def test_shapes(small):
    with torch.no_grad():
        raw, error = small(torch.rand(2, 3, 32, 48))
    assert raw.shape == (2, 4, 16, 24) and error is not None and error.shape == (2, 4, 16, 24)
    assert torch.isfinite(raw).all() and torch.isfinite(error).all()


def test_sizes_not_multiple_of_16_are_padded(small):
    x = torch.rand(1, 3, 30, 46)
    with torch.no_grad():
        raw, error = small(x)
        padded_raw, _ = small(torch.nn.functional.pad(x, (0, 2, 0, 2), mode="replicate"))
    assert raw.shape == (1, 4, 15, 23) and error.shape == (1, 4, 15, 23)
    torch.testing.assert_close(raw, padded_raw[..., :15, :23])


@pytest.mark.parametrize("shape", [(1, 3, 31, 32), (1, 3, 32, 33), (1, 4, 32, 32), (3, 32, 32)])
def test_bad_inputs_raise(small, shape):
    with pytest.raises(InputError) as info:
        small(torch.rand(*shape))
    assert "\n" not in str(info.value)


def test_without_error_branch():
    net = build(CONFIGS["small"], with_error=False)
    with torch.no_grad():
        raw, error = net(torch.rand(1, 3, 16, 16))
    assert raw.shape == (1, 4, 8, 8) and error is None
    assert count_parameters(net) < SMALL_WITH_ERROR


def test_build_is_seeded_and_leaves_the_global_rng():
    state = torch.random.get_rng_state()
    a = build(CONFIGS["small"], seed=1).state_dict()
    b = build(CONFIGS["small"], seed=1).state_dict()
    c = build(CONFIGS["small"], seed=2).state_dict()
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_gradients_reach_every_parameter():
    net = build(CONFIGS["small"], seed=3)
    raw, error = net(torch.rand(2, 3, 32, 32))
    (raw.mean() + error.mean()).backward()
    missing = [name for name, p in net.named_parameters() if p.grad is None]
    assert not missing


def test_layer_norm_is_scale_invariant():
    norm = ChannelNorm(8)
    assert [name for name, _ in norm.named_parameters()] == ["body.weight"]
    with torch.no_grad():
        norm.body.weight.copy_(torch.linspace(0.5, 1.5, norm.body.weight.numel()))
        x = torch.randn(2, 8, 5, 7, generator=torch.Generator().manual_seed(0)) + 0.5
        # Per-pixel channel variance 1 (≫ eps = 1e-5), so only eps breaks the invariance.
        x = x / x.std(dim=1, keepdim=True, unbiased=False)
        torch.testing.assert_close(norm(3.0 * x), norm(x), atol=1e-5, rtol=1e-5)
        # No mean subtraction: y · sqrt(var + eps) / γ recovers x.
        y = norm(x)
        scale = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + 1e-5)
        torch.testing.assert_close(y * scale / norm.body.weight.view(1, -1, 1, 1), x)


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"width": 7}, "width"),
        ({"width": 0}, "width"),
        ({"width": 514}, "width"),
        ({"width": 8.0}, "width"),
        ({"blocks": (1, 1, 1)}, "blocks"),
        ({"blocks": (1, 0, 1, 1)}, "blocks[1]"),
        ({"blocks": (1, 1, 1, 33)}, "blocks[3]"),
        ({"decoder_level1": 0}, "decoder_level1"),
        ({"refinement": 40}, "refinement"),
        ({"error_blocks": 0}, "error_blocks"),
        ({"heads": (1, 2, 5, 8)}, "heads[2]"),
        ({"heads": (0, 2, 4, 8)}, "heads[0]"),
        ({"ffn_expansion": 0.0}, "ffn_expansion"),
        ({"ffn_expansion": 9.0}, "ffn_expansion"),
    ],
)
def test_invalid_configs_raise(kwargs, key):
    with pytest.raises(ParamError) as info:
        SSDNetConfig(**kwargs)
    assert info.value.key == key


def test_lists_are_accepted_as_tuples():
    config = SSDNetConfig(width=8, blocks=[1, 1, 1, 1], heads=[1, 1, 2, 2])
    assert config.blocks == (1, 1, 1, 1) and config.heads == (1, 1, 2, 2)
    assert hash(config) == hash(SSDNetConfig(width=8, blocks=(1, 1, 1, 1), heads=(1, 1, 2, 2)))
