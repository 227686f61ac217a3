"""UPI: the published formulas, reproducibility, the exact mode and camera banks.

The reference below is written independently from the paper (T. Brooks, B. Mildenhall,
T. Xue, J. Chen, D. Sharlet, J. T. Barron, "Unprocessing Images for Learned Raw
Denoising", CVPR 2019, §3, as in the authors' released code; plain numpy, not calling
the plugin), with the same order of random draws.
"""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ispengine import InputError, ParamError, Pipeline, get_registry
from ispengine.io.raw.dng import write_dng
from ispengine.io.raw.image import RawImage
from ispengine.learning.srgb_to_raw import SrgbToRawMethod
from ispengine.specs import resolve_spec

UPI = get_registry().get("srgb_to_raw", "upi").cls

XYZ2CAMS = np.array(
    [
        [[1.0234, -0.2969, -0.2266], [-0.5625, 1.6328, -0.0469], [-0.0703, 0.2188, 0.6406]],
        [[0.4913, -0.0541, -0.0202], [-0.613, 1.3513, 0.2906], [-0.1564, 0.2151, 0.7183]],
        [[0.838, -0.263, -0.0639], [-0.2887, 1.0725, 0.2496], [-0.0627, 0.1427, 0.5438]],
        [[0.6596, -0.2079, -0.0562], [-0.4782, 1.3016, 0.1933], [-0.097, 0.1581, 0.5181]],
    ]
)
RGB2XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
# Row and column of R, Gr, Gb, B in the 2x2 cell of each pattern.
SITES = {
    "rggb": [(0, 0), (0, 1), (1, 0), (1, 1)],
    "bggr": [(1, 1), (1, 0), (0, 1), (0, 0)],
    "grbg": [(0, 1), (0, 0), (1, 1), (1, 0)],
    "gbrg": [(1, 0), (1, 1), (0, 0), (0, 1)],
}


def independent_unprocess(image, seed, pattern="rggb", bank=XYZ2CAMS):
    """UPI's unprocess, from the formulas, returning the mosaic and the draws."""
    rng = np.random.default_rng(seed)
    weights = rng.uniform(1e-8, 1e8, size=(len(bank), 1, 1))
    xyz2cam = (bank * weights).sum(axis=0) / weights.sum(axis=0)
    rgb2cam = xyz2cam @ RGB2XYZ
    rgb2cam = rgb2cam / rgb2cam.sum(axis=-1, keepdims=True)
    cam2rgb = np.linalg.inv(rgb2cam)
    rgb_gain = 1.0 / rng.normal(0.8, 0.1)
    red_gain = rng.uniform(1.9, 2.4)
    blue_gain = rng.uniform(1.5, 1.9)
    y = np.clip(image, 0.0, 1.0)
    x = 0.5 - np.sin(np.arcsin(1.0 - 2.0 * y) / 3.0)
    x = np.maximum(x, 1e-8) ** 2.2
    x = np.tensordot(x, rgb2cam, axes=[[-1], [-1]])
    g = np.array([1.0 / red_gain, 1.0, 1.0 / blue_gain]) / rgb_gain
    gray = x.mean(axis=-1, keepdims=True)
    mask = (np.maximum(gray - 0.9, 0.0) / 0.1) ** 2
    x = x * np.maximum(mask + (1 - mask) * g, g)
    x = np.clip(x, 0.0, 1.0)
    mosaic = np.empty(x.shape[:2])
    for channel, (row, col) in zip((0, 1, 1, 2), SITES[pattern], strict=True):
        mosaic[row::2, col::2] = x[row::2, col::2, channel]
    return mosaic, dict(cam2rgb=cam2rgb, rgb_gain=rgb_gain, red_gain=red_gain, blue_gain=blue_gain)


def _image(seed, shape=(24, 32, 3)):
    return np.random.default_rng(seed).uniform(0.0, 1.0, size=shape)


@pytest.mark.parametrize("pattern", sorted(SITES))
@pytest.mark.parametrize("seed", [0, 7, 12345])
def test_faithful_mode_equals_the_published_formulas(pattern, seed):
    image = _image(seed)
    image[:4] = 0.97  # a highlight band, where the safe gains ease off
    expected, draws = independent_unprocess(image, seed, pattern)
    result = UPI().convert(image, metadata={"cfa_pattern": pattern}, seed=seed)
    assert result.raw.cfa_pattern == pattern
    assert result.raw.normalized
    np.testing.assert_allclose(result.raw.mosaic, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.metadata["cam2rgb"], draws["cam2rgb"], rtol=1e-12)
    for key in ("rgb_gain", "red_gain", "blue_gain"):
        assert result.metadata[key] == draws[key]
    # The produced RAW describes itself: as-shot WB and camera->sRGB are the draws.
    np.testing.assert_allclose(result.raw.wb_gains, [draws["red_gain"], 1, draws["blue_gain"]])
    np.testing.assert_allclose(result.raw.camera_to_srgb, draws["cam2rgb"], rtol=1e-12)


def test_white_stays_white_through_the_highlight_mask():
    result = UPI().convert(np.ones((8, 8, 3)), seed=3)
    np.testing.assert_allclose(result.raw.mosaic, 1.0, atol=1e-12)


@pytest.mark.parametrize("mode", ["faithful", "exact"])
@pytest.mark.parametrize("noise", ["none", "upi", "semiisp"])
def test_returned_metadata_reproduces_the_raw_bit_for_bit(mode, noise):
    method = UPI(mode=mode, noise=noise)
    image = _image(1)
    first = method.convert(image)  # seed drawn from fresh entropy, and recorded
    again = UPI(mode=mode, noise=noise).convert(image, metadata=first.metadata)
    assert np.array_equal(first.raw.mosaic, again.raw.mosaic)
    assert again.metadata == first.metadata


def test_sampling_is_one_to_many_and_seeded():
    method = UPI()
    samples = method.sample(_image(2), 3, seed=10)
    assert len(samples) == 3
    assert not np.array_equal(samples[0].raw.mosaic, samples[1].raw.mosaic)
    repeat = method.sample(_image(2), 3, seed=10)
    assert all(
        np.array_equal(a.raw.mosaic, b.raw.mosaic) for a, b in zip(samples, repeat, strict=True)
    )
    assert [s.metadata["seed"] for s in samples] == [10, 11, 12]


def test_draws_follow_the_published_ranges():
    method = UPI()
    image = np.full((2, 2, 3), 0.5)
    draws = [method.convert(image, seed=s).metadata for s in range(400)]
    red = np.array([d["red_gain"] for d in draws])
    blue = np.array([d["blue_gain"] for d in draws])
    inverse_rgb = 1.0 / np.array([d["rgb_gain"] for d in draws])
    assert red.min() >= 1.9 and red.max() <= 2.4
    assert blue.min() >= 1.5 and blue.max() <= 1.9
    assert abs(inverse_rgb.mean() - 0.8) < 0.02 and abs(inverse_rgb.std() - 0.1) < 0.015
    for d in draws[:20]:  # every CCM maps white to white
        np.testing.assert_allclose(np.linalg.inv(d["cam2rgb"]).sum(axis=1), 1.0, rtol=1e-12)


def test_the_reference_forward_is_not_the_inverse_as_documented():
    flat = np.ones((8, 8, 3)) * np.array([0.3, 0.5, 0.6])
    method = UPI()
    result = method.convert(flat, seed=4)
    developed = method.forward(result)
    y = 0.5 - np.sin(np.arcsin(1 - 2 * flat) / 3)
    predicted = y * result.metadata["rgb_gain"] ** (-1 / 2.2)
    np.testing.assert_allclose(developed, predicted, atol=1e-6)  # float32 RAW
    assert np.max(np.abs(developed - flat)) > 0.01


@settings(max_examples=40, deadline=None)
@given(
    colour=st.tuples(*[st.floats(0.02, 0.98)] * 3),
    seed=st.integers(0, 2**31 - 1),
    pattern=st.sampled_from(sorted(SITES)),
)
def test_exact_mode_is_the_inverse_of_its_forward_twin_on_flat_colours(colour, seed, pattern):
    image = np.ones((6, 8, 3)) * np.array(colour)
    method = UPI(mode="exact")
    result = method.convert(image, metadata={"cfa_pattern": pattern}, seed=seed)
    np.testing.assert_allclose(method.forward(result), image, rtol=0, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    base=st.tuples(*[st.floats(0.2, 0.7)] * 3),
    amplitude=st.floats(0.0, 0.1),
)
def test_exact_mode_round_trip_raw_to_srgb_to_raw_is_the_identity(seed, base, amplitude):
    rng = np.random.default_rng(seed)
    image = np.array(base) + amplitude * rng.uniform(-1, 1, size=(8, 10, 3))
    method = UPI(mode="exact")
    raw = method.convert(image, seed=seed)
    developed = method.forward(raw)
    assume(np.all((developed > 0) & (developed < 1)))  # smoothstep clips outside [0, 1]
    again = method.convert(developed, metadata=raw.metadata)
    np.testing.assert_allclose(again.raw.mosaic, raw.raw.mosaic, rtol=0, atol=1e-9)


def test_forward_twin_spec_loads_and_inverts():
    pipeline = Pipeline.from_toml(resolve_spec("upi_forward"))
    names = [type(stage).name for stage in pipeline.inverse().stages]
    assert names[0] == "smoothstep_inverse" and names[-1] == "mosaic_white_balance_inverse"


def test_user_bank_of_one_matrix_fixes_the_colour_space():
    matrix = XYZ2CAMS[2]
    result = UPI(bank=[matrix.tolist()]).convert(_image(3), seed=5)
    rgb2cam = matrix @ RGB2XYZ
    rgb2cam /= rgb2cam.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(result.metadata["cam2rgb"], np.linalg.inv(rgb2cam), rtol=1e-9)


def test_bad_banks_and_settings_are_clear_errors():
    with pytest.raises(ParamError, match=r"bank: expected an array of shape \(N, 3, 3\)"):
        UPI(bank=[[1, 2], [3, 4]])
    assert UPI(bank=np.eye(3)).config["bank"] == [np.eye(3).tolist()]  # one matrix
    with pytest.raises(InputError, match="condition"):
        UPI(bank=[[[1, 0, 0], [0, 1, 0], [1, 1, 1e-9]]])
    with pytest.raises(ParamError, match="published"):
        UPI(bank="nikon")
    with pytest.raises(ParamError, match="mode"):
        UPI(mode="approximate")
    with pytest.raises(ParamError, match="unknown setting"):
        UPI(colour="x")
    with pytest.raises(InputError, match="xyz_to_camera"):
        UPI(bank="target").convert(_image(0))
    with pytest.raises(InputError, match="even"):
        UPI().convert(np.zeros((5, 4, 3)))


def test_bank_from_dng_colour_matrices(tmp_path):
    from plugins_builtin.upi.bank import bank_from_raws

    paths = []
    for index, matrix in enumerate(XYZ2CAMS[:2]):
        mosaic = np.full((32, 32), 1000 + index, dtype=np.uint16)
        raw = RawImage(mosaic, black_level=64, white_level=4095, xyz_to_camera=matrix)
        paths.append(tmp_path / f"cam{index}.dng")
        write_dng(paths[-1], raw)
    bank = bank_from_raws(paths + paths[:1])
    np.testing.assert_allclose(bank, XYZ2CAMS[:2], atol=1e-4)  # DNG stores rationals


def test_target_bank_and_gains_use_the_camera_metadata():
    matrix = XYZ2CAMS[1]
    metadata = {"xyz_to_camera": matrix, "wb_gains": [2.0, 1.0, 1.6], "cfa_pattern": "bggr"}
    result = UPI(bank="target", gains="target").convert(_image(4), metadata=metadata, seed=1)
    assert result.metadata["red_gain"] == 2.0 and result.metadata["blue_gain"] == 1.6
    assert result.metadata["rgb_gain"] == 1.0
    assert result.raw.cfa_pattern == "bggr"


def test_dataset_bank_is_fitted_saved_and_loaded(tmp_path):
    from ispengine.learning.datasets import open_dataset
    from ispengine.learning.srgb_to_raw import Budget
    from ispengine.synthcam.generate import generate_dataset

    generate_dataset(tmp_path / "data", n=4, size=(24, 32), seed=2, progress=False)
    dataset = open_dataset(tmp_path / "data")
    method = UPI(bank="dataset")
    with pytest.raises(InputError, match="fit"):
        method.convert(_image(0))
    report = method.fit(dataset, Budget(steps=1))
    assert "bank of" in report.note
    expected = method.convert(_image(0), seed=9)
    settings_file = method.save(tmp_path / "upi")
    loaded = SrgbToRawMethod.load(settings_file)
    assert isinstance(loaded, UPI)
    again = loaded.convert(_image(0), seed=9)
    assert np.array_equal(expected.raw.mosaic, again.raw.mosaic)


def test_metadata_alone_reproduces_a_non_rggb_raw_whatever_the_seed():
    image = _image(6)
    first = UPI().convert(image, metadata={"cfa_pattern": "gbrg"}, seed=21)
    given = {k: v for k, v in first.metadata.items() if k != "seed"}
    again = UPI().convert(image, metadata=given, seed=999)  # the drawn values override
    assert again.raw.cfa_pattern == "gbrg"
    assert np.array_equal(first.raw.mosaic, again.raw.mosaic)


def test_bank_from_an_array_and_bad_values_are_clear_errors():
    assert UPI(bank=XYZ2CAMS[:2]).convert(_image(0), seed=1).raw.shape == (24, 32)
    with pytest.raises(ParamError, match="seed"):
        UPI().convert(_image(0), seed=-1)
    with pytest.raises(ParamError, match="seed"):
        UPI().sample(_image(0), 2, seed=1.5)
    with pytest.raises(InputError, match="rgb_gain"):
        UPI().convert(_image(0), metadata={"rgb_gain": "abc"})
    with pytest.raises(InputError, match="cam2rgb"):
        UPI().convert(_image(0), metadata={"cam2rgb": np.zeros((3, 3))})
    with pytest.raises(InputError, match="white_level"):
        UPI().convert(_image(0), metadata={"black_level": 10, "white_level": 5})
    with pytest.raises(InputError, match="noise levels"):
        UPI(noise="upi").convert(_image(0), metadata={"shot_noise": -1.0})


def test_fit_report_counts_one_matrix_in_the_singular(tmp_path):
    from ispengine.learning.datasets import open_dataset
    from ispengine.learning.srgb_to_raw import Budget
    from ispengine.synthcam.generate import generate_dataset

    generate_dataset(tmp_path, n=4, size=(24, 32), seed=2, cameras=["nikon_5100"], progress=False)
    report = UPI(bank="dataset").fit(open_dataset(tmp_path), Budget(steps=1))
    assert report.note == "camera bank of 1 matrix from the train split"
