"""Every registered stage, inverse and filter runs on device arrays and stays on the device.

Each class of the default registry (built-ins and installed plugins, the contrib
vignetting plugin included) runs on a small image placed on a non-default device,
with its parameters given on that device as constants to the constructor, as
per-pixel maps (for ``local`` parameters) per call and to the constructor, and as
per-image values for a batch. The result must be an array of the input's namespace
on the input's device, equal to the numpy result.

Two device libraries: ``array-api-strict`` (always; its ``device1`` refuses mixing
devices and implicit numpy conversion, which is the discipline CuPy needs) and CuPy
(where it is importable and has a CUDA device). Learned torch-model stages take
the device array through DLPack (``Stage.runs_in_torch``); those that need a weights
file are skipped with that reason (``unet_isp`` runs untrained).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import array_api_compat
import numpy as np
import pytest

from ispengine import InputError, ParamError, Pipeline, get_registry
from ispengine.core.arrays import to_host
from ispengine.core.stage import InverseStage, Stage
from ispengine.kernels.fused import constant_channel_params

KINDS = ("stage", "inverse_stage", "filter")
CLASSES = {r.name: r.cls for kind in KINDS for r in get_registry().records(kind)}
HEIGHT, WIDTH = 6, 8
TOLERANCE = 1e-9
# Values for parameters without a default (``None``): a valid constant of each.
REQUIRED = {
    "black_level": {"black": 0.0625, "white": 1.0},
    "camera_to_srgb": {"matrix": np.eye(3)},
    "hdr_stitch": {"short": 0.5},
}
MODES = ("constants", "maps_per_call", "maps_to_constructor", "per_image")
# Where the numpy path is an approximation of the device path by design: the Bayer
# bilateral filter reads exp(−u) from a table there (relative error below 2e-6, its
# module docstring) and evaluates it exactly on other array types.
APPROXIMATE = {"bayer_noise_reduction": 1e-5}
# LUT inverses: each backend interpolates its tables by its own rules (the Numba and CUDA
# kernels' first cell is linear), within 1/(global_points − 1)² of the range.
LUT_TOLERANCE = 1e-6
# Torch models compute in float32; on a GPU cuDNN may use TF32 for convolutions.
TORCH_GPU_TOLERANCE = 5e-3
# Parameters that take one value for the whole batch (a seed), not per-image values.
NOT_PER_IMAGE = {"seed"}
# A small LUT grid keeps the local lookup fast (both sides use the same table).
LUT_SETTINGS = {"output_points": 64, "newton_steps": 4}


@dataclass(frozen=True)
class Device:
    """A device array library: how to place a numpy array on its device."""

    name: str
    xp: Any
    device: Any

    def put(self, array: Any) -> Any:
        return self.xp.asarray(np.asarray(array), device=self.device)

    def assert_placed(self, result: Any) -> None:
        assert array_api_compat.array_namespace(result) is array_api_compat.array_namespace(
            self.put(np.zeros(1))
        ), type(result)
        assert array_api_compat.device(result) == self.device


def _strict() -> Device:
    xp = pytest.importorskip("array_api_strict")
    return Device("array_api_strict", xp, xp.Device("device1"))


def _cupy() -> Device:
    cupy = pytest.importorskip("cupy", reason="CuPy is not installed")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception:  # no driver
        count = 0
    if count == 0:
        pytest.skip("CuPy has no CUDA device here")
    import array_api_compat.cupy as xp  # the array-API namespace: asarray(..., device=)

    return Device("cupy", xp, cupy.cuda.Device(0))


DEVICES = {"array_api_strict": _strict, "cupy": _cupy}


def _constant(spec: Any, stage: str) -> np.ndarray:
    """The spec's default, else the value in ``REQUIRED``, as a float64 array of its shape."""
    value = spec.default if spec.default is not None else REQUIRED[stage][spec.name]
    return np.broadcast_to(np.asarray(value, dtype=np.float64), spec.shape).copy()


def _forward_class(cls: type[Stage]) -> type[Stage]:
    return cls.forward if issubclass(cls, InverseStage) else cls


def _build(cls: type[Stage], values: dict[str, Any]) -> Stage:
    if issubclass(cls, InverseStage):
        settings = {}
        if cls.method == "lut":
            settings = {**LUT_SETTINGS, "param_points": [9, 7, 7][: len(cls.params)]}
        return cls.from_forward(cls.forward(**values), **settings)
    return cls(**values)


def _image(cls: type[Stage], values: dict[str, Any], batch: tuple[int, ...]) -> np.ndarray:
    """An input for ``cls``: inside the forward stage's domain, through the forward stage
    for an inverse."""
    forward_cls = _forward_class(cls)
    forward = forward_cls(**values)
    layout = forward_cls.input_layout
    shape = {"rgb": (HEIGHT, WIDTH, 3), "packed": (HEIGHT, WIDTH, 4), "mosaic": (HEIGHT, WIDTH)}
    low, high = forward.input_domain()
    low, high = max(low, -1.0), min(high, 1.0)
    rng = np.random.default_rng(7)
    x = rng.uniform(low + 0.05 * (high - low), high - 0.05 * (high - low), batch + shape[layout])
    return forward(x) if issubclass(cls, InverseStage) else x


def _maps(cls: type[Stage], constants: dict[str, np.ndarray], lead: tuple[int, ...]) -> dict:
    """Per-pixel maps (``lead`` = image size) of every local parameter: its constant at
    most pixels, nudged inside the range at one, so a map differs from its constant."""
    maps = {}
    for spec in _forward_class(cls).params:
        if not spec.local:
            continue
        value = np.broadcast_to(constants[spec.name], lead + spec.shape).copy()
        nudged = value[(0,) * len(lead)]
        whole = np.all(nudged == np.round(nudged)) and spec.high - spec.low >= 2
        step = 1.0 if whole else 0.01 * (spec.high - spec.low)  # whole numbers stay whole
        value[(0,) * len(lead)] = np.where(nudged + step <= spec.high, nudged + step, nudged - step)
        maps[spec.name] = value
    return maps


def _same_random_weights(cls: type[Stage]) -> None:
    """Seed torch before a torch-model stage builds its untrained network (on first use),
    so the numpy and the device run use the same weights."""
    if cls.runs_in_torch:
        import torch

        torch.manual_seed(0)


def _has_maps(name: str) -> bool:
    """Whether the stage has a parameter that takes per-pixel maps."""
    return any(spec.local for spec in _forward_class(CLASSES[name]).params)


def _cases() -> list[Any]:
    return [
        pytest.param(device, name, mode, id=f"{device}-{name}-{mode}")
        for device in DEVICES
        for name in sorted(CLASSES)
        for mode in MODES
        if _has_maps(name) or not mode.startswith("maps")
    ]


def _on(device: Device, values: dict[str, np.ndarray]) -> dict[str, Any]:
    return {k: device.put(v) for k, v in values.items()}


@pytest.mark.parametrize(("device_name", "name", "mode"), _cases())
def test_every_stage_runs_on_the_device(device_name, name, mode):
    device = DEVICES[device_name]()
    cls = CLASSES[name]
    specs = _forward_class(cls).params
    constants = {spec.name: _constant(spec, _forward_class(cls).name) for spec in specs}
    batch = (2,) if mode == "per_image" else ()
    try:
        reference_stage = _build(cls, constants)
        x = _image(cls, constants, batch)
    except ParamError as error:  # a learned stage without weights
        pytest.skip(f"needs settings this generic test cannot give: {error}")
    maps = _maps(cls, constants, batch + (HEIGHT, WIDTH)) if mode.startswith("maps") else {}
    assert maps or not mode.startswith("maps")
    per_image = {
        k: np.stack([v, v]) for k, v in constants.items() if batch and k not in NOT_PER_IMAGE
    }
    call = maps if mode == "maps_per_call" else per_image
    given = {**constants, **maps} if mode == "maps_to_constructor" else constants
    try:
        _same_random_weights(cls)
        expected = (
            _build(cls, given)(x) if mode == "maps_to_constructor" else reference_stage(x, call)
        )
    except ParamError as error:
        pytest.skip(f"needs settings this generic test cannot give: {error}")

    stage = _build(cls, _on(device, given))
    _same_random_weights(cls)
    result = stage(device.put(x), _on(device, call) or None)

    device.assert_placed(result)
    assert tuple(result.shape) == expected.shape
    tolerance = APPROXIMATE.get(name, TOLERANCE)
    if getattr(cls, "method", None) == "lut":
        tolerance = LUT_TOLERANCE
    if cls.runs_in_torch and device_name == "cupy":
        tolerance = TORCH_GPU_TOLERANCE
    assert np.allclose(to_host(result), expected, rtol=tolerance, atol=tolerance, equal_nan=True)


# -- constructor values on the device --------------------------------------------------


def test_device_values_are_checked_on_the_device_and_kept():
    device = _strict()
    gamma_tone = CLASSES["gamma_tone"]
    bad = np.full((HEIGHT, WIDTH, 3), 2.0)
    bad[1, 2, 0] = 9.0
    with pytest.raises(ParamError, match="g1: value 9 is outside"):
        gamma_tone(g1=device.put(bad))
    nan = np.full((HEIGHT, WIDTH, 3), 2.0)
    nan[0, 0, 0] = np.nan
    with pytest.raises(ParamError, match="NaN"):
        gamma_tone(g1=device.put(nan))
    with pytest.raises(ParamError, match="expected shape"):
        gamma_tone(g1=device.put(np.full((HEIGHT, WIDTH, 2), 2.0)))
    g1 = device.put(np.full((HEIGHT, WIDTH, 3), 2.0))
    stage = gamma_tone(g1=g1)
    assert stage.values["g1"] is g1
    assert stage.given == {"g1"}
    assert "on array_api_strict.Device('device1')" in repr(stage)
    assert constant_channel_params(stage) is None


def test_cross_parameter_checks_see_device_values():
    device = _strict()
    with pytest.raises(ParamError, match="high"):
        CLASSES["clip"](low=device.put(np.full((HEIGHT, WIDTH), 0.6)), high=0.5)


def test_a_device_map_runs_a_pipeline_unfused_and_on_the_device():
    device = _strict()
    spec = {"stage": [{"type": "gain"}, {"type": "gamma_tone"}, {"type": "contrast_stretch"}]}
    pipeline = Pipeline.from_dict(spec)
    x = np.random.default_rng(1).uniform(0, 1, (HEIGHT, WIDTH, 3))
    g1 = np.full((HEIGHT, WIDTH, 3), 2.2)
    g1[0, 0] = 3.0
    expected = pipeline(x, {"gamma_tone": {"g1": g1}})
    on_device = pipeline(device.put(x), {"gamma_tone": {"g1": device.put(g1)}})
    device.assert_placed(on_device)
    assert np.allclose(to_host(on_device), expected, atol=TOLERANCE)
    stages = [
        CLASSES["gain"](),
        CLASSES["gamma_tone"](g1=device.put(g1)),
        CLASSES["contrast_stretch"](),
    ]
    mixed = Pipeline(stages)
    assert all(group is None for _, group in mixed._fused_groups())
    on_host = mixed(x)  # a numpy image: the device map comes to the host
    assert isinstance(on_host, np.ndarray)
    assert np.allclose(on_host, expected, atol=TOLERANCE)
    device.assert_placed(mixed(device.put(x)))
    assert np.allclose(to_host(mixed.inverse()(device.put(expected))), x, atol=1e-6)


CAMERA_METADATA = {
    "cfa_pattern": "rggb",
    "black_level": [64.0, 64.0, 64.0, 64.0],
    "white_level": 1023.0,
    "wb_gains": [2.0, 1.0, 1.5],
    "camera_to_srgb": np.eye(3) * 0.9 + 0.03,
}


@pytest.mark.parametrize("metadata_on_device", [False, True], ids=["numpy", "device"])
def test_raw_metadata_binds_on_the_device(metadata_on_device):
    """camera_default binds black level, white balance and matrix from RAW metadata and runs
    on a device mosaic, forward and inverse, equal to the numpy stage-by-stage result."""
    device = _strict()
    pipeline = Pipeline.from_toml(_shipped("camera_default"))
    mosaic = np.random.default_rng(2).uniform(70, 1000, (HEIGHT, WIDTH))
    metadata = {
        k: v if isinstance(v, str) or not metadata_on_device else device.put(v)
        for k, v in CAMERA_METADATA.items()
    }
    expected = pipeline(mosaic, metadata=CAMERA_METADATA, fuse=False)
    result = pipeline(device.put(mosaic), metadata=metadata)
    device.assert_placed(result)
    assert np.allclose(to_host(result), expected, atol=TOLERANCE)
    inverse = pipeline.inverse()
    back = inverse(device.put(expected), metadata=metadata)
    device.assert_placed(back)
    reference = inverse(expected, metadata=CAMERA_METADATA, fuse=False)
    assert np.allclose(to_host(back), reference, atol=TOLERANCE * 1023)


def _shipped(name: str) -> str:
    from ispengine.specs import resolve_spec

    return str(resolve_spec(name))


def test_a_host_stage_keeps_torch_in_torch_and_refuses_a_graph():
    torch = pytest.importorskip("torch")
    stage = CLASSES["edge_enhancement"]()
    assert stage.runs_on_host
    x = np.random.default_rng(3).uniform(0, 1, (HEIGHT, WIDTH, 3))
    result = stage(torch.from_numpy(x))
    assert isinstance(result, torch.Tensor)
    assert np.allclose(result.numpy(), stage(x), atol=TOLERANCE)
    with pytest.raises(InputError, match="runs on the host"):
        stage(torch.from_numpy(x).requires_grad_())
