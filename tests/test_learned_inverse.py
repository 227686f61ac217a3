"""Learned inverses: a torch model with declared weights, chosen from TOML, round trip measured.

The model is built and trained here: a per-value MLP (1 → 8 → 1, shared by the
three channels) fitted with L-BFGS to undo the sRGB OETF, registered by a plain
plugin object and saved as safetensors and as a torch file.
"""

import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from ispengine import InputError, ParamError, Pipeline, PluginHost, SpecError, hookimpl  # noqa: E402
from ispengine.learning.learned_inverse import LearnedInverseStage  # noqa: E402
from ispengine.learning.weights import save_arrays  # noqa: E402
from ispengine.testing import StageExample, assert_round_trip, stage_examples  # noqa: E402
from plugins_builtin.canonical_stages.bayer import PackBayer  # noqa: E402
from plugins_builtin.canonical_stages.black_level import BlackLevel  # noqa: E402
from plugins_builtin.canonical_stages.srgb_transfer import SRGBOETF, SRGBOETFInverse  # noqa: E402

# The trained MLP's worst error over [0, 1] is about 0.01 (float32 weights).
BOUND = 0.03


def _mlp(width: int = 8):
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, width, 1), torch.nn.Tanh(), torch.nn.Conv2d(width, 1, 1)
    )


class OetfLearnedInverse(LearnedInverseStage):
    """The sRGB OETF undone by a per-value MLP shared by the channels."""

    name = "srgb_oetf_learned_inverse"
    forward = SRGBOETF

    def build_model(self):
        return _mlp()

    def run_model(self, model, x, p):
        n, c, h, w = x.shape
        return model(x.reshape(n * c, 1, h, w)).reshape(n, c, h, w)


class WrongShapeInverse(OetfLearnedInverse):
    name = "wrong_shape_inverse"

    def run_model(self, model, x, p):
        return super().run_model(model, x, p)[:, :1]


def _train() -> dict:
    torch.manual_seed(0)
    model = _mlp()
    linear = np.repeat(np.linspace(0, 1, 256).reshape(16, 16, 1), 3, axis=2)
    encoded = SRGBOETF()(linear)
    x = torch.tensor(linear[..., 0], dtype=torch.float32).reshape(1, 1, 16, 16)
    y = torch.tensor(encoded[..., 0], dtype=torch.float32).reshape(1, 1, 16, 16)
    optimizer = torch.optim.LBFGS(
        model.parameters(), lr=1, max_iter=40, line_search_fn="strong_wolfe"
    )

    def closure():
        optimizer.zero_grad()
        loss = torch.mean((model(y) - x) ** 2)
        loss.backward()
        return loss

    optimizer.step(closure)
    return model.state_dict()


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The trained weights as safetensors and as a torch file, in a ``models/`` folder."""
    root = tmp_path_factory.mktemp("learned")
    state = _train()
    (root / "models").mkdir()
    save_arrays(root / "models" / "oetf.safetensors", state)
    torch.save(state, root / "models" / "oetf.pt")
    return root


@pytest.fixture(scope="module")
def host():
    host = PluginHost()
    plugin = types.SimpleNamespace(
        ispengine_register_inverse_stages=hookimpl(
            lambda register: [register(OetfLearnedInverse), register(WrongShapeInverse)]
        )
    )
    host.register(plugin, "learned_oetf")
    yield host
    host.unregister("learned_oetf")


SPEC = """
schema = 1
name = "encode"
input = "linear_srgb"
output = "srgb"

[[stage]]
type = "srgb_oetf"
"""


def _spec(folder, table: str = ""):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "encode.toml"
    path.write_text(SPEC + table)
    return path


@pytest.mark.parametrize("suffix", ["safetensors", "pt"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_learned_inverse_from_toml_round_trips_within_its_bound(
    models, host, monkeypatch, suffix, dtype
):
    table = f'[inverse.srgb_oetf]\nmethod = "learned"\nweights = "../models/oetf.{suffix}"\n'
    path = _spec(models / "specs", table)
    monkeypatch.chdir(models / "models")  # the weights resolve against the spec's folder
    pipeline = Pipeline.from_toml(path, registry=host.registry)
    inverse = pipeline.inverse()
    assert isinstance(inverse.stages[0], OetfLearnedInverse)
    x = np.random.default_rng(0).uniform(0, 1, (2, 24, 32, 3)).astype(dtype)
    restored = inverse(pipeline(x))
    assert restored.dtype == x.dtype and restored.shape == x.shape
    error = float(np.max(np.abs(restored - x)))
    assert 1e-6 < error <= BOUND  # approximate, and close


def test_without_a_table_the_exact_inverse_is_still_chosen(models, host):
    pipeline = Pipeline.from_toml(_spec(models / "plain"), registry=host.registry)
    assert isinstance(pipeline.inverse().stages[0], SRGBOETFInverse)
    assert host.registry.inverse_kinds("srgb_oetf") == ["exact", "learned"]


@settings(max_examples=20)
@given(data=st.data())
def test_round_trip_helper_reports_the_measured_error(models, data):
    example = data.draw(stage_examples(SRGBOETF))
    weights = {"weights": str(models / "models" / "oetf.safetensors")}
    error = assert_round_trip(OetfLearnedInverse, example, "float64", weights)
    assert 0 <= error <= BOUND
    assert assert_round_trip(SRGBOETFInverse, example, "float64") <= 1e-9


def test_round_trip_helper_still_asserts_a_given_tolerance(models):
    weights = {"weights": str(models / "models" / "oetf.pt")}
    example = StageExample({}, {}, np.linspace(0, 1, 12).reshape(2, 2, 3))
    with pytest.raises(AssertionError, match="round-trip error"):
        assert_round_trip(OetfLearnedInverse, example, "float64", weights, tolerance=1e-9)


def test_torch_in_torch_out_matches_numpy_and_is_differentiable(models):
    stage = OetfLearnedInverse.from_forward(
        SRGBOETF(), weights=models / "models" / "oetf.safetensors"
    )
    x = np.random.default_rng(1).uniform(0, 1, (8, 10, 3))
    from_numpy = stage(x)
    assert isinstance(from_numpy, np.ndarray) and from_numpy.dtype == np.float64
    tensor = torch.tensor(x, requires_grad=True)
    from_torch = stage(tensor)
    assert isinstance(from_torch, torch.Tensor) and from_torch.dtype == torch.float64
    np.testing.assert_allclose(from_torch.detach().numpy(), from_numpy, atol=1e-7)
    from_torch.sum().backward()
    assert tensor.grad is not None and bool(torch.all(tensor.grad > 0))  # increasing inverse


class UnpackLearnedInverse(LearnedInverseStage):
    """``pack_bayer`` undone by a pixel shuffle, a model without weights (exact for RGGB)."""

    name = "unpack_learned_inverse"
    forward = PackBayer

    def build_model(self):
        return torch.nn.PixelShuffle(2)


class BlackLevelLearnedInverse(LearnedInverseStage):
    """``black_level`` undone by a 1×1 convolution set to known weights."""

    name = "black_level_learned_inverse"
    forward = BlackLevel

    def build_model(self):
        return torch.nn.Conv2d(1, 1, 1)


def test_mosaic_and_packed_layouts_go_through_the_model(tmp_path):
    rng = np.random.default_rng(2)
    save_arrays(tmp_path / "none.safetensors", {})
    pack = PackBayer(pattern="rggb")
    mosaic = rng.uniform(0, 1, (2, 4, 8))
    unpack = UnpackLearnedInverse.from_forward(pack, weights=tmp_path / "none.safetensors")
    np.testing.assert_array_equal(unpack(pack(mosaic)), mosaic)
    known = {"weight": np.full((1, 1, 1, 1), 959.0), "bias": np.array([64.0])}
    save_arrays(tmp_path / "level.safetensors", {k: v.astype(np.float32) for k, v in known.items()})
    level = BlackLevel(black=64, white=1023)
    raw = rng.integers(64, 1024, (4, 6)).astype(np.float64)
    restored = BlackLevelLearnedInverse.from_forward(level, weights=tmp_path / "level.safetensors")
    np.testing.assert_allclose(restored(level(raw)), raw, rtol=1e-6)


def _one_line_error(kind, match, call):
    with pytest.raises(kind, match=match) as caught:
        call()
    assert "\n" not in str(caught.value)


def test_weights_problems_are_one_line_errors(models, tmp_path):
    x = np.full((2, 2, 3), 0.5)

    def run(weights=None, cls=OetfLearnedInverse):
        given = {} if weights is None else {"weights": weights}
        return cls.from_forward(SRGBOETF(), **given)(x)

    _one_line_error(ParamError, "needs a weights file", run)
    _one_line_error(InputError, "no such weights file", lambda: run(tmp_path / "absent.pt"))
    (tmp_path / "junk.pt").write_bytes(b"not a torch file\n" * 4)
    _one_line_error(InputError, "junk.pt: cannot read weights", lambda: run(tmp_path / "junk.pt"))
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 16)
    _one_line_error(InputError, "cannot read weights", lambda: run(tmp_path / "junk.safetensors"))
    save_arrays(tmp_path / "narrow.safetensors", _mlp(width=4).state_dict())
    _one_line_error(
        InputError,
        r"'0.weight' has shape \(4, 1, 1, 1\), the model expects \(8, 1, 1, 1\)",
        lambda: run(tmp_path / "narrow.safetensors"),
    )
    save_arrays(tmp_path / "partial.safetensors", {"0.weight": np.zeros((8, 1, 1, 1))})
    _one_line_error(InputError, "no tensor '0.bias'", lambda: run(tmp_path / "partial.safetensors"))
    weights = models / "models" / "oetf.pt"
    _one_line_error(
        InputError,
        r"returned shape \(1, 1, 2, 2\), expected \(1, 3, 2, 2\)",
        lambda: run(weights, WrongShapeInverse),
    )


def test_a_bad_weights_setting_in_toml_names_the_key(models, host):
    path = _spec(models / "bad", '[inverse.srgb_oetf]\nmethod = "learned"\nweights = 3\n')
    with pytest.raises(SpecError, match=r"inverse\.srgb_oetf\.weights: expected a file path"):
        Pipeline.from_toml(path, registry=host.registry)


def test_importing_the_learned_module_does_not_import_torch():
    code = (
        "import sys, ispengine, ispengine.learning.learned_inverse; "
        "assert 'torch' not in sys.modules"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
