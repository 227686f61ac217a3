"""The ``cstpp`` parameter predictor: registered, local only, loads a saved generator and
reproduces its coefficients, runs packed-RAW pipelines end to end (Python and CLI)."""

import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import plugins_builtin.cstpp as cstpp  # noqa: E402
from ispengine import Pipeline, PluginHost, Stage, hookimpl  # noqa: E402
from ispengine.cli import main  # noqa: E402
from ispengine.core.errors import InputError, ParamError, SpecError  # noqa: E402
from ispengine.core.params import ParamSpec  # noqa: E402
from ispengine.learning.weights import save_arrays  # noqa: E402
from plugins_builtin.cstpp.networks import build_generator  # noqa: E402
from plugins_builtin.cstpp.predictor import CSTPPPredictor  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")

EXAMPLE_SPEC = Path(__file__).resolve().parent.parent / "plugins_builtin/cstpp/cstpp_a_to_b.toml"


def spec(stages=None, input="packed_raw", **predictor):
    return {
        "name": "cstpp",
        "input": input,
        "output": "packed_raw",
        "predictor": {"type": "cstpp", "config": "small", **predictor},
        "stage": stages or [{"type": "polynomial_transform"}],
    }


def trained_like(seed: int, residual: bool = False):
    """A small generator with non-default batch-norm statistics, as after training."""
    generator = build_generator("small", seed=seed, residual=residual)
    with torch.no_grad():
        for name, buffer in generator.named_buffers():
            if name.endswith("running_var"):
                buffer.uniform_(0.5, 2.0)
            elif name.endswith("running_mean"):
                buffer.uniform_(-0.1, 0.1)
    return generator.eval()


def save(generator, path):
    return save_arrays(path, {f"generator.{k}": v for k, v in generator.state_dict().items()})


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(0).uniform(0, 1, (2, 13, 10, 4)).astype(np.float32)


def test_the_predictor_is_registered():
    record = PluginHost().registry.get("param_predictor", "cstpp")
    assert record.cls is CSTPPPredictor and record.plugin == "cstpp"


def test_global_mode_is_refused():
    with pytest.raises(SpecError, match="predictor.mode: cstpp predicts per-pixel .* local only"):
        Pipeline.from_dict(spec(mode="global"))
    predictor = Pipeline.from_dict(spec()).predictor
    with pytest.raises(ParamError, match="local only, not 'global'"):
        predictor(np.zeros((4, 4, 4)), mode="global")


class PackedGain(Stage):
    name = "packed_gain"
    params = (ParamSpec("gain", (), 0.5, 2.0, default=1.0),)
    input_layout = output_layout = "packed"

    def apply(self, x, p, xp):
        return x * p["gain"]


def test_pipelines_it_cannot_serve_are_refused():
    host = PluginHost(load_entry_points=False)
    host.register(cstpp, "cstpp")
    host.register(
        SimpleNamespace(ispengine_register_stages=hookimpl(lambda register: register(PackedGain))),
        "g",
    )
    gain_too = [{"type": "polynomial_transform"}, {"type": "packed_gain"}]
    with pytest.raises(
        SpecError, match="exactly one polynomial_transform.*free: .*packed_gain.gain"
    ):
        Pipeline.from_dict(spec(gain_too), registry=host.registry)
    given_gain = [{"type": "polynomial_transform"}, {"type": "packed_gain", "params": {"gain": 2}}]
    assert Pipeline.from_dict(spec(given_gain), registry=host.registry).predictor is not None
    two = [{"type": "polynomial_transform"}, {"type": "polynomial_transform"}]
    with pytest.raises(SpecError, match="exactly one polynomial_transform"):
        Pipeline.from_dict(spec(two))
    from_mosaic = [
        {"type": "pack_bayer", "params": {"pattern": "rggb"}},
        {"type": "polynomial_transform"},
    ]
    with pytest.raises(SpecError, match="predicts from packed RAW .* takes mosaic input"):
        Pipeline.from_dict(spec(from_mosaic, input="raw_mosaic"))


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_saved_weights_reproduce_the_generator(tmp_path, image, suffix):
    generator = trained_like(seed=3)
    path = save(generator, tmp_path / f"g{suffix}")
    pipeline = Pipeline.from_dict(
        spec(weights=str(path), direction="b_to_a", downsample=2)  # an integer works too
    )
    predicted = pipeline.predictor(image)["polynomial_transform"]["coefficients"]
    with torch.no_grad():
        mapped, expected = generator(torch.from_numpy(image).permute(0, 3, 1, 2), 1, 2)
    assert predicted.shape == (2, 13, 10, 14, 4) and predicted.dtype == np.float64
    np.testing.assert_allclose(predicted, expected.numpy(), rtol=1e-5, atol=1e-6)
    single = pipeline.predictor(image[1])["polynomial_transform"]["coefficients"]
    np.testing.assert_allclose(single, predicted[1], rtol=1e-5, atol=1e-6)
    out = pipeline(image)  # end to end: the stage applies the predicted coefficients
    np.testing.assert_allclose(out, mapped.permute(0, 2, 3, 1).numpy(), rtol=1e-4, atol=1e-5)


def test_weights_of_another_size_are_a_one_line_error(tmp_path):
    path = save(build_generator("small", seed=0), tmp_path / "small.safetensors")
    with pytest.raises(InputError, match=r"small.safetensors: .*another config\?"):
        Pipeline.from_dict(spec(weights=str(path), config="published"))


def test_predictions_are_clipped_to_the_declared_range(tmp_path, image):
    generator = build_generator("small", seed=1)
    with torch.no_grad():
        generator.heads[0].fc2.bias.fill_(100.0)
        generator.heads[0].fc2.bias[:4].fill_(-100.0)
    path = save(generator, tmp_path / "big.safetensors")
    predictor = Pipeline.from_dict(spec(weights=str(path))).predictor
    coefficients = predictor(image)["polynomial_transform"]["coefficients"]
    assert coefficients.max() == 16.0 and coefficients.min() == -16.0


def test_residual_stage_gets_an_untrained_generator_near_its_identity(image):
    stages = [{"type": "polynomial_transform", "params": {"residual": True}}]
    pipeline = Pipeline.from_dict(spec(stages))
    assert pipeline.predictor.generator.residual
    np.testing.assert_allclose(pipeline(image), image, atol=0.1)


def test_torch_in_gives_differentiable_torch_out(image):
    predictor = Pipeline.from_dict(spec()).predictor
    x = torch.from_numpy(image[0]).requires_grad_()
    coefficients = predictor(x)["polynomial_transform"]["coefficients"]
    assert isinstance(coefficients, torch.Tensor) and coefficients.shape == (13, 10, 14, 4)
    coefficients.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_the_example_spec_runs_from_the_cli_with_relative_weights(tmp_path, image):
    folder = tmp_path / "spec"
    folder.mkdir()
    shutil.copy(EXAMPLE_SPEC, folder / "cstpp.toml")
    np.save(tmp_path / "in.npy", image[0])
    assert (
        main(["run", str(folder / "cstpp.toml"), str(tmp_path / "in.npy"), str(tmp_path / "a.npy")])
        == 0
    )
    assert np.load(tmp_path / "a.npy").shape == (13, 10, 4)

    generator = trained_like(seed=5)
    save(generator, folder / "generator.safetensors")
    text = (folder / "cstpp.toml").read_text()
    (folder / "cstpp.toml").write_text(
        text.replace("downsample = 1\n", 'downsample = 1\nweights = "generator.safetensors"\n')
    )
    assert (
        main(["run", str(folder / "cstpp.toml"), str(tmp_path / "in.npy"), str(tmp_path / "b.npy")])
        == 0
    )
    with torch.no_grad():
        mapped = generator(torch.from_numpy(image[:1]).permute(0, 3, 1, 2), 0)[0]
    np.testing.assert_allclose(
        np.load(tmp_path / "b.npy"), mapped[0].permute(1, 2, 0).numpy(), rtol=1e-4, atol=1e-5
    )


def test_importing_the_plugin_does_not_import_torch():
    code = "import sys, plugins_builtin.cstpp; assert 'torch' not in sys.modules, 'torch imported'"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
