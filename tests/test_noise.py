"""The noise plugin: level distributions, the noise itself, the stages and pipelines."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ispengine import InputError, ISPEngineError, ParamError, Pipeline, SpecError, get_registry
from plugins_builtin.noise import (
    NOISE_MODELS,
    NOISE_STAGES,
    CycleISPNoise,
    NoiseLevels,
    SemiISPNoise,
    UPINoise,
    add_noise,
    draw_cycleisp_levels,
    draw_semiisp_levels,
    draw_upi_levels,
    noise_std,
)

NAMES = ("upi_noise", "cycleisp_noise", "semiisp_noise")
DRAWS = {"upi": draw_upi_levels, "cycleisp": draw_cycleisp_levels, "semiisp": draw_semiisp_levels}
STAGE_OF = {"upi": UPINoise, "cycleisp": CycleISPNoise, "semiisp": SemiISPNoise}


# -- independent reimplementations, straight from the published formulas --------
def reference_upi(rng: np.random.Generator) -> tuple[float, float]:
    log_shot = rng.uniform(math.log(0.0001), math.log(0.012))
    log_read = 2.18 * log_shot + 1.20 + rng.normal(0.0, 0.26)
    return math.exp(log_shot), math.exp(log_read)


def reference_cycleisp(rng: np.random.Generator) -> tuple[float, float]:
    log_shot = rng.uniform(math.log10(0.0001), math.log10(0.012))
    log_read = 2.18 * log_shot + 1.20 + rng.normal(0.0, 0.26)
    return 10.0**log_shot, 10.0**log_read


def reference_semiisp(rng: np.random.Generator) -> tuple[float, float]:
    sigma_s2 = rng.uniform(0.0, 0.01)
    sigma_r2 = rng.uniform(0.0, 0.0002)
    return sigma_s2, sigma_r2


REFERENCES = {"upi": reference_upi, "cycleisp": reference_cycleisp, "semiisp": reference_semiisp}


def many_levels(model: str, n: int = 20000, seed: int = 11) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    draws = [DRAWS[model](rng) for _ in range(n)]
    return np.array([d.shot for d in draws]), np.array([d.read for d in draws])


def reference_noisy(x, shot, read, z):
    x64 = np.asarray(x, dtype=np.float64)
    return (x64 + np.sqrt(np.maximum(shot * x64 + read, 0.0)) * z).astype(x.dtype)


# -- level distributions --------------------------------------------------------
def test_models_table():
    assert set(NOISE_MODELS) == {"upi", "cycleisp", "semiisp"}
    for model, draw in DRAWS.items():
        assert NOISE_MODELS[model] is draw


@pytest.mark.parametrize("model", sorted(DRAWS))
@pytest.mark.parametrize("seed", [0, 1, 12345, 2**31 - 1])
def test_draws_match_the_reference_formulas(model, seed):
    ours, theirs = np.random.default_rng(seed), np.random.default_rng(seed)
    for _ in range(5):  # consecutive draws keep the documented order
        levels = DRAWS[model](ours)
        shot, read = REFERENCES[model](theirs)
        assert isinstance(levels, NoiseLevels)
        assert levels.shot == pytest.approx(shot, rel=1e-14)
        assert levels.read == pytest.approx(read, rel=1e-14)


@pytest.mark.parametrize(("model", "log"), [("upi", np.log), ("cycleisp", np.log10)])
def test_log_log_line_is_recovered(model, log):
    shot, read = many_levels(model)
    log_shot, log_read = log(shot), log(read)
    low, high = log(1e-4), log(0.012)
    assert log_shot.min() >= low and log_shot.max() <= high
    assert log_shot.min() < low + 0.01 * (high - low)
    assert log_shot.max() > high - 0.01 * (high - low)
    assert log_shot.mean() == pytest.approx((low + high) / 2, abs=0.02 * (high - low))
    assert log_shot.std() == pytest.approx((high - low) / math.sqrt(12), rel=0.02)
    slope, intercept = np.polyfit(log_shot, log_read, 1)
    residual = log_read - (slope * log_shot + intercept)
    assert slope == pytest.approx(2.18, abs=0.02)
    assert intercept == pytest.approx(1.20, abs=0.08)
    assert residual.std() == pytest.approx(0.26, abs=0.01)


def test_cycleisp_read_is_noisier_than_upi():
    """1.20 added in log10: the read variance is 10**1.2 / e**1.2 ≈ 4.8 times UPI's (median)."""
    upi_shot, upi_read = many_levels("upi")
    cyc_shot, cyc_read = many_levels("cycleisp")
    np.testing.assert_allclose(np.median(upi_shot), np.median(cyc_shot), rtol=0.05)
    ratio = np.median(cyc_read / cyc_shot**2.18) / np.median(upi_read / upi_shot**2.18)
    assert ratio == pytest.approx(10**1.2 / math.exp(1.2), rel=0.05)
    # a 0.26 spread in log10 is 0.26·ln 10 in natural-log terms
    spread = np.std(np.log(cyc_read) - 2.18 * np.log(cyc_shot))
    assert spread == pytest.approx(0.26 * math.log(10), rel=0.03)


def test_semiisp_levels_are_independent_uniforms():
    shot, read = many_levels("semiisp")
    assert 0 <= shot.min() < 1e-4 and 0.0099 < shot.max() <= 0.01
    assert 0 <= read.min() < 2e-6 and 0.000198 < read.max() <= 0.0002
    assert shot.mean() == pytest.approx(0.005, rel=0.02)
    assert read.mean() == pytest.approx(0.0001, rel=0.02)
    assert abs(np.corrcoef(shot, read)[0, 1]) < 0.03


def test_noise_levels_are_validated():
    assert NoiseLevels(0.01, 0) == NoiseLevels(0.01, 0.0)
    for bad in ((-1e-3, 0.0), (0.0, -1e-9), (math.nan, 0.0), (0.0, math.inf)):
        with pytest.raises(ValueError):
            NoiseLevels(*bad)


# -- the noise ------------------------------------------------------------------
@pytest.mark.parametrize("c", [0.05, 0.3, 0.9])
def test_variance_on_a_constant_image(c):
    levels = NoiseLevels(shot=0.008, read=1.5e-4)
    x = np.full((1000, 1000), c)
    y = add_noise(x, levels, np.random.default_rng(3))
    expected = 0.008 * c + 1.5e-4
    assert np.var(y) == pytest.approx(expected, rel=0.05)
    assert abs(np.mean(y) - c) < 5 * math.sqrt(expected / x.size)
    np.testing.assert_allclose(noise_std(x[:2, :2], levels), math.sqrt(expected), rtol=1e-12)


def test_variance_follows_the_signal_within_one_image():
    levels = NoiseLevels(shot=0.01, read=0.0)
    x = np.concatenate([np.full((500, 1000), 0.1), np.full((500, 1000), 0.8)])
    noise = add_noise(x, levels, np.random.default_rng(4)) - x
    assert np.var(noise[:500]) == pytest.approx(0.001, rel=0.05)
    assert np.var(noise[500:]) == pytest.approx(0.008, rel=0.05)


def test_negative_values_get_no_noise_where_the_variance_would_be_negative():
    levels = NoiseLevels(shot=0.01, read=1e-4)
    x = np.array([[-1.0, -0.02], [0.0, 0.5]])
    y = add_noise(x, levels, np.random.default_rng(5))
    np.testing.assert_array_equal(y[0], x[0])  # shot·x + read < 0: variance 0, no NaN
    assert np.all(y[1] != x[1])
    np.testing.assert_array_equal(noise_std(x, levels)[0], [0.0, 0.0])
    np.testing.assert_allclose(noise_std(x, levels)[1], [0.01, math.sqrt(0.0051)], rtol=1e-12)


def test_add_noise_is_the_documented_computation():
    levels = NoiseLevels(0.004, 2e-5)
    x = np.random.default_rng(0).random((8, 6, 3)).astype(np.float32)
    z = np.random.default_rng(9).standard_normal(x.shape)
    y = add_noise(x, levels, np.random.default_rng(9))
    np.testing.assert_array_equal(y, reference_noisy(x, 0.004, 2e-5, z))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(6, 8), (6, 8, 4), (6, 8, 3), (2, 6, 8)])
def test_add_noise_keeps_dtype_and_shape_and_input(dtype, shape):
    x = np.random.default_rng(1).random(shape).astype(dtype)
    before = x.copy()
    y = add_noise(x, NoiseLevels(0.01, 1e-4), np.random.default_rng(2))
    assert y.dtype == dtype and y.shape == shape
    assert y is not x and not np.shares_memory(x, y)
    np.testing.assert_array_equal(x, before)
    assert not np.array_equal(y, x)
    assert noise_std(x, NoiseLevels(0.01, 1e-4)).dtype == dtype


def test_add_noise_seed_reproducibility():
    x = np.full((32, 32), 0.5)
    levels = NoiseLevels(0.01, 1e-4)
    a = add_noise(x, levels, np.random.default_rng(7))
    b = add_noise(x, levels, np.random.default_rng(7))
    c = add_noise(x, levels, np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_add_noise_rejects_non_float_input():
    with pytest.raises(InputError, match="float32 or float64"):
        add_noise(np.zeros((4, 4), np.uint16), NoiseLevels(0.01, 0.0), np.random.default_rng(0))


# -- the stages -----------------------------------------------------------------
def test_stages_are_registered_filters_without_inverse():
    registry = get_registry()
    assert set(NAMES) <= set(registry.names("filter"))
    assert [s.name for s in NOISE_STAGES] == list(NAMES)
    for name in NAMES:
        assert registry.inverse_kind(name) == "none"
        assert registry.get("filter", name).cls.__doc__


@pytest.mark.parametrize("model", sorted(STAGE_OF))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stage_equals_add_noise_with_drawn_levels(model, dtype):
    x = np.random.default_rng(0).random((16, 12)).astype(dtype)
    y = STAGE_OF[model](seed=42)(x)
    rng = np.random.default_rng(42)
    expected = add_noise(x, DRAWS[model](rng), rng)
    assert y.dtype == dtype and y.shape == x.shape
    np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize("model", sorted(STAGE_OF))
def test_stage_seed_reproducibility(model):
    x = np.full((64, 64), 0.4, np.float32)
    stage = STAGE_OF[model]
    a, b = stage(seed=5)(x), stage(seed=5)(x)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(stage(seed=5)(x), stage(seed=5)(x.copy()))
    assert not np.array_equal(a, stage(seed=6)(x))
    assert not np.array_equal(a, stage()(x))  # default seed 0
    np.testing.assert_array_equal(stage(seed=5)(x, {"seed": 6}), stage(seed=6)(x))


def test_batch_gets_levels_per_image_in_order():
    x = np.full((3, 40, 50), 0.6)
    y = UPINoise(seed=9)(x)
    rng = np.random.default_rng(9)
    levels = [reference_upi(rng) for _ in range(3)]
    z = rng.standard_normal(x.shape)
    for i, (shot, read) in enumerate(levels):
        np.testing.assert_allclose(y[i], reference_noisy(x[i], shot, read, z[i]), rtol=1e-13)
    assert len({float(np.var(y[i])) for i in range(3)}) == 3


def test_given_levels_are_inferred_and_used():
    stage = SemiISPNoise(shot=0.01, read=1e-4, seed=5)
    assert stage.config["levels"] == "given"
    assert UPINoise(read=1e-5).config["levels"] == "given"
    assert UPINoise(seed=3).config["levels"] == "drawn"
    x = np.full((1000, 1000), 0.5, np.float32)
    y = stage(x)
    z = np.random.default_rng(5).standard_normal(x.shape)
    np.testing.assert_array_equal(y, reference_noisy(x, 0.01, 1e-4, z))
    assert np.var(y.astype(np.float64)) == pytest.approx(0.01 * 0.5 + 1e-4, rel=0.05)


def test_given_levels_per_image_and_per_pixel():
    x = np.full((2, 400, 400), 0.5)
    stage = CycleISPNoise(levels="given", seed=1)
    y = stage(x, {"shot": np.array([0.002, 0.02]), "read": 0.0})
    assert np.var(y[0]) == pytest.approx(0.001, rel=0.05)
    assert np.var(y[1]) == pytest.approx(0.01, rel=0.05)
    ramp = np.broadcast_to(np.linspace(0.0, 0.01, 400), (400, 400))
    y = stage(x[0], {"shot": 0.0, "read": ramp})  # a per-pixel read map
    assert np.array_equal(y[:, 0], x[0, :, 0])  # zero variance in the first column
    assert np.var(y[:, -1]) == pytest.approx(0.01, rel=0.2)


@pytest.mark.parametrize("layout", ["rgb", "packed"])
def test_layout_option_gives_element_wise_noise(layout):
    channels = 3 if layout == "rgb" else 4
    x = np.full((2, 300, 300, channels), 0.25, np.float32)
    stage = SemiISPNoise(layout=layout, seed=2)
    assert stage.input_layout == stage.output_layout == layout
    y = stage(x)
    rng = np.random.default_rng(2)
    levels = [reference_semiisp(rng) for _ in range(2)]
    z = rng.standard_normal(x.shape)
    for i, (shot, read) in enumerate(levels):
        np.testing.assert_array_equal(y[i], reference_noisy(x[i], shot, read, z[i]))
    given = SemiISPNoise(layout=layout, levels="given", seed=2)
    y = given(x, {"shot": np.array([0.0, 0.01]), "read": np.array([0.0, 0.0])})
    assert np.array_equal(y[0], x[0])
    assert np.var(y[1].astype(np.float64)) == pytest.approx(0.0025, rel=0.05)
    with pytest.raises(InputError):
        stage(np.zeros((8, 8), np.float32))


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({"shot": 0.1}, "shot: value 0.1 is outside"),
        ({"read": -1e-6}, "read: value -1e-06 is outside"),
        ({"seed": -1}, "seed: value -1 is outside"),
        ({"seed": 2**31}, "seed: value .* is outside"),
        ({"seed": 1.5}, "seed: expected an integer"),
        ({"levels": "random"}, "levels: expected one of drawn, given"),
        ({"layout": "bayer"}, "layout: expected one of"),
        ({"levels": "drawn", "shot": 0.01}, "shot: given, but levels = 'drawn'"),
        ({"sigma": 1.0}, "sigma: unknown parameter"),
    ],
)
def test_bad_parameters_are_param_errors(values, match):
    with pytest.raises(ParamError, match=match):
        UPINoise(**values)


def test_bad_per_call_values_are_param_errors():
    x = np.full((8, 8), 0.5)
    with pytest.raises(ParamError, match="shot: levels = 'drawn'"):
        UPINoise()(x, {"shot": 0.01})
    with pytest.raises(ParamError, match="seed: expected an integer"):
        UPINoise()(x, {"seed": 0.5})
    with pytest.raises(ParamError, match="seed: value"):
        UPINoise()(x, {"seed": 2**31})
    with pytest.raises(ParamError, match="shot: value"):
        UPINoise(levels="given")(x, {"shot": 0.5})
    with pytest.raises(ParamError, match="gain: unknown parameter"):
        UPINoise()(x, {"gain": 1.0})
    with pytest.raises(InputError):
        UPINoise()(x.astype(np.int32))


# -- pipelines ------------------------------------------------------------------
TOML = """
name = "noisy-raw"
input = "raw_mosaic"
output = "raw_mosaic"

[[stage]]
type = "upi_noise"
params = { seed = 7 }

[[stage]]
type = "semiisp_noise"
name = "extra"
params = { shot = 0.002, read = 1e-5, seed = 2147483647 }
"""


def test_stages_run_from_a_toml_pipeline(tmp_path):
    path = tmp_path / "noise.toml"
    path.write_text(TOML)
    pipe = Pipeline.from_toml(path)
    assert pipe.labels == ("upi_noise", "extra")
    x = np.random.default_rng(0).random((32, 48)).astype(np.float32)
    y = pipe(x)
    expected = SemiISPNoise(shot=0.002, read=1e-5, seed=2**31 - 1)(UPINoise(seed=7)(x))
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_array_equal(y, expected)
    np.testing.assert_array_equal(pipe(x), y)
    other = pipe(x, {"upi_noise": {"seed": 8}})
    np.testing.assert_array_equal(
        other, SemiISPNoise(shot=0.002, read=1e-5, seed=2**31 - 1)(UPINoise(seed=8)(x))
    )
    with pytest.raises(ISPEngineError, match="no registered inverse"):
        pipe.inverse()


def test_rgb_pipeline_with_the_layout_option():
    pipe = Pipeline.from_dict(
        {
            "input": "linear_srgb",
            "output": "linear_srgb",
            "stage": [
                {"type": "cycleisp_noise", "params": {"layout": "rgb", "seed": 3}},
                {"type": "gaussian_denoise", "params": {"sigma": 1.5}},
            ],
        }
    )
    x = np.full((32, 32, 3), 0.5)
    assert pipe(x).shape == x.shape
    with pytest.raises(SpecError, match="expects mosaic input but receives rgb"):
        Pipeline.from_dict({"input": "linear_srgb", "stage": [{"type": "upi_noise"}]})


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"shot": 0.5}, "params.shot"),
        ({"seed": 3.5}, "params.seed"),
        ({"levels": "drawn", "read": 0.001}, "params.read"),
        ({"shot": [0.01, 0.02]}, "params.shot"),
    ],
)
def test_bad_toml_values_name_stage_and_key(params, key):
    spec = {
        "input": "raw_mosaic",
        "output": "raw_mosaic",
        "stage": [{"type": "upi_noise", "params": params}],
    }
    with pytest.raises(SpecError, match=f"stage 1 \\(upi_noise\\): {key}"):
        Pipeline.from_dict(spec, source="isp.toml")


# -- torch --------------------------------------------------------------------
@pytest.mark.parametrize("model", sorted(STAGE_OF))
def test_torch_path_is_reproducible(model):
    torch = pytest.importorskip("torch")
    x = torch.full((2, 200, 200), 0.5, dtype=torch.float32)
    stage = STAGE_OF[model]
    a, b = stage(seed=4)(x), stage(seed=4)(x)
    assert isinstance(a, torch.Tensor) and a.dtype == torch.float32 and a.shape == x.shape
    assert torch.equal(a, b)
    assert not torch.equal(a, stage(seed=5)(x))
    # same levels as the numpy path (same seed), different noise stream
    rng = np.random.default_rng(4)
    for i in range(2):
        shot, read = REFERENCES[model](rng)
        variance = float(torch.var(a[i].double()))
        assert variance == pytest.approx(shot * 0.5 + read, rel=0.05)
    assert not np.array_equal(a.numpy(), stage(seed=4)(x.numpy()))
    assert stage(seed=4)(x.double()).dtype == torch.float64


def test_torch_given_levels_and_gradients():
    torch = pytest.importorskip("torch")
    x = torch.zeros((64, 64), dtype=torch.float64, requires_grad=True)
    shot = torch.tensor(0.01, dtype=torch.float64, requires_grad=True)
    y = UPINoise(levels="given", seed=1)(x, {"shot": shot, "read": 0.0})
    assert torch.equal(y.detach(), x.detach())  # variance 0 at x = 0
    y.sum().backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(shot.grad)
    xs = torch.full((300, 300), 0.5, dtype=torch.float64)
    ys = SemiISPNoise(shot=0.01, read=1e-4, seed=1)(xs)
    assert float(torch.var(ys)) == pytest.approx(0.0051, rel=0.05)
    assert torch.equal(ys, SemiISPNoise(shot=0.01, read=1e-4, seed=1)(xs))
    assert not torch.equal(ys, SemiISPNoise(shot=0.01, read=1e-4, seed=2)(xs))
