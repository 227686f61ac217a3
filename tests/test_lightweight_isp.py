"""The lightweight ISPs: parameter counts, the stages in a TOML pipeline for every Bayer
order, the RAW-to-sRGB methods (paired and unpaired fits, save/load), bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from ispengine import Pipeline  # noqa: E402
from ispengine.core.cfa import PATTERNS, mosaic  # noqa: E402
from ispengine.core.errors import InputError, ParamError  # noqa: E402
from ispengine.core.plugins import get_registry  # noqa: E402
from ispengine.io.raw.image import RawImage  # noqa: E402
from ispengine.learning.datasets import open_dataset  # noqa: E402
from ispengine.learning.raw_to_srgb import load_raw_to_srgb, raw_to_srgb_class  # noqa: E402
from ispengine.learning.srgb_to_raw import Budget  # noqa: E402
from ispengine.learning.weights import save_arrays  # noqa: E402
from ispengine.synthcam.generate import generate_dataset  # noqa: E402
from plugins_builtin.lightweight_isp.method import packed_planes  # noqa: E402
from plugins_builtin.lightweight_isp.networks import (  # noqa: E402
    PARAMETER_COUNTS,
    build_network,
)

SMALL = {"extractors": "random", "extractor_size": "small", "batch_size": 2, "crop": 32}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthcam")
    generate_dataset(root, n=6, size=(48, 64), seed=3, progress=False)
    return open_dataset(root)


def _count(module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(("architecture", "count"), [("efficient", 3060), ("robust", 1616)])
def test_networks_have_the_papers_parameter_counts(architecture, count):
    assert PARAMETER_COUNTS[architecture] == count
    assert _count(build_network(architecture)) == count
    method = raw_to_srgb_class(f"{architecture}_isp")()
    assert method.num_parameters() == count


@pytest.mark.parametrize("architecture", ["efficient", "robust"])
def test_network_maps_packed_raw_to_full_size_srgb(architecture):
    with torch.no_grad():
        out = build_network(architecture)(torch.rand(2, 4, 6, 10))
    assert out.shape == (2, 3, 12, 20)
    assert float(out.min()) >= 0.0  # the last ReLU


def test_stages_are_registered_with_packed_in_and_rgb_out():
    registry = get_registry()
    for name in ("efficient_isp", "robust_isp"):
        cls = registry.get("stage", name).cls
        assert (cls.input_layout, cls.output_layout) == ("packed", "rgb")
        assert registry.get("raw_to_srgb", name).cls.name == name


def _spec(tmp_path, stage: str, weights) -> str:
    text = f"""
schema = 1
name = "lightweight"
input = "raw_mosaic"
output = "srgb"

[[stage]]
type = "black_level"
from_metadata = {{ black = "black_level", white = "white_level", pattern = "cfa_pattern" }}

[[stage]]
type = "pack_bayer"
from_metadata = {{ pattern = "cfa_pattern" }}

[[stage]]
type = "{stage}"
params = {{ weights = "{weights}" }}
"""
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return str(path)


@settings(max_examples=8, deadline=None)
@given(
    pattern=st.sampled_from(PATTERNS),
    black=st.integers(0, 512),
    seed=st.integers(0, 2**16),
)
def test_pipeline_stage_equals_the_method_for_every_bayer_order(
    tmp_path_factory, pattern, black, seed
):
    """The TOML pipeline (levels and packing order from the file's metadata) and the
    method's own render give the same image, whatever the pattern and levels."""
    tmp_path = tmp_path_factory.mktemp("spec")
    method = raw_to_srgb_class("efficient_isp")()
    method._module = method.build(seed)
    saved = method.save(tmp_path / "eff")
    rng = np.random.default_rng(seed)
    rgb = rng.random((8, 12, 3)).astype(np.float32)
    white = 4095
    mosaic_dn = mosaic(rgb, pattern, np) * (white - black) + black
    raw = RawImage(
        mosaic=mosaic_dn.astype(np.float32),
        cfa_pattern=pattern,
        black_level=float(black),
        white_level=float(white),
    )
    pipeline = Pipeline.from_toml(_spec(tmp_path, "efficient_isp", saved.name))
    through_pipeline = np.clip(pipeline(raw), 0, 1)
    np.testing.assert_allclose(through_pipeline, method.render(raw), atol=1e-5)
    # the packing follows the pattern: R plane first, B last
    planes = packed_planes(raw)
    np.testing.assert_allclose(planes[0], rgb[..., 0][_offsets(pattern, "R")], atol=1e-4)
    np.testing.assert_allclose(planes[3], rgb[..., 2][_offsets(pattern, "B")], atol=1e-4)


def _offsets(pattern: str, colour: str):
    from ispengine.core.cfa import cfa_positions

    row, col = cfa_positions(pattern)[colour]
    return slice(row, None, 2), slice(col, None, 2)


def test_stage_without_weights_is_a_clear_error(tmp_path):
    stage = get_registry().get("stage", "robust_isp").cls()
    with pytest.raises(ParamError, match="needs a weights file"):
        stage(np.zeros((4, 4, 4), np.float32))


def test_stage_refuses_weights_of_the_other_network(tmp_path):
    save_arrays(tmp_path / "robust.safetensors", {
        k: v.numpy() for k, v in build_network("robust").state_dict().items()
    })  # fmt: skip
    stage = (
        get_registry()
        .get("stage", "efficient_isp")
        .cls(weights=str(tmp_path / "robust.safetensors"))
    )
    with pytest.raises(InputError, match="do not fit the learned stage 'efficient_isp'"):
        stage(np.zeros((4, 4, 4), np.float32))


@pytest.mark.parametrize("training", ["paired", "unpaired"])
def test_fit_changes_the_network_and_saves_and_loads(dataset, tmp_path, training, torch_one_thread):
    method = raw_to_srgb_class("robust_isp")(training=training, d_every=1, **SMALL)
    before = {k: v.copy() for k, v in method.state().items()}
    report = method.fit(dataset, Budget(steps=2), progress=False, seed=4)
    assert report.steps == 2 and len(report.losses) == 2
    assert any(not np.array_equal(before[k], v) for k, v in method.state().items())
    raw = dataset.split("test")[0].raw
    rendered = method.render(raw)
    assert rendered.shape == (*raw.shape, 3) and rendered.dtype == np.float32
    loaded = load_raw_to_srgb(method.save(tmp_path / "robust"))
    np.testing.assert_array_equal(loaded.render(raw), rendered)


def test_unpaired_fit_never_uses_a_scene_as_both_raw_and_srgb(dataset):
    method = raw_to_srgb_class("efficient_isp")(training="unpaired", **SMALL)
    data = method.training_data(dataset)
    train = list(dataset.split("train"))
    half = len(train) // 2
    assert len(data.inputs) == half and len(data.targets) == len(train) - half
    for sample in train[half:]:  # the sRGB half's RAWs are not inputs
        assert not any(np.array_equal(packed_planes(sample.raw), x) for x in data.inputs)
    paired = raw_to_srgb_class("efficient_isp")(training="paired", **SMALL).training_data(dataset)
    assert len(paired.inputs) == len(paired.targets) == len(train) and paired.paired


def test_unpaired_fit_needs_two_train_samples():
    method = raw_to_srgb_class("efficient_isp")(training="unpaired", **SMALL)
    with pytest.raises(InputError, match="at least two train samples"):
        method.training_data([])


def test_render_refuses_other_inputs():
    with pytest.raises(InputError, match="expected a RawImage"):
        raw_to_srgb_class("efficient_isp")().render(np.zeros((4, 4)))
