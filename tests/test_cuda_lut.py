"""CUDA LUT lookups (ispengine.kernels.cuda.lut) equal the array-API reference backend.

Global (per image and channel tables) and local (4-D table) lookups, with and without
Newton steps, for odd curves (f_GM, f_IT: Newton inside the kernel from their scalar
curves), a non-odd curve with a scalar curve, and one without (Newton steps after the
kernel, by the reference code). Simulator on numpy arrays without a GPU, CuPy on one.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ispengine import get_registry
from ispengine.core.capabilities import Capabilities, ScalarCurve
from ispengine.core.params import PER_CHANNEL, ParamSpec
from ispengine.core.stage import Stage
from ispengine.kernels.cuda import runtime
from ispengine.kernels.cuda.lut import global_lookup_cuda, local_lookup_cuda, lut_kernels
from ispengine.lut.backend import ArrayLutBackend, Curve
from ispengine.lut.cache import load_or_build
from ispengine.lut.inverse import _pad_params, global_tables
from ispengine.lut.table import LutGrid
from tests.cuda_arrays import device, host, needs_cuda

pytestmark = needs_cuda
FEW = settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _power(x, gamma):
    return x**gamma


def _power_derivative(x, gamma):
    return gamma * x ** (gamma - 1.0) if x > 0.0 else 0.0


def _array_derivative(stage, x, p, xp):
    return p["gamma"] * xp.clip(x, 1e-300, None) ** (p["gamma"] - 1)


class ScalarPower(Stage):
    """x^gamma on [0, 1], not odd, with its scalar curve and derivative (and the array
    derivative, which the reference's Newton steps use)."""

    name = "test_cuda_scalar_power"
    monotone = True
    params = (ParamSpec("gamma", PER_CHANNEL, 0.5, 3.0, default=1.0),)
    capabilities = Capabilities(
        scalar=ScalarCurve(_power, _power_derivative), derivative=_array_derivative
    )

    def apply(self, x, p, xp):
        return xp.clip(x, 0, None) ** p["gamma"]


class ArrayPower(ScalarPower):
    """The same curve with only an array derivative: Newton steps outside the kernel."""

    name = "test_cuda_array_power"
    capabilities = Capabilities(derivative=_array_derivative)


CURVES = {
    "gamma_tone": get_registry().get("stage", "gamma_tone").cls,
    "inverse_tone": get_registry().get("stage", "inverse_tone").cls,
    "scalar_power": ScalarPower,
    "array_power": ArrayPower,
}


def _draw(data, cls, shape):
    return np.stack(
        [
            np.reshape(
                data.draw(
                    st.lists(
                        st.floats(s.low, s.high),
                        min_size=int(np.prod(shape)),
                        max_size=int(np.prod(shape)),
                    )
                ),
                shape,
            )
            for s in cls.params
        ],
        axis=-1,
    )


def _targets(cls, params, x):
    """``y = f(x)`` with parameters ``params`` ``(..., k)`` broadcast over ``x``."""
    stage = cls()
    p = {s.name: params[..., k] for k, s in enumerate(cls.params)}
    return stage.apply(x, p, np)


def _close(got, want, dtype):
    tolerance = 1e-12 if dtype == np.float64 else 2e-7
    np.testing.assert_allclose(host(got), want, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("steps", [0, 2])
@pytest.mark.parametrize("name", sorted(CURVES))
@FEW
@given(data=st.data())
def test_global_lookup_equals_the_reference(name, steps, dtype, data):
    cls = CURVES[name]
    params = _draw(data, cls, (2, 3))  # (B, C, k)
    low = -1.0 if cls.odd_symmetric else 0.0
    x = np.random.default_rng(data.draw(st.integers(0, 99))).uniform(low, 1.0, (2, 5, 3))
    y = _targets(cls, params[:, None, :, :], x).astype(dtype)
    nodes, y_lo, y_hi = global_tables(cls, 256, params.reshape(-1, params.shape[-1]))
    shape = params.shape[:2]
    args = (nodes.reshape(shape + (-1,)), y_lo.reshape(shape), y_hi.reshape(shape))
    padded = _pad_params(params)
    curve = Curve(cls, steps)
    want = ArrayLutBackend().global_lookup(y, *args, padded, curve)
    before = runtime.launches["global_lut"]
    got = global_lookup_cuda(device(y), *(device(a) for a in args), device(padded), curve)
    assert runtime.launches["global_lut"] == before + 1
    assert got.dtype == y.dtype
    _close(got, want, dtype)


@pytest.mark.parametrize("steps", [0, 2])
@pytest.mark.parametrize("name", sorted(CURVES))
@FEW
@given(data=st.data())
def test_local_lookup_equals_the_reference(name, steps, data):
    cls = CURVES[name]
    count = len(cls.params)
    table = load_or_build(cls, LutGrid((5, 4, 4)[:count], 32))
    params = _draw(data, cls, (4, 3))  # per pixel and channel
    low = -1.0 if cls.odd_symmetric else 0.0
    x = np.random.default_rng(data.draw(st.integers(0, 99))).uniform(low, 1.0, (4, 3))
    y = _targets(cls, params, x)
    padded = _pad_params(params)
    curve = Curve(cls, steps)
    want = ArrayLutBackend().local_lookup(y, padded, table, curve)
    before = runtime.launches["local_lut"]
    got = local_lookup_cuda(device(y), device(padded), table, curve)
    assert runtime.launches["local_lut"] == before + 1
    _close(got, want, np.float64)


def test_newton_steps_run_inside_the_kernel_only_with_a_scalar_derivative():
    assert lut_kernels(Curve(CURVES["gamma_tone"], 2))[2]
    assert lut_kernels(Curve(ScalarPower, 2))[2]
    assert not lut_kernels(Curve(ArrayPower, 2))[2]
    kernel = lut_kernels(Curve(ScalarPower, 2))[0]
    assert type(kernel).__module__.startswith(("numba.cuda", "numba_cuda"))


def test_newton_steps_bring_the_lookup_closer_to_the_curve():
    cls = CURVES["gamma_tone"]
    params = np.array([[[2.2, 0.8, 0.3]] * 3])
    x = np.linspace(-1, 1, 30).reshape(1, 10, 3)
    y = _targets(cls, params[:, None, :, :], x)
    nodes, y_lo, y_hi = global_tables(cls, 16, params.reshape(-1, 3))
    args = (nodes.reshape(1, 3, -1), y_lo.reshape(1, 3), y_hi.reshape(1, 3))
    errors = []
    for steps in (0, 2):
        got = host(
            global_lookup_cuda(device(y), *map(device, args), device(params), Curve(cls, steps))
        )
        errors.append(np.max(np.abs(_targets(cls, params[:, None, :, :], got) - y)))
    assert errors[1] < errors[0] / 100
