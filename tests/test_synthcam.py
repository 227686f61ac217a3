"""SynthCam: determinism, files and metadata, physics of the capture, the hidden ISP."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ispengine import InputError
from ispengine.io.raw import CaptureParams, camera_to_srgb_from_xyz
from ispengine.synthcam import CAMERAS, DEFAULT_CAMERAS, generate_dataset, make_sample
from ispengine.synthcam.camera_isp import isp_parameters, run_isp
from ispengine.synthcam.cameras import get_camera
from ispengine.synthcam.capture import CaptureDraw, simulate_raw
from ispengine.synthcam.generate import SPLITS, capture_time, split_of
from ispengine.synthcam.scenes import Scene, make_scene

SIZE = (32, 48)
SEED = 11
N = 4


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthcam")
    manifest = generate_dataset(root, N, SIZE, SEED, progress=False)
    return root, manifest


def test_same_seed_gives_byte_identical_files(dataset, tmp_path):
    root, _ = dataset
    generate_dataset(tmp_path, N, SIZE, SEED, progress=False)
    first, second = _files(root), _files(tmp_path)
    assert sorted(first) == sorted(second)
    assert len(first) == 1 + 4 * N
    for name, content in first.items():
        assert second[name] == content, name


def test_executor_gives_the_same_files(dataset, tmp_path):
    executors = pytest.importorskip("ispengine.io.executors")
    root, _ = dataset
    with executors.make_executor("serial") as executor:
        generate_dataset(tmp_path, N, SIZE, SEED, executor=executor, progress=False)
    assert _files(tmp_path) == _files(root)


def test_different_seeds_differ():
    a = make_sample(1, 0, SIZE, "nikon_5100")
    b = make_sample(2, 0, SIZE, "nikon_5100")
    assert not np.array_equal(a.raw.mosaic, b.raw.mosaic)
    assert not np.array_equal(a.srgb, b.srgb)
    assert a.raw.capture != b.raw.capture or a.scene != b.scene


def test_manifest_format(dataset):
    root, manifest = dataset
    text = (root / "manifest.json").read_text()
    assert json.loads(text) == manifest
    assert text == json.dumps(manifest, sort_keys=True, indent=2) + "\n"
    assert str(root) not in text
    assert manifest["format"] == "synthcam" and manifest["version"] == 1
    assert manifest["seed"] == SEED and manifest["size"] == list(SIZE)
    assert manifest["cameras"] == list(DEFAULT_CAMERAS)
    ids = [s["id"] for s in manifest["samples"]]
    assert ids == [f"{i:06d}" for i in range(N)]
    splits = manifest["splits"]
    assert set(splits) == set(SPLITS)
    assert all(splits[name] for name in SPLITS)
    assert sorted(sum(splits.values(), [])) == ids  # disjoint and complete
    for index, sample in enumerate(manifest["samples"]):
        assert sample["camera"] == DEFAULT_CAMERAS[index % len(DEFAULT_CAMERAS)]
        assert sample["split"] == split_of(index) and sample["id"] in splits[sample["split"]]
        assert sample["scene"]["kind"] == ("natural", "spectral")[(index // 2) % 2]
        capture = sample["capture"]
        assert set(capture) == {
            "iso",
            "exposure_time",
            "f_number",
            "focal_length",
            "make",
            "model",
            "datetime",
        }
        assert capture["datetime"] == capture_time(sample["index"]).strftime("%Y:%m:%d %H:%M:%S")
        assert all(capture[key] > 0 for key in ("iso", "exposure_time", "f_number", "focal_length"))
        assert 100 <= capture["iso"] <= 6400
        raw = sample["raw"]
        assert {"cfa_pattern", "black_level", "white_level", "wb_gains", "xyz_to_camera"} <= set(
            raw
        )
        assert len(raw["black_level"]) == 4 and len(raw["wb_gains"]) == 3
        assert np.shape(raw["xyz_to_camera"]) == (3, 3)
        types = [stage["type"] for stage in sample["isp"]["stages"]]
        assert types[:3] == ["black_level", "mosaic_white_balance", "demosaic_malvar"]
        for wanted in (
            "local_wiener_denoise",
            "chroma_denoise",
            "camera_to_srgb",
            "local_tone_map",
            "tone_curve",
            "srgb_oetf",
            "unsharp_mask",
        ):
            assert wanted in types
        assert types[-1] == "quantize"
        assert {"ev100", "exposure_error_ev", "blur_sigma_px", "noise_profile"} <= set(
            sample["simulation"]
        )
        for relative in sample["files"].values():
            assert not relative.startswith("/") and (root / relative).is_file()


def test_files_hold_the_sample(dataset):
    import rawpy

    from ispengine.io.image_files import read_capture, read_image
    from ispengine.io.raw.reader import read_raw

    root, manifest = dataset
    for entry in manifest["samples"]:
        sample = make_sample(SEED, entry["index"], SIZE, entry["camera"])
        files = {k: root / v for k, v in entry["files"].items()}
        with rawpy.imread(str(files["raw"])) as raw:
            np.testing.assert_array_equal(raw.raw_image_visible, sample.raw.mosaic)
            assert raw.white_level == sample.raw.white_level
            assert list(raw.black_level_per_channel) == [int(v) for v in sample.raw.black_level]
            np.testing.assert_allclose(
                raw.color_matrix[:, :3], sample.raw.camera_to_srgb, rtol=1e-5, atol=1e-5
            )
        back = read_raw(files["raw"])
        assert back.cfa_pattern == sample.raw.cfa_pattern == entry["raw"]["cfa_pattern"]
        np.testing.assert_allclose(back.wb_gains, sample.raw.wb_gains, rtol=1e-5)
        np.testing.assert_allclose(back.xyz_to_camera, sample.raw.xyz_to_camera, atol=1e-5)
        expected = sample.raw.capture
        for name in ("iso", "exposure_time", "f_number", "focal_length"):
            assert getattr(back.capture, name) == pytest.approx(getattr(expected, name), rel=1e-4)
        assert (back.capture.make, back.capture.model) == (expected.make, expected.model)
        srgb = read_image(files["srgb"])
        np.testing.assert_array_equal(np.round(srgb * 255), np.round(sample.srgb * 255))
        png_capture = read_capture(files["srgb"])
        assert png_capture.iso == pytest.approx(expected.iso)
        assert png_capture.model == expected.model
        for name in ("camera_rgb", "linear_srgb"):
            stored = np.load(files[name])
            assert stored.dtype == np.float32 and stored.shape == SIZE + (3,)
            np.testing.assert_array_equal(stored, getattr(sample, name))


def _exposed_draw(iso: float) -> CaptureDraw:
    base = dict(
        exposure_time=1 / 100,
        f_number=8.0,
        focal_length=200.0,
        metering_error=0.0,
        focus_distance=5.0,
        focus_error=0.0,
    )
    ev_set = np.log2(8.0**2 * 100) - np.log2(iso / 100)
    return CaptureDraw(iso=iso, ev100=float(ev_set), **base)


@pytest.mark.parametrize("camera_name", CAMERAS)
def test_higher_iso_gives_a_noisier_raw(camera_name):
    camera = get_camera(camera_name)
    scene = Scene(np.full((64, 64, 3), 0.2), np.full((64, 64, 3), 0.2), np.ones(3), {})
    measured = {}
    for iso in (100.0, 6400.0):
        draw = _exposed_draw(iso)
        assert draw.exposure_error == pytest.approx(0.0)
        capture = simulate_raw(scene, camera, draw, np.random.default_rng(0))
        green = capture.raw.mosaic[0::2, 1::2].astype(np.float64)
        normalised = (green - camera.black_level) / camera.dn_range
        level = capture.camera_rgb[0::2, 1::2, 1]
        # the flat patch: away from the vignetted corners
        centre = (slice(8, -8), slice(8, -8))
        measured[iso] = float(np.var(normalised[centre] - level[centre]))
        scale, offset = camera.noise_profile(iso)
        predicted = scale * float(level[centre].mean()) + offset + 1 / (12 * camera.dn_range**2)
        assert measured[iso] == pytest.approx(predicted, rel=0.2)
    assert measured[6400.0] > 20 * measured[100.0]


def test_cameras_have_different_colour_spaces():
    nikon, sigma = (get_camera(name) for name in ("nikon_5100", "sigma_sdmerrill"))
    a, b = nikon.xyz_to_camera, sigma.xyz_to_camera
    assert np.linalg.norm(a - b) / np.linalg.norm(a) > 0.3
    assert nikon.cfa_pattern != sigma.cfa_pattern
    assert nikon.white_level != sigma.white_level
    from ispengine.synthcam import spectra

    d65 = spectra.illuminant("D65")
    white = spectra.xyz_of(np.ones(spectra.WAVELENGTHS.size), d65)
    for camera in (nikon, sigma):
        response = camera.xyz_to_camera @ white
        assert response.max() == pytest.approx(1.0)  # DNG ColorMatrix convention
        # the fit reproduces the ColorChecker's camera responses under D65 to a few percent
        patches = spectra.reflectance_set("colorchecker_ohta")
        d65n = d65 / (d65 @ spectra.cmfs()[:, 1])
        camera_rgb = (patches * d65n) @ camera.spectral_response
        fitted = spectra.xyz_of(patches, d65) @ camera.xyz_to_camera.T
        assert np.abs(fitted - camera_rgb).mean() < 0.05 * camera_rgb.mean()
    # the Foveon-like Sigma needs a much stronger colour matrix
    assert np.abs(camera_to_srgb_from_xyz(b)).max() > 2 * np.abs(camera_to_srgb_from_xyz(a)).max()


@pytest.mark.parametrize("kind", ["natural", "spectral"])
def test_ground_truth_matches_an_ideal_isp_under_d65(kind):
    camera = get_camera("nikon_5100")
    for seed in range(60):
        scene = make_scene(kind, np.random.default_rng(seed), camera, (48, 64))
        lights = scene.info.get("illuminants", [scene.info.get("illuminant")])
        if lights != ["D65"]:
            continue
        matrix = camera_to_srgb_from_xyz(camera.xyz_to_camera)
        developed = (scene.camera_rgb / scene.illuminant_white) @ matrix.T
        error = np.abs(developed - scene.linear_srgb).mean() / scene.linear_srgb.mean()
        assert error < (0.01 if kind == "natural" else 0.03)
        return
    pytest.fail("no D65 scene among the seeds")


def test_highlights_clip_in_the_raw(dataset):
    _, manifest = dataset
    assert any(s["simulation"]["saturated_fraction"] > 0 for s in manifest["samples"])
    assert all(s["scene"]["highlights"] for s in manifest["samples"])


def test_isp_follows_the_capture_parameters():
    sample = make_sample(5, 0, SIZE, "nikon_5100")
    camera = get_camera("nikon_5100")

    def params(**capture):
        raw = sample.raw.evolve(
            capture=CaptureParams(**{**sample.raw.capture.as_dict(), **capture})
        )
        values = isp_parameters(raw, camera, np.random.default_rng(0))
        return {s["type"]: s["params"] for s in values["stages"]}

    low, high = params(iso=100.0), params(iso=6400.0)
    assert high["local_wiener_denoise"]["strength"] > low["local_wiener_denoise"]["strength"]
    assert np.all(
        np.greater(
            high["local_wiener_denoise"]["noise_scale"], low["local_wiener_denoise"]["noise_scale"]
        )
    )
    assert high["chroma_denoise"]["sigma"] > low["chroma_denoise"]["sigma"]
    assert high["unsharp_mask"]["amount"] < low["unsharp_mask"]["amount"]
    dark = params(iso=100.0, exposure_time=1.0, f_number=1.4)
    bright = params(iso=100.0, exposure_time=1 / 4000, f_number=11.0)
    assert bright["tone_curve"]["contrast"] > dark["tone_curve"]["contrast"]
    assert bright["local_tone_map"]["strength"] > dark["local_tone_map"]["strength"]


def test_isp_is_deterministic_and_8_bit(dataset):
    _, manifest = dataset
    entry = manifest["samples"][1]
    sample = make_sample(SEED, 1, SIZE, entry["camera"])
    again = run_isp(sample.raw, entry["isp"])
    np.testing.assert_array_equal(again, sample.srgb)
    codes = sample.srgb.astype(np.float64) * 255
    assert np.abs(codes - np.round(codes)).max() < 1e-3
    assert codes.min() >= 0 and codes.max() <= 255
    factors = [
        np.array(s["params"]["matrix"])
        for s in entry["isp"]["stages"]
        if s["type"] == "camera_to_srgb"
    ]
    product = factors[0] if len(factors) == 1 else factors[1] @ factors[0]
    np.testing.assert_allclose(product, sample.raw.camera_to_srgb, atol=1e-9)


def test_isp_parameters_are_a_pipeline_spec(dataset):
    from ispengine import Pipeline

    _, manifest = dataset
    for entry in manifest["samples"][:1]:
        sample = make_sample(SEED, entry["index"], SIZE, entry["camera"])
        spec = {"input": "raw_mosaic", "output": "srgb", "stage": entry["isp"]["stages"]}
        developed = Pipeline.from_dict(spec)(sample.raw.mosaic.astype(np.float32))
        np.testing.assert_array_equal(developed, sample.srgb)


def test_strong_colour_matrices_are_split_into_square_roots():
    from ispengine.synthcam.camera_isp import _matrix_factors

    root = np.array([[3.0, -1.5, -0.5], [-1.0, 3.2, -1.2], [0.2, -1.8, 2.6]])
    strong = root @ root
    assert np.abs(strong).max() > 8
    factors = _matrix_factors(strong)
    assert len(factors) == 2
    np.testing.assert_allclose(factors[1] @ factors[0], strong, atol=1e-9)
    assert len(_matrix_factors(np.eye(3))) == 1


def test_the_isp_is_its_shipped_spec_filled_in():
    from ispengine import Pipeline
    from ispengine.synthcam.camera_isp import SPEC_PATH, isp_spec

    assert Pipeline.from_toml(SPEC_PATH).labels == tuple(e.label for e in isp_spec().stages)
    sample = make_sample(SEED, 0, SIZE, "nikon_5100")
    stages = isp_parameters(sample.raw, get_camera("nikon_5100"), np.random.default_rng(0))
    assert [s["type"] for s in stages["stages"]] == [e.type for e in isp_spec().stages]
    first = stages["stages"][0]["params"]
    assert first == {
        "black": list(sample.raw.black_level),
        "white": sample.raw.white_level,
        "pattern": sample.raw.cfa_pattern,
    }
    assert stages["stages"][-1]["params"] == {"bits": 8}


def test_fill_stages_repeats_a_stage_per_table_and_rejects_unknown_labels():
    from ispengine.synthcam.camera_isp import fill_stages, isp_spec

    metadata = make_sample(SEED, 0, SIZE, "nikon_5100").raw.metadata()
    root = np.eye(3) * 2.0
    stages = fill_stages(isp_spec(), metadata, {"camera_matrix": [{"matrix": root}] * 2})
    matrices = [s["params"]["matrix"] for s in stages if s["type"] == "camera_to_srgb"]
    assert matrices == [root.tolist(), root.tolist()]
    with pytest.raises(ValueError, match="no stage is labelled 'sharpening'"):
        fill_stages(isp_spec(), metadata, {"sharpening": {"amount": 1.0}})


def test_split_rule_is_80_10_10_and_independent_of_n():
    splits = [split_of(i) for i in range(2000)]
    assert splits[:3] == ["train", "val", "test"]
    counts = {name: splits.count(name) / len(splits) for name in SPLITS}
    assert counts["train"] == pytest.approx(0.8, abs=0.03)
    assert counts["val"] == pytest.approx(0.1, abs=0.02)
    assert counts["test"] == pytest.approx(0.1, abs=0.02)


def test_bad_arguments_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match="unknown SynthCam camera"):
        make_sample(0, 0, SIZE, "canon_5d")
    with pytest.raises(InputError, match="even"):
        make_sample(0, 0, (31, 48), "nikon_5100")
    with pytest.raises(InputError, match="cameras"):
        generate_dataset(tmp_path, 2, SIZE, 0, cameras=[], progress=False)
    with pytest.raises(InputError, match="at least one sample"):
        generate_dataset(tmp_path, 0, SIZE, 0, progress=False)


def test_importing_synthcam_stays_light():
    import subprocess
    import sys

    code = (
        "import sys, ispengine.synthcam; "
        "print(sorted(m for m in ('colour', 'skimage', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
