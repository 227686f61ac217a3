"""CUDA camera front ends (ispengine.kernels.cuda.front_end) equal the numpy reference.

Simulator (numpy arrays, tiny mosaics) without a GPU, CuPy arrays with one.
"""

import numpy as np
import pytest

from ispengine import Pipeline
from ispengine.kernels.cuda import runtime
from ispengine.kernels.cuda.chain import device_chain
from ispengine.kernels.cuda.front_end import device_estimates, run_mosaic_fused_cuda
from ispengine.kernels.fused_mosaic import DemosaicProgram
from ispengine.kernels.output import OutputRequest
from ispengine.specs import resolve_spec
from tests.cuda_arrays import XP, device, host, needs_cuda, needs_gpu
from tests.test_camera_pipeline import smooth_raw

pytestmark = needs_cuda
PATTERNS = ["rggb", "bggr", "grbg", "gbrg"]
GAINS = [2.0, 1.0, 1.5]
MATRIX = [[1.6, -0.4, -0.2], [-0.3, 1.5, -0.2], [0.0, -0.5, 1.5]]


def _corrections(pattern: str) -> list[dict]:
    return [
        {"type": "black_level", "params": {"black": 0.05, "white": 1.0, "pattern": pattern}},
        {"type": "mosaic_white_balance", "params": {"gains": GAINS, "pattern": pattern}},
        {"type": "highlights", "params": {"gains": GAINS, "pattern": pattern}},
    ]


def _front_end(pattern: str, method: str, tail: bool = True) -> Pipeline:
    stages = _corrections(pattern) + [
        {"type": f"demosaic_{method}", "params": {"pattern": pattern}}
    ]
    if tail:
        stages += [{"type": "camera_to_srgb", "params": {"matrix": MATRIX}}, {"type": "srgb_oetf"}]
    return Pipeline.from_dict({"input": "raw_mosaic", "output": "srgb", "stage": stages})


def _one_group(pipeline: Pipeline):
    groups = pipeline._fused_groups()
    assert len(groups) == 1 and groups[0][1].size == len(pipeline.steps)
    return groups[0][1]


@pytest.mark.parametrize("method", ["bilinear", "malvar"])
@pytest.mark.parametrize("pattern", PATTERNS)
def test_front_end_equals_stage_by_stage(pattern, method):
    pipeline = _front_end(pattern, method)
    group = _one_group(pipeline)
    x = np.random.default_rng(len(pattern + method)).uniform(0, 1, (2, 6, 8))  # a batch
    before = runtime.launches["cell"]
    got = host(run_mosaic_fused_cuda(list(group.front), list(group.rgb), device(x)))
    assert runtime.launches["cell"] == before + 1  # the whole batch in one cell pass
    want = pipeline(x, fuse=False)
    assert got.shape == want.shape == (2, 6, 8, 3) and got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-8)  # sRGB table: 5e-9


@pytest.mark.parametrize("pattern", PATTERNS)
def test_demosaic_alone_and_corrections_alone(pattern):
    x = np.random.default_rng(3).uniform(0, 1, (6, 6))
    pipeline = _front_end(pattern, "malvar", tail=False)
    group = _one_group(pipeline)
    got = host(run_mosaic_fused_cuda(list(group.front), [], device(x)))
    np.testing.assert_allclose(got, pipeline(x, fuse=False), rtol=0, atol=1e-12)
    corrections = [p for p in group.front if not isinstance(p, DemosaicProgram)]
    got = host(run_mosaic_fused_cuda(corrections, [], device(x)))
    spec = {"input": "raw_mosaic", "output": "raw_mosaic", "stage": _corrections(pattern)}
    want = Pipeline.from_dict(spec)(x, fuse=False)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def _camera_default(pattern: str = "grbg"):
    raw = smooth_raw(pattern, shape=(8, 10))
    raw = raw.evolve(mosaic=np.minimum(raw.mosaic.astype(np.int64) * 2, 16383).astype(np.uint16))
    bound = Pipeline.from_toml(resolve_spec("camera_default")).bind(raw.metadata())
    return bound, raw.mosaic


def test_camera_default_is_one_cuda_pass_on_raw_numbers():
    bound, mosaic = _camera_default()
    group = _one_group(bound)
    device_chain(list(group.rgb))  # every stage has a device form
    device_estimates(next(p for p in group.front if isinstance(p, DemosaicProgram)))
    before = dict(runtime.launches)
    got = host(run_mosaic_fused_cuda(list(group.front), list(group.rgb), device(mosaic)))
    assert runtime.launches["prepass"] == before.get("prepass", 0) + 1
    assert runtime.launches["cell"] == before.get("cell", 0) + 1
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, group.run(mosaic), rtol=0, atol=2e-6)
    reference = bound(mosaic.astype(np.float32), fuse=False)
    np.testing.assert_allclose(got, reference, rtol=0, atol=2e-6)


@pytest.mark.parametrize("out", [np.uint8, np.uint16, np.float16, np.float32])
def test_camera_default_writes_the_requested_type(out):
    bound, mosaic = _camera_default("bggr")
    group = _one_group(bound)
    want_request, got_request = OutputRequest(np.dtype(out)), OutputRequest(np.dtype(out))
    want = group.run(mosaic, want_request)
    got = host(
        run_mosaic_fused_cuda(list(group.front), list(group.rgb), device(mosaic), got_request)
    )
    assert got.dtype == want.dtype and got_request.done
    # float32 sums may round differently (the simulator computes numpy scalars, whose
    # float32 · Python-float products stay float32): one step of the output type.
    step = 2e-6 if out == np.float32 else (1e-3 if out == np.float16 else 1)
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=0, atol=step)
    assert got_request.clipped == want_request.clipped


@needs_gpu
def test_camera_default_keeps_cupy_mosaics_on_the_device():
    bound, mosaic = _camera_default()
    x = mosaic.astype(np.float32)
    got = bound(XP.asarray(x))
    assert type(got).__module__.startswith("cupy")
    np.testing.assert_allclose(got.get(), bound(x), rtol=0, atol=2e-6)
