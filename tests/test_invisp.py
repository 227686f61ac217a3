"""Invertible-ISP: the network's size and invertibility, the authors' layout, the stage
and its learned inverse in a TOML pipeline, training, conversion and bad inputs."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

torch = pytest.importorskip("torch")

from ispengine import Pipeline  # noqa: E402
from ispengine.core.errors import InputError, ParamError  # noqa: E402
from ispengine.learning.datasets import open_dataset  # noqa: E402
from ispengine.learning.raw_to_srgb import load_raw_to_srgb, raw_to_srgb_class  # noqa: E402
from ispengine.learning.srgb_to_raw import Budget, load_method, method_class  # noqa: E402
from ispengine.learning.weights import save_arrays  # noqa: E402
from ispengine.specs import resolve_spec  # noqa: E402
from ispengine.synthcam.generate import generate_dataset  # noqa: E402
from ispengine.testing import StageExample, assert_round_trip  # noqa: E402
from plugins_builtin.invisp.method import (  # noqa: E402
    InvertibleISP,
    InvertibleISPRender,
    to_camera_rgb,
    to_mosaic,
)
from plugins_builtin.invisp.networks import (  # noqa: E402
    CONFIGS,
    InvISPConfig,
    build,
    count_parameters,
    network_from_arrays,
)
from plugins_builtin.invisp.stages import InvISPForward, InvISPForwardInverse  # noqa: E402

FAST = {"crop": 16, "batch_size": 2, "lr": 1e-3}


def perturbed(config: InvISPConfig, seed: int = 0):
    """A network whose couplings are not the identity (fresh ones start as it)."""
    network = build(config, seed)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in network.named_parameters():
            if name.endswith("conv5.weight"):
                tensor.copy_(0.05 * torch.randn(tensor.shape, generator=generator))
    return network.eval()


@pytest.fixture(scope="module")
def small_weights(tmp_path_factory):
    """A perturbed small network's weights as safetensors (and the network)."""
    root = tmp_path_factory.mktemp("invisp")
    network = perturbed(CONFIGS["small"])
    path = save_arrays(root / "invisp.safetensors", network.state_dict())
    return path, network


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthcam")
    generate_dataset(root, n=6, size=(32, 48), seed=1, progress=False)
    return open_dataset(root)


# -- the network --------------------------------------------------------------------------
def test_published_network_has_the_papers_parameter_count():
    count = count_parameters(build(CONFIGS["published"]))
    assert 1_400_000 <= count <= 1_420_000
    assert count == 1_413_760  # the authors' code, counted


def test_state_dict_uses_the_authors_names_and_shapes():
    state = build(CONFIGS["published"]).state_dict()
    assert len(state) == 8 * 35  # 3 dense blocks × 10 tensors + 5 of the 1×1 convolution
    assert tuple(state["operations.0.F.conv1.weight"].shape) == (32, 2, 3, 3)
    assert tuple(state["operations.0.F.conv5.weight"].shape) == (1, 130, 3, 3)
    assert tuple(state["operations.7.G.conv5.weight"].shape) == (2, 129, 3, 3)
    assert tuple(state["operations.3.H.conv4.weight"].shape) == (32, 97, 3, 3)
    for name in ("lower", "log_s", "upper", "p", "sign_s"):
        assert f"operations.7.invconv.{name}" in state


def test_a_fresh_network_renders_something_else_than_its_input():
    x = torch.rand(1, 3, 8, 8)
    assert torch.max(torch.abs(build(CONFIGS["small"], 3)(x) - x)) > 1e-3  # the 1×1 convs mix


@settings(max_examples=25, deadline=None)
@given(
    image=hnp.arrays(np.float32, (6, 10, 3), elements=st.floats(0, 1, width=32)),
    seed=st.integers(0, 2**16),
)
def test_backward_undoes_forward_to_float32_precision(image, seed):
    network = perturbed(CONFIGS["small"], seed)
    x = torch.from_numpy(image).permute(2, 0, 1)[None]
    with torch.no_grad():
        y = network(x)
        restored = network(y, reverse=True)
    assert torch.max(torch.abs(restored - x)).item() < 1e-4


def test_published_network_round_trip_error_is_float32_sized():
    network = perturbed(CONFIGS["published"], 1)
    x = torch.rand(1, 3, 24, 20, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        error = torch.max(torch.abs(network(network(x), reverse=True) - x)).item()
    assert error < 1e-4


@pytest.mark.parametrize("blocks, growth", [(0, 8), (65, 8), (4, 0), (True, 8)])
def test_network_sizes_outside_their_ranges_are_refused(blocks, growth):
    with pytest.raises(ParamError):
        InvISPConfig(blocks, growth)


# -- the authors' checkpoints ---------------------------------------------------------------
def test_a_state_dict_in_the_authors_layout_loads_and_runs(tmp_path):
    reference = perturbed(CONFIGS["published"], 2)
    # DataParallel prefixes, saved with torch.save as their training script does
    state = {f"module.{k}": v.clone() for k, v in reference.state_dict().items()}
    torch.save(state, tmp_path / "invisp_official.pth")
    x = np.random.default_rng(0).uniform(0, 1, (12, 16, 3)).astype(np.float32)
    stage = InvISPForward(weights=str(tmp_path / "invisp_official.pth"))
    with torch.no_grad():
        expected = reference(torch.from_numpy(x).permute(2, 0, 1)[None])[0].permute(1, 2, 0)
    np.testing.assert_allclose(stage(x), expected.numpy(), atol=1e-5)
    method = InvertibleISP(config="published")
    method.load_state(state)
    srgb = np.clip(expected.numpy(), 0, 1)
    raw = method.convert(srgb, metadata={"cfa_pattern": "rggb", "wb_gains": [2.0, 1.0, 1.5]})
    with torch.no_grad():
        camera = reference(torch.from_numpy(srgb).permute(2, 0, 1)[None], reverse=True)
    mosaic = np.clip(to_mosaic(camera[0].permute(1, 2, 0).numpy(), "rggb", [2.0, 1.0, 1.5]), 0, 1)
    np.testing.assert_allclose(raw.raw.mosaic, mosaic, atol=1e-5)


def test_weights_of_another_size_or_method_or_nan_are_one_line_errors(tmp_path):
    small = perturbed(CONFIGS["small"]).state_dict()
    with pytest.raises(InputError, match="config 'published'"):
        InvertibleISP(config="published").load_state(small)
    with pytest.raises(InputError, match="not Invertible-ISP weights"):
        network_from_arrays({"rgb2raw.head.weight": np.zeros((3, 3, 3, 3))}, "x")
    broken = {k: v.clone() for k, v in small.items()}
    broken["operations.1.G.conv2.bias"][0] = float("nan")
    with pytest.raises(InputError, match="NaN") as error:
        InvertibleISP().load_state(broken)
    assert "\n" not in str(error.value)
    missing = {k: v for k, v in small.items() if "operations.2.F.conv3" not in k}
    with pytest.raises(InputError, match="operations.2.F.conv3"):
        InvertibleISP().load_state(missing)


# -- the stage and its learned inverse ------------------------------------------------------
@settings(max_examples=20, deadline=None)
@given(
    image=hnp.arrays(np.float64, (4, 6, 3), elements=st.floats(0, 1)),
    dtype=st.sampled_from(["float32", "float64"]),
)
def test_round_trip_helper_reports_a_float32_sized_error(small_weights, image, dtype):
    path, _ = small_weights
    example = StageExample({}, {"weights": str(path)}, image)
    error = assert_round_trip(InvISPForwardInverse, example, dtype)
    assert error < 1e-4


def test_shipped_pipeline_inverts_itself_through_the_learned_inverse(small_weights, tmp_path):
    path, _ = small_weights
    text = resolve_spec("invisp_camera").read_text()
    text = text.replace(
        'name = "invertible_isp"\n', f'name = "invertible_isp"\nparams = {{ weights = "{path}" }}\n'
    )
    spec = tmp_path / "camera.toml"
    spec.write_text(text)
    pipeline = Pipeline.from_toml(spec).bind({"cfa_pattern": "grbg", "wb_gains": [1.8, 1.0, 1.4]})
    inverse = pipeline.inverse()
    assert [type(s).__name__ for s in inverse.stages][0] == "InvISPForwardInverse"
    mosaic = np.random.default_rng(1).uniform(0, 0.5, (16, 20)).astype(np.float32)
    srgb = pipeline(mosaic)
    assert srgb.shape == (16, 20, 3)
    np.testing.assert_allclose(inverse(srgb), mosaic, atol=1e-4)


def test_inverse_takes_its_own_weights_and_needs_some(small_weights, tmp_path):
    path, network = small_weights
    other = perturbed(CONFIGS["small"], 5)
    other_path = save_arrays(tmp_path / "other.safetensors", other.state_dict())
    forward = InvISPForward(weights=str(path))
    x = np.random.default_rng(2).uniform(0, 1, (8, 8, 3)).astype(np.float32)
    own = InvISPForwardInverse.from_forward(forward, weights=str(other_path))
    with torch.no_grad():
        expected = other(torch.from_numpy(x).permute(2, 0, 1)[None], reverse=True)
    np.testing.assert_allclose(own(x), expected[0].permute(1, 2, 0).numpy(), atol=1e-5)
    with pytest.raises(ParamError, match="needs Invertible-ISP weights"):
        InvISPForwardInverse.from_forward(InvISPForward())(x)
    with pytest.raises(ParamError, match="needs Invertible-ISP weights"):
        InvISPForward()(x)


def test_torch_inputs_keep_gradients(small_weights):
    path, _ = small_weights
    x = torch.rand(2, 6, 6, 3, requires_grad=True)
    out = InvISPForward(weights=str(path))(x)
    out.sum().backward()
    assert x.grad is not None and torch.all(torch.isfinite(x.grad))


# -- the camera side -----------------------------------------------------------------------
@pytest.mark.parametrize("pattern", ["rggb", "bggr", "grbg", "gbrg"])
def test_camera_rgb_and_back_restores_the_mosaic(pattern):
    mosaic = np.random.default_rng(3).uniform(0, 1, (10, 12)).astype(np.float32)
    rgb = to_camera_rgb(mosaic, pattern, [2.0, 1.0, 1.6])
    assert rgb.shape == (10, 12, 3)
    np.testing.assert_allclose(to_mosaic(rgb, pattern, [2.0, 1.0, 1.6]), mosaic, atol=1e-6)


# -- the method ------------------------------------------------------------------------------
def test_registered_and_listed():
    assert method_class("invisp") is InvertibleISP
    listing = subprocess.run(
        [sys.executable, "-m", "ispengine.cli", "stages"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in ("invisp_forward ", "invisp_forward_learned_inverse", "invisp "):
        assert name in listing


@pytest.mark.parametrize("jpeg", [True, False])
def test_fit_trains_and_convert_makes_the_targets_raw(dataset, tmp_path, jpeg):
    method = InvertibleISP(jpeg=jpeg, **FAST)
    report = method.fit(dataset, Budget(steps=6), seed=0, progress=False)
    assert report.steps == 6 and all(np.isfinite(report.losses))
    sample = next(iter(dataset.split("test")))
    colour = sample.raw.colour
    metadata = {"cfa_pattern": "bggr", "wb_gains": colour.wb_gains.tolist()}
    result = method.convert(sample.srgb, metadata=metadata)
    assert result.raw.mosaic.shape == sample.srgb.shape[:2]
    assert result.raw.colour.cfa_pattern == "bggr"
    assert result.raw.mosaic.min() >= 0.0 and result.raw.mosaic.max() <= 1.0
    saved = method.save(tmp_path / "model.json")
    again = load_method(saved)
    np.testing.assert_array_equal(
        again.convert(sample.srgb, metadata=metadata).raw.mosaic, result.raw.mosaic
    )


def test_training_is_reproducible_and_resumes(dataset, tmp_path):
    fast = {**FAST, "lr_decay": False}  # the decay follows the budget, which resuming changes
    first = InvertibleISP(**fast).fit(dataset, Budget(steps=4), seed=3, progress=False)
    second = InvertibleISP(**fast).fit(dataset, Budget(steps=4), seed=3, progress=False)
    assert first.losses == second.losses
    checkpoint = tmp_path / "run.ckpt"
    InvertibleISP(**fast).fit(
        dataset, Budget(steps=2), seed=3, checkpoint=checkpoint, progress=False
    )
    resumed = InvertibleISP(**fast).fit(
        dataset, Budget(steps=4), seed=3, checkpoint=checkpoint, resume=True, progress=False
    )
    assert resumed.resumed_from == 2
    np.testing.assert_allclose(resumed.losses[-2:], first.losses[-2:], rtol=1e-4)


def test_learning_rate_halves_at_the_papers_milestones(dataset):
    method = InvertibleISP(**FAST)
    captured = []
    original = torch.optim.Adam.step

    def spy(self, *args, **kwargs):
        captured.append(self.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    torch.optim.Adam.step = spy
    try:
        method.fit(dataset, Budget(steps=30), seed=0, progress=False)
    finally:
        torch.optim.Adam.step = original
    assert captured[0] == pytest.approx(1e-3)
    assert captured[5] == pytest.approx(5e-4)  # after 50/300 of 30 steps
    assert captured[-1] == pytest.approx(2.5e-4)  # after 80/300


def test_convert_without_white_balance_is_a_one_line_error():
    with pytest.raises(InputError, match="white balance"):
        InvertibleISP().convert(np.zeros((4, 4, 3), np.float32), metadata={"cfa_pattern": "rggb"})


def test_odd_crop_is_refused():
    with pytest.raises(ParamError, match="even"):
        InvertibleISP(crop=17)


def test_cli_refuses_weights_of_another_method(tmp_path):
    from plugins_builtin.cycleisp.method import CycleISP

    saved = CycleISP().save(tmp_path / "cycle.json")
    image = tmp_path / "in.npy"
    np.save(image, np.zeros((8, 8, 3), np.float32))
    document = json.loads(saved.read_text())
    document["method"] = "invisp"  # a settings file naming invisp over CycleISP weights
    document["settings"] = {}
    (tmp_path / "fake.json").write_text(json.dumps(document))
    (tmp_path / "fake.safetensors").write_bytes((tmp_path / "cycle.safetensors").read_bytes())
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ispengine.cli",
            "unprocess",
            "--method",
            "invisp",
            "--weights",
            str(tmp_path / "fake.json"),
            str(image),
            str(tmp_path / "out.npy"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "not Invertible-ISP weights" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out.npy").exists()


def test_the_forward_method_renders_with_the_network_a_saved_inverse_holds(dataset, tmp_path):
    assert raw_to_srgb_class("invisp") is InvertibleISPRender
    trained = InvertibleISP(**FAST)
    trained.fit(dataset, Budget(steps=2), seed=0, progress=False)
    forward = load_raw_to_srgb(trained.save(tmp_path / "model.json"))
    assert isinstance(forward, InvertibleISPRender)
    sample = next(iter(dataset.split("test")))
    rendered = forward.render(sample.raw)
    assert rendered.shape == sample.srgb.shape and rendered.dtype == np.float32
    assert rendered.min() >= 0.0 and rendered.max() <= 1.0
    from ispengine.io.raw.levels import normalize

    camera = to_camera_rgb(normalize(sample.raw), sample.raw.cfa_pattern, sample.raw.wb_gains)
    with torch.no_grad():
        expected = trained.network()(torch.from_numpy(camera).permute(2, 0, 1)[None])
    np.testing.assert_allclose(
        rendered, np.clip(expected[0].permute(1, 2, 0).numpy(), 0, 1), atol=1e-5
    )
    with pytest.raises(InputError, match="RawImage"):
        forward.render(np.zeros((4, 4)))
