"""A fused group whose kernels the CUDA target cannot compile runs stage by stage on
the device instead of failing the pipeline (and is not tried again)."""

import numpy as np
import pytest

from ispengine import Pipeline
from ispengine.kernels import fused_groups
from ispengine.specs import resolve_spec


def test_a_group_cuda_cannot_compile_runs_stage_by_stage(monkeypatch, caplog):
    from numba.core.errors import TypingError

    calls = []

    def refuse(self, x, request):
        calls.append(self)
        raise TypingError("Unknown attribute 'foo' of a stage kernel")

    # Pretend the input is on a device whose compiler refuses the group's kernels.
    monkeypatch.setattr(fused_groups, "runs_on_device", lambda x: True)
    monkeypatch.setattr(fused_groups.FusedGroup, "_run_on_device", refuse)
    pipeline = Pipeline.from_toml(resolve_spec("function_isp"))
    x = np.random.default_rng(0).uniform(0, 1, (4, 6, 3)).astype(np.float32)

    result = pipeline(x)

    assert len(calls) == 1
    np.testing.assert_allclose(result, pipeline(x, fuse=False), rtol=0, atol=1e-6)
    assert id(calls[0]) in fused_groups._not_on_device
    assert "not compiled for CUDA" in caplog.text
    fused_groups._not_on_device.pop(id(calls[0]))


def test_a_run_time_error_on_the_device_is_not_swallowed(monkeypatch):
    def fail(self, x, request):
        raise RuntimeError("CUDA_ERROR_ILLEGAL_ADDRESS")

    monkeypatch.setattr(fused_groups, "runs_on_device", lambda x: True)
    monkeypatch.setattr(fused_groups.FusedGroup, "_run_on_device", fail)
    pipeline = Pipeline.from_toml(resolve_spec("function_isp"))
    x = np.random.default_rng(0).uniform(0, 1, (4, 6, 3)).astype(np.float32)
    with pytest.raises(RuntimeError, match="ILLEGAL_ADDRESS"):
        pipeline(x)
    assert not fused_groups._not_on_device
