"""Which LUT backend gets which arrays: each backend is handed only the arrays it accepts.

A device backend is simulated on the CPU by the array-API reference backend run on
``array-api-strict`` arrays of a non-default device, registered under the name
``cupy`` (what the real CuPy backend is: the same reference code on CuPy arrays).
``auto`` must skip a backend that is available but does not accept the input; a
backend named explicitly that cannot take it is a one-line :class:`InputError`.
"""

from __future__ import annotations

from typing import Any

import array_api_compat
import numpy as np
import pytest

from ispengine import InputError, PluginHost, hookimpl
from ispengine.core.arrays import to_host
from ispengine.lut.backend import ArrayLutBackend
from ispengine.lut.inverse import select_backend

xs = pytest.importorskip("array_api_strict")
DEVICE = xs.Device("device1")
SMALL = {"param_points": [9, 7, 7], "output_points": 64, "newton_steps": 4}


class StrictDeviceBackend(ArrayLutBackend):
    """The reference lookups on array-api-strict arrays: a stand-in for CuPy's backend."""

    name = "cupy"
    xp: Any = xs

    @classmethod
    def accepts(cls, y: Any) -> bool:
        return type(y).__module__.startswith("array_api_strict")


class AbsentBackend(StrictDeviceBackend):
    """A device backend whose library or device is missing here."""

    @classmethod
    def available(cls) -> bool:
        return False


def _registry(*backends: type) -> Any:
    plugin = type(
        "Backends",
        (),
        {
            "ispengine_register_lut_backends": staticmethod(
                hookimpl(lambda register: [register(b) for b in backends])
            )
        },
    )
    host = PluginHost(load_entry_points=False)
    host.register(plugin, "backends")
    return host.registry


def _gamma_tone():
    from plugins_builtin.function_stages.gamma_tone import GammaTone, GammaToneLutInverse

    return GammaTone, GammaToneLutInverse


def test_auto_gives_each_array_type_its_own_backend():
    registry = _registry(ArrayLutBackend, StrictDeviceBackend)
    on_host = np.zeros((1, 2, 3))
    on_device = xs.asarray(on_host, device=DEVICE)
    assert type(select_backend("auto", on_host, registry)) is ArrayLutBackend
    assert type(select_backend("auto", on_device, registry)) is StrictDeviceBackend


def test_a_named_backend_refuses_arrays_it_is_not_for_in_one_line():
    registry = _registry(ArrayLutBackend, StrictDeviceBackend)
    on_device = xs.asarray(np.zeros((1, 2, 3)), device=DEVICE)
    with pytest.raises(InputError, match="LUT backend 'numpy' cannot take Array arrays"):
        select_backend("numpy", on_device, registry)
    with pytest.raises(InputError, match="LUT backend 'cupy' cannot take ndarray arrays"):
        select_backend("cupy", np.zeros((1, 2, 3)), registry)


def test_an_unavailable_backend_is_skipped_by_auto_and_refused_by_name():
    registry = _registry(ArrayLutBackend, AbsentBackend)
    on_device = xs.asarray(np.zeros((1, 2, 3)), device=DEVICE)
    with pytest.raises(InputError, match="not available here"):
        select_backend("cupy", on_device, registry)
    with pytest.raises(InputError, match="no LUT backend accepts Array arrays"):
        select_backend("auto", on_device, registry)
    assert type(select_backend("auto", np.zeros((1, 2, 3)), registry)) is ArrayLutBackend


@pytest.mark.parametrize("path", ["global", "local"])
def test_the_device_backend_runs_on_the_device_and_matches_numpy(path):
    gamma_tone, inverse_cls = _gamma_tone()
    rng = np.random.default_rng(5)
    if path == "global":
        forward = gamma_tone(g1=[2.2, 1.0, 3.0], g2=0.8, k=0.3)
    else:
        forward = gamma_tone(g1=rng.uniform(1.0, 3.0, (6, 7, 3)), g2=0.8, k=0.3)
    y = forward(rng.uniform(-1, 1, (6, 7, 3)))
    registry = _registry(ArrayLutBackend, StrictDeviceBackend)
    inverse = inverse_cls.from_forward(forward, **SMALL).with_registry(registry)
    on_device = inverse(xs.asarray(y, device=DEVICE))
    assert array_api_compat.array_namespace(on_device) is xs and on_device.device == DEVICE
    on_host = inverse(y)
    assert isinstance(on_host, np.ndarray)
    assert np.allclose(to_host(on_device), on_host, atol=1e-12)


def test_without_a_backend_for_the_device_the_lookup_goes_through_the_host():
    gamma_tone, inverse_cls = _gamma_tone()
    forward = gamma_tone(g1=2.2)
    y = forward(np.random.default_rng(6).uniform(0, 1, (4, 5, 3)))
    inverse = inverse_cls.from_forward(forward).with_registry(_registry(ArrayLutBackend))
    result = inverse(xs.asarray(y, device=DEVICE))
    assert result.device == DEVICE
    assert np.allclose(to_host(result), inverse(y), atol=1e-12)
    named = inverse_cls.from_forward(forward, backend="numpy")
    with pytest.raises(InputError, match="cannot take"):
        named(xs.asarray(y, device=DEVICE))
