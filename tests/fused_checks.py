"""Checks shared by the camera-module tests: how a pipeline splits into fused groups,
and that a fused float32 run equals the stage-by-stage one."""

import numpy as np


def group_sizes(pipeline):
    """The size of each group the pipeline runs (1 for a stage that runs on its own)."""
    return [group.size if group is not None else 1 for _, group in pipeline._fused_groups()]


def assert_fused_equals_unfused(pipeline, x):
    """The fused float32 result against the stage-by-stage one: fused passes compute in
    float64 and store float32, so the reference is the unfused float64 run on the same
    float32 input (the float32 unfused run adds its own rounding at every stage)."""
    fused = pipeline(x)
    assert fused.dtype == x.dtype
    reference = pipeline(x.astype(np.float64), fuse=False)
    np.testing.assert_allclose(fused, reference, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(fused, pipeline(x, fuse=False), rtol=1e-5, atol=1e-5)
