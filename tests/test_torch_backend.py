"""The same stage definitions run on torch tensors, match numpy, and are differentiable."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ispengine import get_registry  # noqa: E402

FUNCTION_STAGES = ["color_correction", "gain", "gamma_tone", "contrast_stretch", "inverse_tone"]
SAMPLE_VALUES = {
    "color_correction": {"matrix": [[1.3, -0.2, -0.1], [-0.1, 1.2, -0.1], [0.0, -0.3, 1.3]]},
    "gain": {"p_x": 0.3, "p_w": 0.4, "p_h": [0.5, 0.6, 0.7]},
    "gamma_tone": {"g1": 2.2, "g2": 0.8, "k": 0.3},
    "contrast_stretch": {"p_x": 0.6, "p_w": 0.5, "p_h": 0.4},
    "inverse_tone": {"g3": 1.8, "g4": 0.5, "k2": 0.4},
}


def _stage(name):
    return get_registry().get("stage", name).cls(**SAMPLE_VALUES[name])


@pytest.mark.parametrize("name", FUNCTION_STAGES)
def test_torch_matches_numpy(name):
    stage = _stage(name)
    x = np.random.default_rng(0).uniform(0, 1, (5, 6, 3))
    assert np.allclose(stage(torch.from_numpy(x)).numpy(), stage(x), atol=1e-12)


@pytest.mark.parametrize("name", FUNCTION_STAGES)
def test_gradient_flows_to_image_and_parameters(name):
    stage = _stage(name)
    x = torch.rand(2, 4, 5, 3, dtype=torch.float64, requires_grad=True)
    params = {
        spec.name: torch.tensor(
            np.broadcast_to(stage.values[spec.name], (2, *spec.shape)).copy(), requires_grad=True
        )
        for spec in stage.params
    }
    stage(x, params).square().sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for name_, value in params.items():
        assert value.grad is not None and torch.isfinite(value.grad).all(), name_
        assert value.grad.abs().sum() > 0, name_


@pytest.mark.parametrize("name", FUNCTION_STAGES)
def test_gradcheck(name):
    stage = _stage(name)
    x = (torch.rand(2, 3, 3, dtype=torch.float64) * 0.9 + 0.05).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: stage(t), (x,))


def test_gradient_is_finite_at_zero_pixels():
    stage = get_registry().get("stage", "gamma_tone").cls(g1=2.2)
    x = torch.zeros(1, 2, 3, dtype=torch.float64, requires_grad=True)
    stage(x).sum().backward()
    assert torch.isfinite(x.grad).all()


def test_float32_tensors_stay_float32():
    stage = _stage("gamma_tone")
    assert stage(torch.rand(2, 2, 3)).dtype == torch.float32


def test_exact_inverse_runs_on_torch():
    from ispengine import Pipeline

    pipeline = Pipeline.from_dict(
        {"stage": [{"type": n, "params": SAMPLE_VALUES[n]} for n in FUNCTION_STAGES[:4]]}
    )
    x = torch.rand(4, 4, 3, dtype=torch.float64)
    assert torch.allclose(pipeline.inverse()(pipeline(x)), x, atol=1e-9)
