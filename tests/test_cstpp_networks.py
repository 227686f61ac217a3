"""CSTPP networks: the published size, weights shared between directions, shapes for any
image size and downsampling factor, the discriminators, seeded builds."""

import re

import pytest

torch = pytest.importorskip("torch")

import array_api_compat  # noqa: E402

from ispengine.core.errors import InputError, ParamError  # noqa: E402
from plugins_builtin.cstpp.networks import (  # noqa: E402
    CONFIGS,
    DOWNSAMPLE_FACTORS,
    DirectionalBatchNorm,
    GeneratorConfig,
    build_discriminator,
    build_generator,
    count_parameters,
)
from plugins_builtin.cstpp.polynomial import apply_polynomial, identity_coefficients  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def direction_parameters(generator, direction):
    """The ids of the parameters only ``direction`` uses: its batch norms and head."""
    own = [m[direction] for m in generator.modules() if isinstance(m, DirectionalBatchNorm)]
    own.append(generator.heads[direction])
    return {id(p) for module in own for p in module.parameters()}


def used_parameters(generator, direction):
    """The ids of the parameters that get a gradient from ``direction``'s output."""
    generator.zero_grad(set_to_none=True)
    mapped, coefficients = generator(torch.rand(2, 4, 64, 64), direction)
    (mapped.sum() + coefficients.sum()).backward()
    return {id(p) for p in generator.parameters() if p.grad is not None}


def test_published_generator_size():
    generator = build_generator("published", seed=0)
    total = count_parameters(generator)
    one_direction = total - sum(
        p.numel() for p in generator.parameters() if id(p) in direction_parameters(generator, 1)
    )
    assert total == 5_588_928
    assert one_direction == 5_503_528
    assert abs(total / 5.67e6 - 1) < 0.03  # the paper's 5.67M
    assert CONFIGS["published"] == GeneratorConfig(64, 256, 6, 4, 4.0)


def test_small_generator_is_cpu_sized():
    assert 30_000 <= count_parameters(build_generator("small", seed=0)) <= 200_000


def test_directions_share_every_weight_except_batch_norms_and_heads():
    generator = build_generator("small", seed=0).train()
    used_ab, used_ba = used_parameters(generator, 0), used_parameters(generator, 1)
    own_ab, own_ba = direction_parameters(generator, 0), direction_parameters(generator, 1)
    assert used_ab - used_ba == own_ab and used_ba - used_ab == own_ba
    assert used_ab | used_ba == {id(p) for p in generator.parameters()}  # no dead weights
    names = {id(p): n for n, p in generator.named_parameters()}
    assert all(re.search(r"bn\d?\.0\.|^heads\.0\.", names[i]) for i in own_ab)
    assert all(re.search(r"bn\d?\.1\.|^heads\.1\.", names[i]) for i in own_ba)


@pytest.mark.parametrize("factor", DOWNSAMPLE_FACTORS)
@pytest.mark.parametrize(("height", "width"), [(1, 1), (5, 7), (33, 18)])
def test_any_size_and_factor_gives_full_resolution_outputs(factor, height, width):
    generator = build_generator("small", seed=1).eval()
    x = torch.rand(2, 4, height, width)
    with torch.no_grad():
        mapped, coefficients = generator(x, 1, factor)
    assert mapped.shape == (2, 4, height, width)
    assert coefficients.shape == (2, height, width, 14, 4)
    assert torch.isfinite(mapped).all() and torch.isfinite(coefficients).all()


@pytest.mark.parametrize("residual", [False, True])
def test_mapped_is_the_polynomial_of_the_coefficients(residual):
    generator = build_generator("small", seed=2, residual=residual).eval()
    identity = torch.as_tensor(identity_coefficients(residual), dtype=torch.float32)
    for head in generator.heads:  # an untrained generator starts at the identity's bias
        assert torch.equal(head.fc2.bias.reshape(14, 4), identity)
    x = torch.rand(1, 4, 20, 12)
    with torch.no_grad():
        mapped, coefficients = generator(x, 0, 2)
    pixels = x.permute(0, 2, 3, 1)
    xp = array_api_compat.array_namespace(pixels)
    expected = apply_polynomial(pixels, coefficients, residual, xp).permute(0, 3, 1, 2)
    torch.testing.assert_close(mapped, expected)


def test_bad_inputs_are_one_line_errors():
    generator = build_generator("small", seed=0)
    with pytest.raises(InputError, match=r"expected packed RAW \(N, 4, H, W\)"):
        generator(torch.rand(1, 3, 8, 8), 0)
    with pytest.raises(ParamError, match="direction: expected 0 or 1"):
        generator(torch.rand(1, 4, 8, 8), 2)
    with pytest.raises(ParamError, match="downsample: expected one of 1, 2, 4, 8, 16"):
        generator(torch.rand(1, 4, 8, 8), 0, 3)
    with pytest.raises(ParamError, match="config: expected one of published, small"):
        build_generator("huge")
    with pytest.raises(ParamError, match="depth: expected a multiple of 3"):
        GeneratorConfig(depth=4)
    with pytest.raises(ParamError, match="embed_dim: 30 is not a multiple of 4 heads"):
        GeneratorConfig(embed_dim=30)


@pytest.mark.parametrize("width", [8, 64])
def test_discriminator_outputs(width):
    x = torch.rand(2, 4, 64, 48)
    patchgan = build_discriminator("patchgan", width, seed=0)
    pooled = build_discriminator("pooled", width, seed=0)
    assert patchgan(x).shape == (2, 1, 6, 4)  # H/8 - 2, W/8 - 2
    assert pooled(x).shape == (2, 1)
    torch.testing.assert_close(pooled(x), patchgan(x).mean(dim=(2, 3)))
    assert build_discriminator("patchgan", 64, seed=0)(torch.rand(1, 4, 24, 24)).shape[-2:] == (
        1,
        1,
    )
    with pytest.raises(InputError, match="H, W >= 24"):
        pooled(torch.rand(1, 4, 23, 64))


def test_discriminator_settings_are_checked():
    with pytest.raises(ParamError, match="kind: expected one of patchgan, pooled"):
        build_discriminator("global")
    with pytest.raises(ParamError, match=r"width: expected a whole number in \[4, 512\]"):
        build_discriminator("pooled", 2)


def test_seeded_builds_are_deterministic():
    def same(a, b):
        sa, sb = a.state_dict(), b.state_dict()
        return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)

    assert same(build_generator("small", seed=4), build_generator("small", seed=4))
    assert not same(build_generator("small", seed=4), build_generator("small", seed=5))
    assert same(build_discriminator("pooled", 8, seed=4), build_discriminator("pooled", 8, seed=4))
    before = torch.random.get_rng_state()
    build_generator("small", seed=6)
    assert torch.equal(torch.random.get_rng_state(), before)  # the global RNG is untouched
