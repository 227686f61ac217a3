"""The canonical camera stages: reference values, Bayer geometry, exact inverses, torch."""

import warnings

import numpy as np
import pytest

from ispengine import InputError, ParamError, get_registry
from ispengine.core.cfa import PATTERNS, cfa_positions
from plugins_builtin.canonical_stages import FILTERS, FORWARD, INVERSE
from plugins_builtin.canonical_stages.bayer import BayerNormalize, PackBayer, UnpackBayer
from plugins_builtin.canonical_stages.black_level import BlackLevel, BlackLevelInverse
from plugins_builtin.canonical_stages.clip import Clip
from plugins_builtin.canonical_stages.color_matrix import (
    CameraToSRGB,
    CameraToSRGBInverse,
    XYZToLinearSRGB,
    XYZToLinearSRGBInverse,
)
from plugins_builtin.canonical_stages.demosaic import (
    DemosaicBilinear,
    DemosaicBilinearInverse,
    DemosaicMalvar,
    DemosaicMalvarInverse,
    Mosaic,
    mirror_pad,
)
from plugins_builtin.canonical_stages.quantize import Quantize
from plugins_builtin.canonical_stages.srgb_transfer import (
    ENCODED_KNEE,
    LINEAR_KNEE,
    SRGBEOTF,
    SRGBOETF,
    SRGBEOTFInverse,
    SRGBOETFInverse,
)
from plugins_builtin.canonical_stages.white_balance import MosaicWhiteBalance, WhiteBalance

with warnings.catch_warnings():  # colour warns that matplotlib is missing
    warnings.simplefilter("ignore")
    from colour_demosaicing import (
        demosaicing_CFA_Bayer_bilinear,
        demosaicing_CFA_Bayer_Malvar2004,
        mosaicing_CFA_Bayer,
    )

RNG = np.random.default_rng(20240611)
CFA = RNG.uniform(0, 1, size=(16, 20))
RGB = RNG.uniform(0, 1, size=(8, 10, 3))
# Distinct colours, so where each sample came from is visible in a mosaic.
RED, GREEN, BLUE = 0.2, 0.5, 0.8
FLAT = np.broadcast_to(np.array([RED, GREEN, BLUE]), (6, 8, 3))


# -- registration ------------------------------------------------------------
EXPECTED_INVERSES = {
    "black_level": "black_level_inverse",
    "bayer_normalize": "bayer_normalize_inverse",
    "pack_bayer": "unpack_bayer",
    "white_balance": "white_balance_inverse",
    "mosaic_white_balance": "mosaic_white_balance_inverse",
    "demosaic_bilinear": "demosaic_bilinear_inverse",
    "demosaic_malvar": "demosaic_malvar_inverse",
    "camera_to_srgb": "camera_to_srgb_inverse",
    "xyz_to_linear_srgb": "xyz_to_linear_srgb_inverse",
    "srgb_oetf": "srgb_oetf_inverse",
    "srgb_eotf": "srgb_eotf_inverse",
}


def test_every_stage_is_registered_with_its_exact_inverse():
    registry = get_registry()
    for stage, inverse in EXPECTED_INVERSES.items():
        assert registry.get("stage", stage).plugin == "canonical_stages"
        assert registry.inverse_kind(stage) == "exact"
        assert [r.name for r in registry.inverses_of(stage)] == [inverse]


@pytest.mark.parametrize("name", ["clip", "quantize", "mosaic"])
def test_lossy_stages_have_no_inverse(name):
    assert get_registry().inverse_kind(name) == "none"


# -- demosaicing ---------------------------------------------------------------
@pytest.mark.parametrize("pattern", PATTERNS)
def test_malvar_matches_colour_demosaicing_away_from_the_border(pattern):
    ours = DemosaicMalvar(pattern=pattern)(CFA)
    reference = demosaicing_CFA_Bayer_Malvar2004(CFA, pattern.upper())
    assert ours.shape == reference.shape
    assert np.max(np.abs(ours - reference)[2:-2, 2:-2]) <= 1e-5


@pytest.mark.parametrize("pattern", PATTERNS)
def test_bilinear_matches_colour_demosaicing_away_from_the_border(pattern):
    ours = DemosaicBilinear(pattern=pattern)(CFA)
    reference = demosaicing_CFA_Bayer_bilinear(CFA, pattern.upper())
    assert np.max(np.abs(ours - reference)[1:-1, 1:-1]) <= 1e-12


@pytest.mark.parametrize("inverse", [DemosaicBilinearInverse, DemosaicMalvarInverse])
@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("shape", [(16, 20), (2, 2), (3, 2, 6)])
def test_demosaic_keeps_the_measured_samples_exactly(inverse, pattern, shape):
    cfa = RNG.uniform(0, 1, size=shape).astype(np.float32)
    forward = inverse.forward(pattern=pattern)
    rgb = forward(cfa)
    assert rgb.shape == shape + (3,) and rgb.dtype == np.float32
    np.testing.assert_array_equal(inverse.from_forward(forward)(rgb), cfa)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_demosaic_of_a_flat_colour_is_that_colour(pattern):
    for stage in (DemosaicBilinear, DemosaicMalvar):
        rgb = stage(pattern=pattern)(Mosaic(pattern=pattern)(FLAT))
        np.testing.assert_allclose(rgb, FLAT, atol=1e-12)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_mosaic_matches_colour_demosaicing(pattern):
    np.testing.assert_array_equal(
        Mosaic(pattern=pattern)(RGB), mosaicing_CFA_Bayer(RGB, pattern.upper())
    )


def test_the_plugin_uses_the_core_geometry_and_colour_formulas():
    import ispengine.core.cfa
    import ispengine.core.colour
    from plugins_builtin.canonical_stages import cfa, color_matrix, demosaic, srgb_transfer

    for name in ("PATTERNS", "cfa_positions", "cfa_cell", "split_cfa", "pack_cfa", "merge_cfa"):
        assert getattr(cfa, name) is getattr(ispengine.core.cfa, name)
    assert demosaic.mosaic is ispengine.core.cfa.mosaic
    assert srgb_transfer.srgb_decode is ispengine.core.colour.srgb_decode
    assert color_matrix.XYZ_TO_LINEAR_SRGB is ispengine.core.colour.XYZ_TO_LINEAR_SRGB


@pytest.mark.parametrize("length", [2, 4, 6, 10])
def test_mirror_pad_is_numpy_reflect(length):
    x = RNG.uniform(size=(3, length, length))
    padded = mirror_pad(mirror_pad(x, -1, np), -2, np)
    np.testing.assert_array_equal(padded, np.pad(x, ((0, 0), (2, 2), (2, 2)), mode="reflect"))


def test_mosaic_stages_reject_odd_sizes():
    with pytest.raises(InputError, match="even height and width"):
        DemosaicMalvar()(CFA[:5])


# -- Bayer geometry ------------------------------------------------------------
@pytest.mark.parametrize("pattern", PATTERNS)
def test_bayer_normalize_turns_every_pattern_into_rggb(pattern):
    flat = BayerNormalize(pattern=pattern)(Mosaic(pattern=pattern)(FLAT))
    np.testing.assert_array_equal(flat[0::2, 0::2], RED)
    np.testing.assert_array_equal(flat[0::2, 1::2], GREEN)
    np.testing.assert_array_equal(flat[1::2, 0::2], GREEN)
    np.testing.assert_array_equal(flat[1::2, 1::2], BLUE)
    normalized = BayerNormalize(pattern=pattern)(Mosaic(pattern=pattern)(RGB))
    flips = {"rggb": (), "bggr": (0, 1), "grbg": (1,), "gbrg": (0,)}[pattern]
    flipped = np.flip(RGB, axis=flips) if flips else RGB
    np.testing.assert_array_equal(normalized, Mosaic(pattern="rggb")(flipped))


@pytest.mark.parametrize("pattern", PATTERNS)
def test_pack_orders_the_planes_r_gr_gb_b(pattern):
    cfa = Mosaic(pattern=pattern)(FLAT)
    rows = np.arange(6)[:, None] * np.ones((1, 8))
    packed = PackBayer(pattern=pattern)(cfa + 0.01 * rows)
    assert packed.shape == (3, 4, 4)
    red_row = cfa_positions(pattern)["R"][0]
    np.testing.assert_allclose(
        packed[0, 0],
        [RED, GREEN, GREEN, BLUE] + 0.01 * np.array([red_row, red_row, 1 - red_row, 1 - red_row]),
    )


@pytest.mark.parametrize("pattern", PATTERNS)
def test_pack_unpack_round_trip(pattern):
    cfa = RNG.uniform(size=(2, 6, 10))
    pack = PackBayer(pattern=pattern)
    packed = pack(cfa)
    assert packed.shape == (2, 3, 5, 4)
    np.testing.assert_array_equal(UnpackBayer.from_forward(pack)(packed), cfa)
    np.testing.assert_array_equal(pack(UnpackBayer(pattern=pattern)(packed)), packed)


# -- black level and white balance ------------------------------------------------
def test_black_level_normalises_each_cfa_channel():
    black = [64.0, 60.0, 62.0, 66.0]
    stage = BlackLevel(black=black, white=1023.0, pattern="bggr")
    cfa = np.full((4, 6), 1023.0)
    cfa[1::2, 1::2] = 64.0  # R sites of BGGR
    cfa[0::2, 0::2] = 66.0  # B sites
    out = stage(cfa)
    np.testing.assert_array_equal(out[1::2, 1::2], 0.0)
    np.testing.assert_array_equal(out[0::2, 0::2], 0.0)
    np.testing.assert_array_equal(out[0::2, 1::2], 1.0)
    assert stage.input_domain() == (0.0, 1023.0)
    np.testing.assert_allclose(BlackLevelInverse.from_forward(stage)(out), cfa, rtol=1e-15)


@pytest.mark.parametrize("black", [1023.0, 1022.9, 2000.0, [0, 0, 1100, 0]])
def test_black_level_needs_white_above_black(black):
    with pytest.raises(ParamError, match="^white: "):
        BlackLevel(black=black, white=1023.0)


def test_black_level_takes_per_image_values():
    cfa = RNG.uniform(0, 1000, size=(2, 4, 4))
    black = np.array([[10.0, 20, 30, 40], [50, 60, 70, 80]])
    white = np.array([1000.0, 900.0])
    stage = BlackLevel(pattern="rggb")
    out = stage(cfa, {"black": black, "white": white})
    np.testing.assert_allclose(out[1, 1::2, 0::2], (cfa[1, 1::2, 0::2] - 70) / (900 - 70))
    with pytest.raises(ParamError, match="^white: "):
        stage(cfa, {"black": black, "white": np.array([1000.0, 75.0])})
    with pytest.raises(ParamError, match="^black: .*per-image values allowed"):
        stage(cfa[0], {"black": np.full((4, 4, 4), 10.0), "white": 1000.0})


@pytest.mark.parametrize("pattern", PATTERNS)
def test_mosaic_white_balance_is_white_balance_before_mosaicing(pattern):
    gains = [2.0, 1.0, 1.5]
    before = Mosaic(pattern=pattern)(WhiteBalance(gains=gains)(RGB))
    after = MosaicWhiteBalance(gains=gains, pattern=pattern)(Mosaic(pattern=pattern)(RGB))
    np.testing.assert_array_equal(before, after)


# -- colour matrices ---------------------------------------------------------------
def test_xyz_to_linear_srgb_maps_d65_white_to_one():
    d65 = np.array([[[0.95047, 1.0, 1.08883]]])
    np.testing.assert_allclose(XYZToLinearSRGB()(d65), [[[1.0, 1.0, 1.0]]], atol=1e-4)
    forward = XYZToLinearSRGB()
    x = RNG.uniform(size=(4, 5, 3))
    restored = XYZToLinearSRGBInverse.from_forward(forward)(forward(x))
    assert np.max(np.abs(restored - x)) <= 1e-14


def test_camera_to_srgb_needs_a_well_conditioned_matrix():
    with pytest.raises(ParamError, match="^matrix: missing"):
        CameraToSRGB()(RGB)
    with pytest.raises(ParamError, match="^matrix: .*condition number"):
        CameraToSRGB(matrix=[[1, 0, 0], [0, 1, 0], [0, 0, 0.01]])
    with pytest.raises(ParamError, match="^matrix: matrix 2-norm"):
        CameraToSRGB(matrix=np.eye(3) * 1e-40)
    matrix = [[1.8, -0.6, -0.2], [-0.2, 1.5, -0.3], [0.0, -0.5, 1.5]]
    forward = CameraToSRGB(matrix=matrix)
    np.testing.assert_allclose(forward(RGB), RGB @ np.array(matrix).T, rtol=1e-14)
    restored = CameraToSRGBInverse.from_forward(forward)(forward(RGB))
    assert np.max(np.abs(restored - RGB)) <= 1e-14


# -- sRGB transfer functions ---------------------------------------------------------
@pytest.mark.parametrize(
    ("linear", "encoded", "tolerance"),
    [
        (0.0, 0.0, 0.0),
        (0.0031308, 0.04045, 1e-6),
        (0.001, 0.01292, 1e-15),
        (0.18, 0.461356, 1e-6),
        (0.5, 0.735357, 1e-6),
        (1.0, 1.0, 1e-15),
    ],
)
def test_srgb_oetf_hand_values(linear, encoded, tolerance):
    x = np.full((1, 1, 3), linear)
    assert abs(SRGBOETF()(x)[0, 0, 0] - encoded) <= tolerance
    assert abs(SRGBEOTF()(np.full((1, 1, 3), encoded))[0, 0, 0] - linear) <= 10 * tolerance


def test_srgb_curves_are_continuous_increasing_and_odd():
    assert abs(1.055 * LINEAR_KNEE ** (1 / 2.4) - 0.055 - ENCODED_KNEE) <= 1e-15
    x = np.linspace(-1, 1, 200001).reshape(-1, 1, 3)
    for stage in (SRGBOETF(), SRGBEOTF()):
        y = stage(x)
        assert np.all(np.diff(y.ravel()) > 0)
        np.testing.assert_array_equal(stage(-x), -y)


@pytest.mark.parametrize("inverse", [SRGBOETFInverse, SRGBEOTFInverse])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_srgb_round_trips_across_the_knee(inverse, dtype):
    knee = LINEAR_KNEE if inverse is SRGBOETFInverse else ENCODED_KNEE
    sides = knee * (1 + np.linspace(-1e-6, 1e-6, 301))
    x = np.concatenate([sides, -sides, RNG.uniform(-1, 1, 300), [0.0]]).reshape(1, -1, 3)
    x = x.astype(dtype)
    forward = inverse.forward()
    restored = inverse.from_forward(forward)(forward(x))
    tolerance = 1e-15 if dtype == np.float64 else 3e-7
    assert restored.dtype == dtype
    assert np.max(np.abs(restored - x)) <= tolerance


# -- clip and quantize ---------------------------------------------------------------
def test_clip_and_its_bounds():
    x = np.linspace(-1, 2, 12).reshape(2, 2, 3)
    np.testing.assert_array_equal(Clip()(x), np.clip(x, 0, 1))
    per_image = Clip()(np.stack([x, x]), {"low": np.array([0.0, 0.5]), "high": np.array([1, 2.0])})
    np.testing.assert_array_equal(per_image[1], np.clip(x, 0.5, 2.0))
    with pytest.raises(ParamError, match="^high: "):
        Clip(low=1.0, high=1.0)


def test_quantize_rounds_to_code_values():
    x = np.array([-0.5, 0.0, 0.3, 1 / 255 * 0.49, 1 / 255 * 0.51, 1.0, 7.0, 0.5, 0.999]).reshape(
        1, 3, 3
    )
    out = Quantize(bits=8)(x)
    np.testing.assert_allclose(out * 255, np.round(np.clip(x, 0, 1) * 255), atol=1e-12)
    np.testing.assert_array_equal(Quantize(bits=1)(x).ravel(), [0, 0, 0, 0, 0, 1, 1, 0, 1])
    with pytest.raises(ParamError, match="^bits: must be an integer"):
        Quantize(bits=7.5)
    with pytest.raises(ParamError, match="^bits: "):
        Quantize(bits=17)


# -- torch ---------------------------------------------------------------------------
torch = pytest.importorskip("torch")

EXAMPLE_VALUES = {
    "black_level": {"black": [0.1, 0.12, 0.11, 0.09], "white": 1.0, "pattern": "gbrg"},
    "white_balance": {"gains": [2.0, 1.0, 1.6]},
    "mosaic_white_balance": {"gains": [2.0, 1.0, 1.6], "pattern": "grbg"},
    "camera_to_srgb": {"matrix": [[1.8, -0.6, -0.2], [-0.2, 1.5, -0.3], [0.0, -0.5, 1.5]]},
    "clip": {"low": 0.2, "high": 0.7},
    "quantize": {"bits": 4},
}


def _example_input(stage):
    shape = {"mosaic": (2, 6, 8), "rgb": (2, 6, 8, 3), "packed": (2, 3, 4, 4)}
    return RNG.uniform(0.01, 1, size=shape[stage.input_layout])


@pytest.mark.parametrize("stage_cls", FORWARD + FILTERS + INVERSE, ids=lambda cls: cls.name)
def test_every_stage_runs_on_torch_like_numpy(stage_cls):
    forward_name = getattr(stage_cls, "forward", stage_cls).name
    stage = stage_cls(**EXAMPLE_VALUES.get(forward_name, {}))
    x = _example_input(stage)
    expected = stage(x)
    got = stage(torch.from_numpy(x))
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12, atol=1e-12)


def test_malvar_on_torch_matches_numpy_and_has_gradients():
    stage = DemosaicMalvar(pattern="grbg")
    cfa = torch.tensor(CFA, dtype=torch.float64, requires_grad=True)
    rgb = stage(cfa)
    np.testing.assert_allclose(rgb.detach().numpy(), stage(CFA), rtol=0, atol=1e-14)
    rgb.sum().backward()
    assert cfa.grad is not None and bool(torch.all(torch.isfinite(cfa.grad)))
    assert float(cfa.grad.abs().sum()) > 0


@pytest.mark.parametrize(
    "stage",
    [
        DemosaicMalvar(pattern="gbrg"),
        UnpackBayer(pattern="bggr"),
        SRGBOETF(),
        SRGBEOTF(),
        BlackLevel(black=[0.1, 0.12, 0.11, 0.09], white=1.0, pattern="grbg"),
    ],
    ids=lambda stage: stage.name,
)
def test_gradcheck(stage):
    x = torch.tensor(_example_input(stage)[:1, :4, :4], requires_grad=True)
    assert torch.autograd.gradcheck(stage, (x,))


def test_srgb_gradients_are_finite_at_zero():
    x = torch.tensor([[[0.0, 1e-30, -0.5]]], dtype=torch.float64, requires_grad=True)
    SRGBOETF()(x).sum().backward()
    assert bool(torch.all(torch.isfinite(x.grad)))
    np.testing.assert_allclose(x.grad[0, 0, :2].numpy(), [12.92, 12.92])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("method", ["malvar", "bilinear"])
def test_compiled_demosaic_kernels_equal_the_array_api_reference(method, pattern, dtype):
    from plugins_builtin.canonical_stages import demosaic_kernels
    from plugins_builtin.canonical_stages.demosaic import BILINEAR, MALVAR, demosaic

    mosaic = RNG.uniform(0, 1, size=(2, 12, 18)).astype(dtype)
    compiled = demosaic_kernels.demosaic_numpy(mosaic, pattern, method)
    reference = demosaic(mosaic, pattern, MALVAR if method == "malvar" else BILINEAR, np)
    assert compiled.dtype == mosaic.dtype and compiled.shape == reference.shape
    tolerance = 1e-6 if dtype == np.float32 else 1e-13
    assert np.max(np.abs(compiled - reference)) <= tolerance
