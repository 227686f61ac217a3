"""Every learned method and trainer runs through the shared torch runtime: ``device``,
``precision`` and ``prefetch`` (ispengine.learning.torch_runtime)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ispengine.core.errors import ParamError  # noqa: E402
from ispengine.core.plugins import get_registry  # noqa: E402
from ispengine.learning.datasets import open_dataset  # noqa: E402
from ispengine.learning.srgb_to_raw import Budget  # noqa: E402
from ispengine.learning.torch_runtime import (  # noqa: E402
    DEVICE_SETTING,
    LEARNING_SETTINGS,
    PRECISION_SETTING,
    TorchRuntime,
)
from ispengine.learning.weights import as_numpy  # noqa: E402
from ispengine.synthcam import generate_pairs, open_pairs  # noqa: E402
from ispengine.synthcam.generate import generate_dataset  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")

METHOD_KINDS = ("srgb_to_raw", "raw_to_srgb", "raw_to_raw")
LIGHTWEIGHT = {"extractors": "random", "extractor_size": "small", "batch_size": 2, "crop": 32}
FUNCTION_ISP = {"resize": 16, "width": 4, "grid": 2, "crop": 16, "batch_size": 2}
#: A tiny configuration of every learned method (kind, name) and the data it fits on.
TINY = {
    ("srgb_to_raw", "cycleisp"): ({"crop": 16, "batch_size": 2, "lr": 1e-3}, "paired"),
    ("srgb_to_raw", "invisp"): ({"crop": 16, "batch_size": 2, "lr": 1e-3}, "paired"),
    ("raw_to_srgb", "invisp"): ({"crop": 16, "batch_size": 2, "lr": 1e-3}, "paired"),
    ("srgb_to_raw", "ssdnet"): ({"crops": [16], "batch_size": 2, "lr": 1e-3}, "paired"),
    ("srgb_to_raw", "paramisp"): ({"config": "small", "crop": 32, "batch_size": 2}, "paired"),
    ("raw_to_srgb", "paramisp"): ({"config": "small", "crop": 32, "batch_size": 2}, "paired"),
    ("srgb_to_raw", "semiisp"): ({**FUNCTION_ISP, "bank_size": 4}, "paired"),
    ("raw_to_srgb", "semiisp_function_isp"): (FUNCTION_ISP, "paired"),
    ("raw_to_srgb", "unet_isp"): ({"width": 4, "depth": 1, "crop": 16, "batch_size": 2}, "paired"),
    ("raw_to_srgb", "efficient_isp"): (LIGHTWEIGHT, "paired"),
    ("raw_to_srgb", "robust_isp"): (LIGHTWEIGHT, "paired"),
    ("raw_to_raw", "cstpp"): (
        {"config": "small", "crop": 24, "batch_size": 2, "disc_width": 8, "lr_g": 1e-3},
        "cameras",
    ),
}
CUDA = torch.cuda.is_available()


def learned_methods() -> list[tuple[str, str]]:
    registry = get_registry()
    return [
        (kind, record.name)
        for kind in METHOD_KINDS
        for record in registry.records(kind)
        if getattr(record.cls, "learned", False)
    ]


def declares(settings, shared) -> bool:
    return any(setting is shared for setting in settings)


@pytest.fixture(scope="module")
def data(tmp_path_factory, torch_one_thread):
    paired = tmp_path_factory.mktemp("paired")
    generate_dataset(paired, 6, (64, 96), 0, ["nikon_5100", "sigma_sdmerrill"], progress=False)
    cameras = tmp_path_factory.mktemp("cameras")
    generate_pairs(cameras, ("nikon_5100", "synthcam_phone"), 2, 0, 1, (64, 96), 2, progress=False)
    return {"paired": open_dataset(paired), "cameras": open_pairs(cameras)}


def make(kind: str, name: str, **settings):
    cls = get_registry().get(kind, name).cls
    return cls(**{**TINY[(kind, name)][0], **settings})


def fit(method, kind: str, name: str, data, steps: int = 2, **keywords):
    torch.manual_seed(0)  # ParamISP's dropout draws from torch's global generator
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # SemiISP: no VGG weights given
        return method.fit(
            data[TINY[(kind, name)][1]], Budget(steps=steps), progress=False, **keywords
        )


def weights(method) -> dict[str, np.ndarray]:
    """The method's float weights (a SemiISP bank's sets left out)."""
    arrays = {key: as_numpy(value) for key, value in method.state().items()}
    return {
        key: array.astype(np.float64)
        for key, array in arrays.items()
        if not key.startswith("bank.") and array.dtype.kind == "f"
    }


# -- the declarations ---------------------------------------------------------------
def test_every_learned_method_is_covered_here():
    assert set(learned_methods()) == set(TINY)


@pytest.mark.parametrize("kind, name", sorted(TINY))
def test_every_learned_method_declares_the_shared_settings(kind, name):
    cls = get_registry().get(kind, name).cls
    for shared in LEARNING_SETTINGS:
        assert declares(cls.settings, shared), f"{name} lacks the shared {shared.name!r}"
    config = cls().config
    assert (config["device"], config["precision"]) == ("auto", "float32")


def test_the_trainers_and_predictors_declare_them():
    from ispengine.learning.forward_training import FORWARD_TRAINING_SETTINGS
    from plugins_builtin.semiisp.experiment import SECTIONS

    for settings in (FORWARD_TRAINING_SETTINGS, SECTIONS["train"]):
        assert all(declares(settings, shared) for shared in LEARNING_SETTINGS)
    for record in get_registry().records("param_predictor"):
        settings = record.cls.settings
        assert declares(settings, DEVICE_SETTING), record.name
        assert declares(settings, PRECISION_SETTING), record.name


# -- the runtime ----------------------------------------------------------------------
def test_float16_on_the_cpu_and_unknown_precisions_are_one_line_errors():
    for device, precision in (("cpu", "float16"), ("cpu", "half")):
        with pytest.raises(ParamError) as error:
            TorchRuntime(device, precision)
        assert "\n" not in str(error.value) and "precision" in str(error.value)


def test_bfloat16_autocast_on_the_cpu_runs_matmuls_in_bfloat16():
    runtime = TorchRuntime("cpu", "bfloat16")
    layer = torch.nn.Linear(4, 4)
    with runtime.autocast():
        assert layer(torch.ones(2, 4)).dtype == torch.bfloat16
    assert layer(torch.ones(2, 4)).dtype == torch.float32
    assert runtime.output(layer(torch.ones(2, 4)).bfloat16()).dtype == np.float32


def test_step_clips_the_gradient_norm():
    runtime = TorchRuntime("cpu")
    weight = torch.nn.Parameter(torch.zeros(3))
    optimizer = torch.optim.SGD([weight], lr=1.0)
    runtime.step(
        (weight * torch.tensor([30.0, 40.0, 0.0])).sum(), optimizer, clip=1.0, parameters=[weight]
    )
    np.testing.assert_allclose(weight.detach().numpy(), [-0.6, -0.8, 0.0], rtol=1e-6)


# -- every method, a tiny training step ---------------------------------------------------
@pytest.mark.parametrize("kind, name", sorted(TINY))
def test_a_bfloat16_step_on_the_cpu_is_finite_and_learns(kind, name, data):
    method = make(kind, name, device="cpu", precision="bfloat16")
    before = weights(method)
    report = fit(method, kind, name, data, seed=0)
    assert report.steps == 2 and np.all(np.isfinite(report.losses))
    after = weights(method)
    assert any(not np.array_equal(before[k], after[k]) for k in before if k in after)


@pytest.mark.parametrize("kind, name", sorted(TINY))
def test_prefetching_does_not_change_the_result(kind, name, data):
    results = []
    for depth in (0, 3):
        method = make(kind, name, device="cpu", prefetch=depth)
        report = fit(method, kind, name, data, steps=3, seed=5)
        results.append((report.losses, weights(method)))
    (losses0, weights0), (losses3, weights3) = results
    assert losses0 == losses3
    assert weights0.keys() == weights3.keys()
    for key in weights0:
        np.testing.assert_array_equal(weights0[key], weights3[key], err_msg=key)


@pytest.mark.skipif(CUDA, reason="torch sees a CUDA device here")
@pytest.mark.parametrize("kind, name", sorted(TINY))
def test_cuda_without_cuda_is_a_one_line_error(kind, name, data):
    with pytest.raises(ParamError) as error:
        fit(make(kind, name, device="cuda"), kind, name, data)
    assert "\n" not in str(error.value) and "cuda" in str(error.value)


@pytest.mark.skipif(not CUDA, reason="torch sees no CUDA device")
@pytest.mark.parametrize("precision", ["float32", "bfloat16", "float16"])
@pytest.mark.parametrize("kind, name", sorted(TINY))
def test_a_tiny_step_on_cuda(kind, name, precision, data):
    if precision == "float16" and name in ("efficient_isp", "robust_isp"):
        pytest.skip("the forward trainer refuses float16 (documented)")
    method = make(kind, name, device="cuda", precision=precision)
    before = weights(method)
    report = fit(method, kind, name, data, seed=0)
    assert np.all(np.isfinite(report.losses))
    after = weights(method)
    assert any(not np.array_equal(before[k], after[k]) for k in before if k in after)


def test_float32_on_cuda_means_float32_not_tf32(monkeypatch):
    torch = pytest.importorskip("torch")
    from ispengine.learning.torch_runtime import TorchRuntime

    monkeypatch.setattr(TorchRuntime, "cuda", property(lambda self: True))
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    try:
        with TorchRuntime("cpu", "float32").autocast():
            assert not torch.backends.cudnn.allow_tf32
            assert not torch.backends.cuda.matmul.allow_tf32
        assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
