"""SemiISP: predictor, bank, one-to-many inverse, USQ, the semiisp method, IE variant."""

import json
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from ispengine import Pipeline  # noqa: E402
from ispengine.core.errors import InputError, ParamError, SpecError  # noqa: E402
from ispengine.learning.srgb_to_raw import Budget  # noqa: E402
from ispengine.synthcam.generate import generate_dataset  # noqa: E402
from plugins_builtin.semiisp.bank import ParameterBank  # noqa: E402
from plugins_builtin.semiisp.function_isp import ENHANCE_SPEC, FunctionISP  # noqa: E402
from plugins_builtin.semiisp.method import SemiISP  # noqa: E402
from plugins_builtin.semiisp.pairs import ImagePairs  # noqa: E402
from plugins_builtin.semiisp.pseudo import pseudo_pairs, unprocess, update_srgb_quality  # noqa: E402

FOUR_STAGES = [
    {"type": "color_correction"},
    {"type": "gain"},
    {"type": "gamma_tone"},
    {"type": "contrast_stretch"},
]


def _pipeline(stages=FOUR_STAGES, **predictor):
    return Pipeline.from_dict(
        {
            "name": "t",
            "input": "camera_rgb",
            "output": "srgb",
            "predictor": {"type": "pqdynamic", **predictor},
            "stage": stages,
        }
    )


pytestmark = pytest.mark.usefixtures("torch_one_thread")


# -- predictor ----------------------------------------------------------------------
def test_untrained_predictor_gives_the_defaults_and_keeps_constants():
    stages = [*FOUR_STAGES[:2], {"type": "gamma_tone", "params": {"g1": 2.2}}, FOUR_STAGES[3]]
    pipeline = _pipeline(stages, mode="local", resize=16, width=4)
    keys = [p.key for p in pipeline.predictor.params]
    assert "gamma_tone.g1" not in keys and "gamma_tone.g2" in keys
    image = np.random.default_rng(0).random((12, 10, 3))
    plain = Pipeline.from_dict({"name": "p", "stage": stages})
    np.testing.assert_allclose(pipeline(image), plain(image), atol=1e-5)


def test_predictor_settings_are_checked_and_weights_load_from_the_spec_folder(tmp_path):
    with pytest.raises(SpecError, match="predictor"):
        _pipeline(grid=1)
    trained = _pipeline(resize=16, width=4)
    with torch.no_grad():
        trained.predictor.network.head.bias.add_(0.3)
    trained.predictor.save_weights(tmp_path / "p.safetensors")
    spec = tmp_path / "isp.toml"
    spec.write_text(
        'schema = 1\nname = "x"\n[predictor]\ntype = "pqdynamic"\nresize = 16\nwidth = 4\n'
        'weights = "p.safetensors"\n'
        + "".join(f'[[stage]]\ntype = "{s["type"]}"\n' for s in FOUR_STAGES)
    )
    image = np.random.default_rng(1).random((8, 8, 3))
    np.testing.assert_array_equal(Pipeline.from_toml(spec)(image), trained(image))
    with pytest.raises(InputError, match="do not fit"):
        _pipeline(resize=16, width=8, weights=str(tmp_path / "p.safetensors"))


def test_predictor_is_differentiable_in_both_modes():
    for mode in ("global", "local"):
        isp = FunctionISP(mode=mode, resize=16, width=4, grid=2)
        x = torch.rand(2, 12, 16, 3)
        loss = isp.forward(x).mean()
        loss.backward()
        grads = [p.grad for p in isp.predictor.network.parameters()]
        assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)


def test_local_model_in_global_mode_gives_one_set_per_image():
    isp = FunctionISP(mode="local", resize=16, width=4, grid=2)
    values = isp.predictor(np.random.default_rng(0).random((3, 10, 12, 3)), mode="global")
    assert values["gain"]["p_x"].shape == (3, 3)
    assert values["color_correction"]["matrix"].shape == (3, 3, 3)


# -- bank ---------------------------------------------------------------------------
def _bank(capacity=5):
    isp = FunctionISP(mode="global", resize=16, width=4)
    return isp, ParameterBank(isp.params, capacity, isp.stages)


def _sets(isp, n, seed=0):
    """``n`` valid parameter sets, each gain.p_x tagged with its index."""
    rng = np.random.default_rng(seed)
    values = {}
    for item in isp.params:
        array = rng.uniform(item.spec.low, item.spec.high, (n, *item.spec.shape))
        values.setdefault(item.label, {})[item.spec.name] = array
    values["color_correction"]["matrix"] = np.broadcast_to(np.eye(3), (n, 3, 3)).copy()
    values["gain"]["p_x"] = np.repeat(np.arange(n)[:, None] / 100, 3, axis=1)
    return values


def test_bank_keeps_the_last_sets_and_draws_whole_ones():
    isp, bank = _bank(capacity=5)
    bank.add(_sets(isp, 8))
    assert len(bank) == 5
    stored = sorted(bank.arrays["gain.p_x"][:, 0].round(2))
    assert stored == [0.03, 0.04, 0.05, 0.06, 0.07]
    rng = np.random.default_rng(0)
    for _ in range(20):
        drawn = bank.draw(rng, "whole")
        tag = drawn["gain"]["p_x"][0]
        slot = int(np.flatnonzero(np.isclose(bank.arrays["gain.p_x"][:, 0], tag))[0])
        np.testing.assert_array_equal(drawn["gamma_tone"]["g1"], bank.arrays["gamma_tone.g1"][slot])


def test_per_function_sampling_mixes_stages_from_different_sets():
    isp, bank = _bank(capacity=10)
    bank.add(_sets(isp, 10))
    rng = np.random.default_rng(0)
    mixed = 0
    for _ in range(30):
        drawn = bank.draw(rng, "per_function")
        gain_slot = int(round(drawn["gain"]["p_x"][0] * 100))
        gamma_slot = int(
            np.flatnonzero(
                np.all(bank.arrays["gamma_tone.g1"] == drawn["gamma_tone"]["g1"], axis=1)
            )[0]
        )
        mixed += gain_slot != gamma_slot
    assert mixed > 15
    assert bank.resolve_sampling("auto", 1000) == "whole"
    assert bank.resolve_sampling("auto", 1001) == "per_function"


def test_bank_refuses_ill_conditioned_matrices_and_saves_exactly():
    isp, bank = _bank(capacity=4)
    sets = _sets(isp, 3)
    sets["color_correction"]["matrix"][1] = np.diag([4.0, 0.01, 1.0])  # condition 400
    bank.add(sets)
    assert len(bank) == 2 and bank.rejected == 1
    bank.add(_sets(isp, 5, seed=1))
    copy = ParameterBank(isp.params, 4, isp.stages)
    copy.load_state(bank.state())
    for seed in range(5):
        a = bank.draw(np.random.default_rng(seed))
        b = copy.draw(np.random.default_rng(seed))
        np.testing.assert_array_equal(a["gamma_tone"]["k"], b["gamma_tone"]["k"])
    with pytest.raises(InputError, match="empty"):
        ParameterBank(isp.params, 2).draw(np.random.default_rng(0))
    with pytest.raises(ParamError, match="bank_size"):
        ParameterBank(isp.params, 0)


# -- inverse ------------------------------------------------------------------------
_ISP = {}


def _shared_isp(inverse):
    if inverse not in _ISP:
        _ISP[inverse] = FunctionISP(mode="global", resize=16, width=4, inverse=inverse)
    return _ISP[inverse]


@st.composite
def _parameter_sets(draw):
    isp = _shared_isp("lut")
    values = {}
    for item in isp.params:
        elements = st.floats(item.spec.low, item.spec.high, allow_nan=False)
        array = np.array(draw(st.lists(elements, min_size=item.size, max_size=item.size)))
        values.setdefault(item.label, {})[item.spec.name] = array.reshape(item.spec.shape)
    try:
        isp.stages["color_correction"].check_params(values["color_correction"])
    except ParamError:
        assume(False)
    return values


@settings(max_examples=30)
@given(
    params=_parameter_sets(), seed=st.integers(0, 2**16), inverse=st.sampled_from(["lut", "exact"])
)
def test_inverse_goes_back_through_the_function_isp_within_lut_accuracy(params, seed, inverse):
    isp = _shared_isp(inverse)
    srgb = np.random.default_rng(seed).random((6, 8, 3))
    camera = isp.invert(srgb, params)
    again = isp.forward_with(camera, params)
    # sRGB values above f_GM(1) need a RAW above white: the sensor saturates there.
    stretched = isp._inverse.steps[0].stage(srgb, params["contrast_stretch"])
    gm = isp.stages["gamma_tone"]
    reachable = np.abs(stretched) <= gm(np.ones((1, 1, 3)), params["gamma_tone"]) - 1e-9
    inside = np.all(reachable, axis=-1)
    # The LUT's worst case over the whole declared range is ~1e-4, at g1 = 4 next to
    # black, where f_GM's slope is unbounded (the paper's LUT: max 6.5e-5 on its data).
    tolerance = 1e-6 if inverse == "exact" else 2e-4
    assert np.max(np.abs(again - srgb)[inside], initial=0.0) < tolerance


def test_one_to_many_samples_differ_and_each_inverts_back():
    isp, bank = _bank(capacity=6)
    bank.add(_sets(isp, 6))
    srgb = np.random.default_rng(3).random((8, 8, 3)) * 0.6
    rng = np.random.default_rng(0)
    cameras = []
    for _ in range(3):
        camera, params = unprocess(isp, bank, srgb, rng, "whole")
        cameras.append(camera)
        inside = np.all((camera > 0) & (camera < 1), axis=-1)
        np.testing.assert_allclose(
            isp.forward_with(camera.astype(np.float64), params)[inside], srgb[inside], atol=1e-5
        )
    assert np.abs(cameras[0] - cameras[1]).max() > 1e-3


def test_usq_is_the_three_step_composition():
    isp, bank = _bank(capacity=6)
    bank.add(_sets(isp, 6))
    srgb = np.random.default_rng(4).random((8, 8, 3)).astype(np.float32)
    raw2, updated = update_srgb_quality(isp, bank, srgb, np.random.default_rng(7))
    rng = np.random.default_rng(7)
    raw1, _ = unprocess(isp, bank, srgb, rng)
    expected_updated = np.clip(isp.render(raw1), 0, 1)
    expected_raw2, _ = unprocess(isp, bank, expected_updated, rng)
    np.testing.assert_array_equal(updated, expected_updated.astype(np.float32))
    np.testing.assert_array_equal(raw2, expected_raw2)
    images = [srgb, srgb[::-1].copy()]
    pairs = pseudo_pairs(isp, bank, images, samples=2, seed=5, noise=True)
    again = pseudo_pairs(isp, bank, images[1:], samples=2, seed=5, noise=True)
    assert len(pairs) == 4 and len(ImagePairs(pairs)) == 4
    # order-free: image i, sample k depend on (seed, i, k) only
    assert not np.array_equal(pairs[2][0], again[0][0])  # index shifts with the list
    np.testing.assert_array_equal(
        pairs[0][0], pseudo_pairs(isp, bank, images[:1], samples=1, seed=5, noise=True)[0][0]
    )


# -- the method ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from ispengine.learning.datasets import open_dataset

    root = tmp_path_factory.mktemp("semiisp") / "data"
    generate_dataset(root, n=8, size=(32, 48), seed=2, cameras=["nikon_5100"], progress=False)
    return open_dataset(root)


@pytest.fixture(scope="module")
def fitted(dataset, torch_one_thread):
    method = SemiISP(resize=16, width=8, grid=2, crop=16, batch_size=4, bank_size=12, lr=3e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        report = method.fit(dataset, Budget(steps=40), seed=0, progress=False)
    return method, report


def test_fit_reduces_the_loss_and_fills_the_bank(fitted):
    method, report = fitted
    first, last = np.mean(report.losses[:5]), np.mean(report.losses[-5:])
    assert last < 0.8 * first
    assert len(method.bank) == 12 and "bank: 12 sets" in report.note


def test_semiisp_samples_differ_reproduce_and_survive_save_load(fitted, dataset, tmp_path):
    method, _ = fitted
    srgb = dataset.split("test")[0].srgb
    target = {"cfa_pattern": "bggr", "black_level": 64, "white_level": 4095}
    samples = method.sample(srgb, 3, seed=10, metadata=target)
    mosaics = [s.raw.mosaic for s in samples]
    assert samples[0].raw.cfa_pattern == "bggr" and samples[0].raw.white_level == 4095
    assert np.abs(mosaics[0] - mosaics[1]).max() > 1e-3
    assert all(m.min() >= 0 and m.max() <= 1 for m in mosaics)
    again = method.convert(srgb, seed=99, metadata={**target, **samples[1].metadata})
    np.testing.assert_array_equal(again.raw.mosaic, mosaics[1])
    json.dumps(samples[0].metadata)
    settings_file = method.save(tmp_path / "semi.safetensors")
    loaded = SemiISP.load(settings_file)
    np.testing.assert_array_equal(
        loaded.convert(srgb, seed=10, metadata=target).raw.mosaic, mosaics[0]
    )


def test_noise_setting_adds_semiisp_noise(fitted, dataset):
    method, _ = fitted
    noisy = SemiISP(**{**method.config, "noise": True})
    noisy.load_state(method.state())
    srgb = dataset.split("test")[0].srgb
    clean = method.convert(srgb, seed=4)
    made = noisy.convert(srgb, seed=4, metadata={"params": clean.metadata["params"]})
    assert made.metadata["noise"]["shot"] <= 0.01 and made.metadata["noise"]["read"] <= 2e-4
    assert np.abs(made.raw.mosaic - clean.raw.mosaic).max() > 0


def test_unfitted_method_and_bad_settings_are_clear_errors():
    with pytest.raises(InputError, match="bank is empty"):
        SemiISP(resize=16, width=4).convert(np.zeros((8, 8, 3)))
    with pytest.raises(ParamError, match="sampling"):
        SemiISP(sampling="sometimes")
    with pytest.raises(InputError, match="even"):
        SemiISP(crop=33)


def test_unprocess_cli_makes_pseudo_raws_from_a_saved_semiisp(fitted, dataset, tmp_path):
    from ispengine.cli import main
    from ispengine.io.image_files import write_image

    method, _ = fitted
    saved = method.save(tmp_path / "m.safetensors")
    folder = tmp_path / "in"
    folder.mkdir()
    for index, sample in enumerate(list(dataset.split("train"))[:2]):
        write_image(folder / f"im{index}.png", sample.srgb)
    code = main(
        [
            "unprocess",
            "--method",
            "semiisp",
            "--weights",
            str(saved),
            "--samples",
            "2",
            "--quiet",
            str(folder),
            str(tmp_path / "out"),
        ]
    )
    assert code == 0
    assert len(list((tmp_path / "out").glob("*.dng"))) == 4


# -- the IE variant -----------------------------------------------------------------
def test_enhancement_variant_learns_to_undo_darkening_and_noise(dataset):
    from plugins_builtin.semiisp.semi_trainer import TrainConfig, evaluate, train_model

    rng = np.random.default_rng(0)
    pairs = []
    for sample in dataset.split("train"):
        target = np.asarray(sample.srgb, dtype=np.float32)
        dark = 0.35 * target**1.6 + rng.normal(0, 0.01, target.shape)
        pairs.append((np.clip(dark, 0, 1).astype(np.float32), target))
    data = ImagePairs(pairs)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        isp = FunctionISP(ENHANCE_SPEC, mode="global", resize=16, width=8)
    assert isp.pipeline.steps[0].stage.name == "inverse_tone"
    model = isp.module()
    before = evaluate(model, data)["psnr"]
    config = TrainConfig(steps=60, batch_real=4, batch_pseudo=0, crop=16, lr=1e-2)
    train_model(model, data, None, config, seed=0, progress=False)
    after = evaluate(model, data)["psnr"]
    assert after > before + 3.0


def test_metadata_reproduces_a_noisy_raw(fitted, dataset):
    method, _ = fitted
    noisy = SemiISP(**{**method.config, "noise": True})
    noisy.load_state(method.state())
    srgb = dataset.split("test")[0].srgb
    first = noisy.convert(srgb, seed=7)
    again = noisy.convert(srgb, metadata=first.metadata)  # seed from the metadata
    np.testing.assert_array_equal(again.raw.mosaic, first.raw.mosaic)


def test_resumed_fit_tops_the_bank_up(dataset, tmp_path):
    settings = dict(resize=16, width=4, grid=2, crop=16, batch_size=2, bank_size=8)
    checkpoint = tmp_path / "fit.ckpt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        SemiISP(**settings).fit(dataset, Budget(steps=5), checkpoint=checkpoint, progress=False)
        resumed = SemiISP(**settings)
        resumed.fit(dataset, Budget(steps=6), checkpoint=checkpoint, resume=True, progress=False)
    assert len(resumed.bank) == 8


def test_perceptual_term_loads_local_vgg_weights_and_refuses_a_missing_file(tmp_path):
    from plugins_builtin.semiisp.perceptual import _feature_class, perceptual_loss_or_none

    with torch.random.fork_rng():
        torch.manual_seed(0)
        state = _feature_class()().state_dict()
    path = tmp_path / "vgg16.pth"
    torch.save({k: v for k, v in state.items() if k.startswith("features.")}, path)
    loss = perceptual_loss_or_none(str(path))
    x = torch.rand(1, 16, 16, 3)
    assert float(loss(x, x)) == 0.0 and float(loss(x, 1 - x)) > 0
    with pytest.raises(InputError, match="no such VGG16"):
        perceptual_loss_or_none(str(tmp_path / "typo.pth"))
    torch.save({"features.0.weight": torch.zeros(3)}, tmp_path / "bad.pth")
    with pytest.raises(InputError, match="not VGG16"):
        perceptual_loss_or_none(str(tmp_path / "bad.pth"))


def test_predictor_needs_an_rgb_pipeline_input():
    stages = [{"type": "demosaic_bilinear", "params": {"pattern": "rggb"}}, *FOUR_STAGES]
    with pytest.raises((SpecError, InputError), match="must be RGB"):
        Pipeline.from_dict(
            {
                "name": "r",
                "input": "raw_mosaic",
                "predictor": {"type": "pqdynamic"},
                "stage": stages,
            }
        )
