"""Fused per-pixel chains give the stage-by-stage results."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ispengine import Pipeline
from ispengine.kernels.fused import plan

# A few chain shapes (each compiles once); parameters drawn over their whole ranges.
CHAINS = [
    ["color_correction", "gain", "gamma_tone", "contrast_stretch"],
    ["inverse_tone", "color_correction", "gain", "gamma_tone", "contrast_stretch"],
]


@st.composite
def _pipelines(draw):
    from ispengine import get_registry

    names = draw(st.sampled_from(CHAINS))
    stages = []
    for name in names:
        if name == "color_correction":
            rows = np.array(
                draw(
                    st.lists(
                        st.lists(st.floats(0.05, 1), min_size=3, max_size=3), min_size=3, max_size=3
                    )
                )
            )
            params = {"matrix": (rows / rows.sum(axis=1, keepdims=True)).tolist()}
        else:
            cls = get_registry().get("stage", name).cls
            params = {
                s.name: draw(st.lists(st.floats(s.low, s.high), min_size=3, max_size=3))
                for s in cls.params
            }
        stages.append({"type": name, "params": params})
    method = draw(st.sampled_from(["exact", "lut"]))
    inverse = {n: {"method": method} for n in ("gamma_tone", "inverse_tone") if n in names}
    return {"stage": stages, "inverse": inverse}


@given(spec=_pipelines(), seed=st.integers(0, 1000), dtype=st.sampled_from(["float64", "float32"]))
def test_fused_chain_equals_stage_by_stage(spec, seed, dtype):
    try:
        pipeline = Pipeline.from_dict(spec)
    except Exception:
        from hypothesis import reject

        reject()
    x = np.random.default_rng(seed).uniform(0, 1, (3, 4, 3))
    y = pipeline(x, fuse=False)
    # Fused chains compute in float64 and store in the input's dtype: compare with
    # the stage-by-stage float64 result on the same (possibly float32) input.
    for candidate, data in ((pipeline, x), (pipeline.inverse(), y)):
        data = data.astype(dtype)
        fused = candidate(data)
        reference = candidate(data.astype(np.float64), fuse=False)
        assert fused.dtype == data.dtype
        assert np.allclose(fused, reference, rtol=1e-6 if dtype == "float32" else 1e-9, atol=1e-9)


def test_chains_are_fused_only_with_constant_parameters():
    pipeline = Pipeline.from_dict({"stage": [{"type": "gain"}, {"type": "gamma_tone"}]})
    assert plan(list(pipeline.stages)) is not None
    assert pipeline._fused_groups()[0][1] is not None
    x = np.full((2, 2, 3), 0.4)
    maps = {"gain": {"p_h": np.full((2, 2, 3), 0.7)}}
    assert np.allclose(pipeline(x, maps), pipeline(x, maps, fuse=False))


def test_numerical_inverses_are_not_fused():
    spec = {
        "stage": [{"type": "gain"}, {"type": "gamma_tone"}],
        "inverse": {"gamma_tone": {"method": "numerical"}},
    }
    assert plan(list(Pipeline.from_dict(spec).inverse().stages)) is None


def test_fused_path_rejects_bad_images_like_the_stages():
    from ispengine import InputError

    pipeline = Pipeline.from_dict({"stage": [{"type": "gain"}, {"type": "gamma_tone"}]})
    with pytest.raises(InputError, match=r"stage 1 \(gain\): input: expected a rgb image"):
        pipeline(np.ones((2, 2, 4)))
