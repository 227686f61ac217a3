"""CUDA fused RGB chains (ispengine.kernels.cuda.chain) equal the numpy reference.

Run by Numba's CUDA simulator on numpy arrays without a GPU (tiny images: it runs
one Python thread per CUDA thread), on CuPy arrays with a GPU.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from ispengine import InputError, Pipeline
from ispengine.kernels import fused_groups
from ispengine.kernels.cuda import runtime
from ispengine.kernels.cuda.chain import rgb_kernel, run_fused_cuda
from ispengine.kernels.fused import plan, program, run_fused
from ispengine.kernels.output import OutputRequest
from tests.cuda_arrays import XP, device, host, needs_cuda, needs_gpu
from tests.test_fused import _pipelines
from tests.test_kernels import CASES, CLASSES, SLOW, TABLE_STAGES, TOLERANCE, examples

pytestmark = needs_cuda
FEW = settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
RGB_STAGES = sorted({name for name, form in CASES if form in ("scalar", "channel", "pixel")})
OUT_TYPES = [np.uint8, np.uint16, np.float16, np.float32, np.float64]
FLOAT32_TOLERANCE = 4e-7  # two float32 steps, relative to max(1, |value|)


def _close(got: np.ndarray, want: np.ndarray, tolerance: float) -> None:
    error = np.abs(got - want) / np.maximum(1.0, np.abs(want))
    assert float(np.max(error, initial=0.0)) <= tolerance, float(np.max(error))


@FEW
@given(spec=_pipelines(), seed=st.integers(0, 1000), dtype=st.sampled_from(["float64", "float32"]))
def test_function_isp_forward_and_inverse_fuse_to_one_cuda_pass(spec, seed, dtype):
    try:
        pipeline = Pipeline.from_dict(spec)
    except Exception:
        reject()
    x = np.random.default_rng(seed).uniform(0, 1, (3, 4, 3))
    y = pipeline(x, fuse=False)
    for candidate, data in ((pipeline, x), (pipeline.inverse(), y)):
        programs = plan(candidate.stages)
        assert programs is not None  # the whole chain is one pass
        data = data.astype(dtype)
        before = runtime.launches["rgb"]
        got = host(run_fused_cuda(programs, device(data)))
        assert runtime.launches["rgb"] == before + 1
        assert got.dtype == data.dtype and got.shape == data.shape
        want = candidate(data.astype(np.float64), fuse=False)
        _close(got, want, 1e-9 if dtype == "float64" else FLOAT32_TOLERANCE)


def test_function_isp_spec_runs_as_one_cuda_pass_both_ways():
    from ispengine.specs import resolve_spec

    pipeline = Pipeline.from_toml(resolve_spec("function_isp"))
    x = np.random.default_rng(5).uniform(0, 1, (4, 5, 3))
    y = pipeline(x, fuse=False)
    for candidate, data in ((pipeline, x), (pipeline.inverse(), y)):
        groups = candidate._fused_groups()
        assert len(groups) == 1 and groups[0][1].size == len(candidate.steps)
        got = host(run_fused_cuda(list(groups[0][1].rgb), device(data)))
        _close(got, candidate(data, fuse=False), 1e-9)


@pytest.mark.parametrize("name", RGB_STAGES)
def test_every_rgb_kernel_form_runs_on_cuda(name):
    """Every registered stage with a scalar, channel or pixel form, as a one-stage CUDA
    pass, equals its ``apply`` (the form the fused chains choose)."""
    cls = CLASSES[name]
    tolerance = 1e-8 if name in TABLE_STAGES else TOLERANCE

    @settings(
        max_examples=3 if name in SLOW else 6,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(examples(cls))
    def check(example):
        stage, x = example
        step = program(stage)
        if step is None:  # a setting the form declines: runs unfused
            return
        _close(host(run_fused_cuda([step], device(x))), stage(x), tolerance)

    check()


@pytest.mark.parametrize("out", OUT_TYPES)
@pytest.mark.parametrize("work", [np.float32, np.float64])
def test_stores_equal_the_cpu_pass(out, work):
    pipeline = Pipeline.from_dict(
        {"stage": [{"type": "gain", "params": {"p_h": [0.3, 0.7, 0.9]}}, {"type": "gamma_tone"}]}
    )
    programs = plan(pipeline.stages)
    x = np.random.default_rng(1).uniform(-0.2, 1.1, (5, 6, 3)).astype(work)
    x[0, 0] = [0.0, -0.0, 1e-7]  # zeros and float16 subnormals
    x[0, 1] = [3e-5, 1e5, -1e5]  # float16 subnormal, overflow to ±inf
    want_request, got_request = OutputRequest(np.dtype(out)), OutputRequest(np.dtype(out))
    want = run_fused(programs, x, want_request)
    got = host(run_fused_cuda(programs, device(x), got_request))
    assert got.dtype == want.dtype == np.dtype(out) and got.shape == want.shape
    assert got_request.done and got_request.clipped == want_request.clipped
    if np.dtype(out).kind in "uf" and out not in (np.float32, np.float64):
        np.testing.assert_array_equal(
            got.view(np.uint16 if out != np.uint8 else np.uint8),
            want.view(np.uint16 if out != np.uint8 else np.uint8),
        )
    else:  # the CPU pass may contract or reorder: within a rounding step
        _close(got, want, FLOAT32_TOLERANCE if out == np.float32 or work == np.float32 else 1e-12)
    if out in (np.uint8, np.uint16):
        assert got_request.clipped > 0


def test_nan_cannot_be_quantised_on_cuda():
    programs = plan(
        Pipeline.from_dict({"stage": [{"type": "gain"}, {"type": "gamma_tone"}]}).stages
    )
    x = np.full((2, 3, 3), 0.5)
    x[1, 1, 1] = np.nan
    with pytest.raises(InputError, match="NaN or Inf"):
        run_fused_cuda(programs, device(x), OutputRequest(np.dtype(np.uint8)))


def test_the_cuda_code_path_is_compiled_cuda_code():
    """The pass is a Numba CUDA kernel (the simulator's stand-in without a GPU)."""
    programs = plan(Pipeline.from_dict({"stage": [{"type": "gain"}, {"type": "srgb_oetf"}]}).stages)
    kernel, packed = rgb_kernel(programs, np.dtype(np.float32), "float")
    assert type(kernel).__module__.startswith(("numba.cuda", "numba_cuda"))
    assert rgb_kernel(programs, np.dtype(np.float32), "float")[0] is kernel  # cached
    assert packed.dtype == np.float64


def test_a_fused_group_runs_its_cuda_twin_for_device_arrays(monkeypatch):
    pipeline = Pipeline.from_dict({"stage": [{"type": "gain"}, {"type": "gamma_tone"}]})
    ((_, group),) = pipeline._fused_groups()
    x = np.random.default_rng(2).uniform(0, 1, (3, 3, 3))
    monkeypatch.setattr(fused_groups, "runs_on_device", lambda array: True)
    before = runtime.launches["rgb"]
    got = host(group.run(device(x)))
    assert runtime.launches["rgb"] == before + 1
    _close(got, pipeline(x, fuse=False), 1e-9)


@needs_gpu
def test_a_pipeline_keeps_cupy_images_on_the_device_in_one_launch():
    pipeline = Pipeline.from_dict({"stage": [{"type": "gain"}, {"type": "gamma_tone"}]})
    x = np.random.default_rng(3).uniform(0, 1, (64, 48, 3)).astype(np.float32)
    before = runtime.launches["rgb"]
    got = pipeline(XP.asarray(x))
    assert type(got).__module__.startswith("cupy") and runtime.launches["rgb"] == before + 1
    _close(got.get(), pipeline(x), FLOAT32_TOLERANCE)
    cached = len(runtime._uploads)
    pipeline(XP.asarray(x))  # parameters were uploaded once: nothing new is cached
    assert len(runtime._uploads) == cached
    image, clipped = pipeline.render(XP.asarray(x), np.uint16)
    want, want_clipped = pipeline.render(x, np.uint16)
    np.testing.assert_array_equal(image.get(), want)
    assert clipped == want_clipped
