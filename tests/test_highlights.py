"""Highlight handling (``highlights``): clipped highlights render white in camera_default."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ispengine import Pipeline
from ispengine.core.cfa import PATTERNS, cfa_cell
from ispengine.core.spec import load_spec_file
from ispengine.io.raw.dng import write_dng
from ispengine.io.raw.reader import read_raw
from ispengine.specs import resolve_spec
from plugins_builtin.canonical_stages.highlights import MODES, Highlights, HighlightsInverse
from tests.test_camera_pipeline import smooth_raw

WB_GAINS = np.array([1.9, 1.0, 1.5])  # smooth_raw's: R and B amplified, G = 1
GAINS = st.lists(st.floats(0.05, 20), min_size=3, max_size=3)
SATURATED = (slice(8, 24), slice(10, 30))  # rows, columns of the burnt-out area
INSIDE = (slice(11, 21), slice(13, 27))  # away from its edges (demosaic support)


def saturated_raw(pattern="rggb", seed=0):
    """smooth_raw's scene with a block at the white level in every channel."""
    raw = smooth_raw(pattern, seed=seed)
    mosaic = raw.mosaic.copy()
    mosaic[SATURATED] = int(raw.white_level)
    return raw.evolve(mosaic=mosaic)


def camera_spec(mode=None):
    """camera_default as a dict; ``mode`` sets its highlights stage's mode, and
    ``"without"`` drops the stage (the spec as it was before highlight handling)."""
    data = load_spec_file(resolve_spec("camera_default"))
    stages = [dict(s) for s in data["stage"]]
    if mode == "without":
        stages = [s for s in stages if s["type"] != "highlights"]
    elif mode is not None:
        (entry,) = (s for s in stages if s["type"] == "highlights")
        entry["params"] = {**entry.get("params", {}), "mode": mode}
    return {**data, "stage": stages}


@pytest.fixture(scope="module")
def camera_default():
    return Pipeline.from_toml(resolve_spec("camera_default"))


@pytest.mark.parametrize("pattern", PATTERNS)
def test_camera_default_renders_clipped_highlights_white(camera_default, pattern):
    raw = saturated_raw(pattern)
    out = camera_default(raw)[INSIDE]
    np.testing.assert_allclose(out, 1.0, atol=1e-5)  # R = G = B = 1: neutral white
    np.testing.assert_allclose(camera_default(raw, fuse=False)[INSIDE], 1.0, atol=1e-5)


def test_mode_none_reproduces_the_spec_without_highlight_handling():
    raw = saturated_raw("grbg")
    old = Pipeline.from_dict(camera_spec("without"))(raw)
    none = Pipeline.from_dict(camera_spec("none"))(raw)
    np.testing.assert_array_equal(none, old)
    red, green, blue = np.moveaxis(old[INSIDE], -1, 0)
    assert np.all(red > green + 0.05) and np.all(blue > green + 0.05)  # the old magenta


def test_blend_mode_renders_a_burnt_out_area_neutral():
    raw = saturated_raw("bggr")
    out = Pipeline.from_dict(camera_spec("blend"))(raw)[INSIDE]
    # lightness of the measured colour, (1.9 + 1 + 1.5) / 3 > 1, in every channel
    assert np.ptp(out, axis=-1).max() < 1e-5
    assert np.all(out > 1.0)


def test_unclipped_raw_develops_as_before(camera_default):
    raw = smooth_raw("gbrg")
    old = Pipeline.from_dict(camera_spec("without"))(raw)
    np.testing.assert_array_equal(camera_default(raw), old)


def test_camera_default_with_its_clip_is_one_fused_pass(camera_default):
    bound = camera_default.bind(saturated_raw().metadata())
    groups = bound._fused_groups()
    assert len(groups) == 1 and groups[0][1] is not None
    assert groups[0][1].size == len(bound.steps)  # the clip joins through cfa_clip
    raw = saturated_raw("gbrg", seed=3)
    np.testing.assert_allclose(bound(raw), bound(raw, fuse=False), atol=2e-6)


def test_camera_default_inverse_round_trips_an_unclipped_raw(camera_default):
    raw = smooth_raw("rggb", seed=2)
    srgb = camera_default(raw)
    back = camera_default.inverse()(srgb, metadata=raw.metadata())
    np.testing.assert_allclose(back, raw.mosaic, atol=0.05)


def test_camera_default_inverse_gives_the_white_point_where_clipped(camera_default):
    raw = saturated_raw("rggb")
    back = camera_default.inverse()(camera_default(raw), metadata=raw.metadata())
    # white balance put the saturated R and B sites at 1.9 and 1.5; clipping to 1 and
    # inverting gives 1 / gain of the way from black to white there, G stays white
    black, white = 512, raw.white_level
    per_channel = black + (white - black) / np.array([1.9, 1.0, 1.0, 1.5])  # R, Gr, Gb, B
    expected = np.tile(cfa_cell(per_channel, "rggb"), (16, 20))
    np.testing.assert_allclose(back[INSIDE], expected[INSIDE], atol=0.05)


# -- the stage over its declared ranges ---------------------------------------------


@st.composite
def stages(draw, modes=MODES):
    return Highlights(
        gains=draw(GAINS),
        mode=draw(st.sampled_from(modes)),
        pattern=draw(st.sampled_from(PATTERNS)),
    )


def mosaics(low, high, dtype=np.float64):
    """Mosaics of values in [low, high] (float64), in ``dtype`` (rounding keeps them in
    [low, high] rounded to ``dtype``)."""
    shape = st.tuples(st.integers(1, 4), st.integers(1, 4)).map(lambda s: (2 * s[0], 2 * s[1]))
    elements = st.floats(low, high, allow_nan=False, allow_infinity=False)
    return hnp.arrays(np.float64, shape, elements=elements).map(lambda x: x.astype(dtype))


@settings(max_examples=200, deadline=None)
@given(data=st.data(), dtype=st.sampled_from([np.float32, np.float64]))
def test_values_up_to_the_white_point_pass_unchanged(data, dtype):
    """Every mode over the whole declared range: the identity on [0, L] (and below 0),
    L the smallest gain; the inverse gives the input back exactly."""
    stage = data.draw(stages())
    low, level = stage.input_domain()
    assert (low, level) == (0.0, float(np.min(stage.values["gains"])))
    x = data.draw(mosaics(-0.1, level, dtype))
    out = stage(x)
    assert out.dtype == x.dtype
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(HighlightsInverse.from_forward(stage)(out), x)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_clip_is_min_with_the_white_point(data):
    stage = data.draw(stages(("clip",)))
    level = float(np.min(stage.values["gains"]))
    x = data.draw(mosaics(-1.0, 25.0))
    out = stage(x)
    assert np.all(out <= level)
    np.testing.assert_array_equal(out, np.minimum(x, level))


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_none_is_the_identity_everywhere(data):
    stage = data.draw(stages(("none",)))
    x = data.draw(mosaics(-1.0, 25.0))
    np.testing.assert_array_equal(stage(x), x)


def _block_colour(out, pattern):
    """R, G, B of a constant-colour mosaic (both greens equal)."""
    from ispengine.core.cfa import split_cfa

    red, green_r, green_b, blue = (float(p.ravel()[0]) for p in split_cfa(out, pattern))
    assert green_r == pytest.approx(green_b, abs=1e-12)
    return np.array([red, green_r, blue])


def _lightness_chroma(rgb):
    red, green, blue = rgb
    return (red + green + blue) / 3, np.array(
        [math.sqrt(3) * (red - green), 2 * blue - green - red]
    )


@settings(max_examples=200, deadline=None)
@given(
    gains=GAINS,
    pattern=st.sampled_from(PATTERNS),
    colour=st.lists(st.floats(0, 3), min_size=3, max_size=3),
)
def test_blend_keeps_lightness_and_hue_with_the_clipped_chroma(gains, pattern, colour):
    """A flat colour (in units of the white point L) with a channel above L: the blended
    colour has the measured lightness, the measured hue, and the clipped colour's chroma."""
    level = min(gains)
    colour = np.array(colour) * level
    stage = Highlights(gains=gains, mode="blend", pattern=pattern)
    cell = {"rggb": (0, 1, 1, 2), "bggr": (2, 1, 1, 0), "grbg": (1, 0, 2, 1), "gbrg": (1, 2, 0, 1)}
    x = np.tile(colour[list(cell[pattern])].reshape(2, 2), (2, 3))
    got = _block_colour(stage(x), pattern)
    if not np.any(colour > level):
        np.testing.assert_array_equal(got, colour)
        return
    lightness, chroma = _lightness_chroma(colour)
    got_lightness, got_chroma = _lightness_chroma(got)
    clipped_norm = np.linalg.norm(_lightness_chroma(np.minimum(colour, level))[1])
    scale = max(1.0, float(np.max(colour)))
    assert got_lightness == pytest.approx(lightness, abs=1e-12 * scale)
    assert np.linalg.norm(got_chroma) == pytest.approx(clipped_norm, abs=1e-9 * scale)
    # same hue: the chroma vectors are parallel and point the same way
    cross = chroma[0] * got_chroma[1] - chroma[1] * got_chroma[0]
    assert abs(cross) <= 1e-9 * scale**2
    assert chroma @ got_chroma >= -1e-9 * scale**2
    if np.all(colour >= level):  # saturated in every channel: neutral
        np.testing.assert_allclose(got, lightness, rtol=1e-12)


def test_blend_changes_only_blocks_with_a_clipped_sample():
    x = np.full((6, 8), 0.5)
    x[2, 3] = 4.0  # one saturated site: the blocks whose top-left is a neighbour change
    out = Highlights(gains=[2.0, 1.0, 1.5], mode="blend", pattern="rggb")(x)
    changed = np.argwhere(out != x)
    assert {tuple(c) for c in changed} <= {(1, 2), (1, 3), (2, 2), (2, 3)}
    assert out[0, 0] == 0.5 and out[5, 7] == 0.5


def test_per_image_gains_give_per_image_white_points():
    stage = Highlights(mode="clip")
    x = np.full((2, 2, 2), 1.8)
    out = stage(x, {"gains": np.array([[2.0, 1.0, 1.5], [2.0, 2.0, 2.0]])})
    np.testing.assert_array_equal(out[0], 1.0)
    np.testing.assert_array_equal(out[1], 1.8)


def test_torch_gives_the_numpy_result():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(4).uniform(0, 2.5, (2, 6, 8))
    for mode in MODES:
        stage = Highlights(gains=[2.1, 1.0, 1.6], mode=mode, pattern="grbg")
        np.testing.assert_allclose(stage(torch.from_numpy(x)).numpy(), stage(x), atol=1e-12)


def test_saturated_area_is_white_in_libraw_too(tmp_path, camera_default):
    """rawpy's postprocess (highlight_mode=0, LibRaw's default) on the engine's DNG."""
    rawpy = pytest.importorskip("rawpy")
    write_dng(tmp_path / "burnt.dng", saturated_raw("rggb"))
    raw = read_raw(tmp_path / "burnt.dng")
    ours = np.clip(camera_default(raw), 0, 1)[INSIDE]
    with rawpy.imread(str(tmp_path / "burnt.dng")) as handle:
        libraw = handle.postprocess(
            demosaic_algorithm=rawpy.DemosaicAlgorithm.LINEAR,
            highlight_mode=rawpy.HighlightMode.Clip,
            use_camera_wb=True,
            no_auto_bright=True,
            output_bps=16,
            gamma=(2.4, 12.92),
            output_color=rawpy.ColorSpace.sRGB,
            user_flip=0,
            adjust_maximum_thr=0.0,
        )
    libraw = libraw.astype(np.float64)[INSIDE] / 65535
    np.testing.assert_allclose(libraw, 1.0, atol=1e-3)
    np.testing.assert_allclose(ours, 1.0, atol=1e-5)


def test_blend_has_finite_gradients_in_torch():
    """Fully saturated blocks (clipped chroma 0) and neutral ones (measured chroma 0)."""
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(5).uniform(0, 2.5, (6, 8))
    x[:4, :4] = np.tile([[2.1, 1.2], [1.2, 1.6]], (2, 2))  # every site above its white point
    x[4:, 4:] = 1.5  # neutral above the white point
    t = torch.tensor(x, requires_grad=True)
    Highlights(gains=[2.1, 1.0, 1.6], mode="blend", pattern="rggb")(t).sum().backward()
    assert torch.isfinite(t.grad).all()
