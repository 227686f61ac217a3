"""SynthCam's cameras: each works, they differ physically, the measured two are unchanged."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest

from ispengine.cli import main
from ispengine.io.raw import camera_to_srgb_from_xyz
from ispengine.synthcam import CAMERAS, DEFAULT_CAMERAS, generate_dataset, make_sample, spectra
from ispengine.synthcam.cameras import (
    CAMERA_LIST,
    Camera,
    Lobe,
    MeasuredSensitivity,
    ParametricSensitivity,
    get_camera,
)
from ispengine.synthcam.capture import (
    F_NUMBERS,
    CaptureDraw,
    draw_capture,
    relative_illumination,
)

SIZE = (24, 32)
FULL_FRAME_DIAGONAL = math.hypot(36.0, 24.0)

# sha256 of the uint16 mosaic and the 8-bit sRGB codes of make_sample(3, index, (32, 48), camera),
# computed before the parametric cameras were added: the measured cameras must stay bit-identical.
REFERENCE_HASHES = {
    ("nikon_5100", 0): "dbf6f4e758e870d346a7a24b884abd22ef68c52e3a55f217b3ab2896dd3b2d12",
    ("nikon_5100", 2): "0766fd7415df298ccae12e7c69517b1782869e5228af5955d58771d10e761627",
    ("sigma_sdmerrill", 0): "6266ed1120aa8d3bc7b41a145d8fd0867ab36233b667036da3cb222e09734097",
    ("sigma_sdmerrill", 2): "0025cb854c1a04285c90805f51a5a17730cc705a1c078c91086a524058f31177",
}


def _d65_white() -> tuple[np.ndarray, np.ndarray]:
    d65 = spectra.illuminant("D65")
    d65_unit = d65 / (d65 @ spectra.cmfs()[:, 1])
    return d65_unit, spectra.xyz_of(np.ones(spectra.WAVELENGTHS.size), d65)


@pytest.mark.parametrize(("camera_name", "index"), sorted(REFERENCE_HASHES))
def test_measured_cameras_are_unchanged(camera_name, index):
    sample = make_sample(3, index, (32, 48), camera_name)
    digest = hashlib.sha256(sample.raw.mosaic.astype("<u2").tobytes())
    digest.update(np.rint(sample.srgb * 255).astype(np.uint8).tobytes())
    assert digest.hexdigest() == REFERENCE_HASHES[camera_name, index]


def test_there_are_five_cameras_and_the_default_is_the_measured_two():
    assert len(CAMERAS) >= 5
    assert DEFAULT_CAMERAS == ("nikon_5100", "sigma_sdmerrill")
    for name in DEFAULT_CAMERAS:
        assert isinstance(get_camera(name).sensitivities, MeasuredSensitivity)
    parametric = [c for c in CAMERA_LIST if isinstance(c.sensitivities, ParametricSensitivity)]
    assert len(parametric) >= 3
    assert all(c.make == "SynthCam" for c in CAMERA_LIST)
    assert len({c.model for c in CAMERA_LIST}) == len(CAMERA_LIST)


@pytest.mark.parametrize("camera_name", CAMERAS)
def test_every_camera_generates_a_sample(camera_name):
    camera = get_camera(camera_name)
    sample = make_sample(0, 1, SIZE, camera_name)
    raw = sample.raw
    assert raw.cfa_pattern == camera.cfa_pattern
    assert raw.white_level == camera.white_level
    assert raw.mosaic.dtype == np.uint16 and raw.mosaic.shape == SIZE
    assert raw.mosaic.max() <= camera.white_level
    assert raw.capture.model == camera.model and raw.capture.make == "SynthCam"
    low, high = camera.optics.focal_range
    assert low <= raw.capture.focal_length <= high
    assert camera.optics.aperture_range[0] <= raw.capture.f_number
    assert raw.capture.f_number <= camera.optics.aperture_range[1]
    assert sample.srgb.shape == SIZE + (3,) and np.all(np.isfinite(sample.srgb))
    assert sample.srgb.min() >= 0.0 and sample.srgb.max() <= 1.0
    assert sample.srgb.std() > 0.01


def test_patterns_bit_depths_and_levels_differ():
    assert {c.cfa_pattern for c in CAMERA_LIST} == {"rggb", "bggr", "grbg", "gbrg"}
    assert {c.bit_depth for c in CAMERA_LIST} >= {10, 12, 14}
    assert len({(c.cfa_pattern, c.white_level) for c in CAMERA_LIST}) == len(CAMERA_LIST)
    assert len({c.black_level for c in CAMERA_LIST}) == len(CAMERA_LIST)
    assert len({c.noise for c in CAMERA_LIST}) == len(CAMERA_LIST)
    for camera in CAMERA_LIST:
        assert camera.white_level == 2**camera.bit_depth - 1
        assert 0 < camera.black_level < camera.white_level / 8


@pytest.mark.parametrize("camera_name", CAMERAS)
def test_colour_matrix_is_well_conditioned_and_white_preserving(camera_name):
    camera = get_camera(camera_name)
    d65, white_xyz = _d65_white()
    response = camera.spectral_response
    np.testing.assert_allclose(camera.xyz_to_camera @ white_xyz, d65 @ response, atol=1e-12)
    assert (camera.xyz_to_camera @ white_xyz).max() == pytest.approx(1.0)
    to_srgb = camera_to_srgb_from_xyz(camera.xyz_to_camera)
    assert np.linalg.cond(to_srgb) < 20  # the camera_to_srgb stage's declared bound
    np.testing.assert_allclose(to_srgb @ np.ones(3), np.ones(3), atol=1e-9)
    patches = spectra.reflectance_set("colorchecker_ohta")
    fitted = spectra.xyz_of(patches, spectra.illuminant("D65")) @ camera.xyz_to_camera.T
    camera_rgb = (patches * d65) @ response
    assert np.abs(fitted - camera_rgb).mean() < 0.06 * camera_rgb.mean()


def test_colour_matrices_differ_between_cameras():
    matrices = {c.name: c.xyz_to_camera for c in CAMERA_LIST}
    names = list(matrices)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            difference = np.linalg.norm(matrices[a] - matrices[b]) / np.linalg.norm(matrices[a])
            assert difference > 0.05, (a, b)


@pytest.mark.parametrize("camera_name", CAMERAS)
def test_sensitivities_are_non_negative_with_three_distinct_peaks(camera_name):
    camera = get_camera(camera_name)
    curves = camera.spectral_response
    assert curves.shape == (spectra.WAVELENGTHS.size, 3)
    assert np.all(curves >= 0) and np.all(curves.max(axis=0) > 0)
    if isinstance(camera.sensitivities, ParametricSensitivity):
        assert np.all(curves > 0)
    peaks = spectra.WAVELENGTHS[np.argmax(curves, axis=0)]
    assert peaks[2] < peaks[1] < peaks[0]  # blue, green, red


def test_parametric_cameras_are_spectrally_different():
    phone, compact, narrow = (
        get_camera(n) for n in ("synthcam_phone", "synthcam_compact", "synthcam_narrowband")
    )

    def width(camera: Camera, channel: int) -> float:
        curve = camera.spectral_response[:, channel]
        return float(np.sum(curve > curve.max() / 2) * 10.0)  # nm above half maximum

    assert width(narrow, 1) < width(compact, 1) < width(phone, 1)
    # the phone's weak IR cut: its red is still high at 700 nm, the narrow-band one's is not
    red_end = [
        c.spectral_response[-1, 0] / c.spectral_response[:, 0].max() for c in (phone, narrow)
    ]
    assert red_end[0] > 0.4 > 0.01 > red_end[1]


def test_string_sensitivities_mean_a_colour_science_key():
    camera = get_camera("nikon_5100")
    assert camera.sensitivities == MeasuredSensitivity("Nikon 5100 (NPL)")
    again = Camera(
        name="again",
        make="SynthCam",
        model="again",
        sensitivities="Nikon 5100 (NPL)",
        cfa_pattern="rggb",
        black_level=0,
        white_level=1023,
        noise=camera.noise,
        sensor_size=camera.sensor_size,
    )
    np.testing.assert_array_equal(again.xyz_to_camera, camera.xyz_to_camera)


def test_lobes_are_skewed_gaussians_and_validated():
    lobe = Lobe(550, 10, 40, 0.5)
    values = lobe(np.array([530.0, 550.0, 570.0]))
    assert values[1] == pytest.approx(0.5)
    assert values[0] < values[2]  # narrower below the peak
    with pytest.raises(ValueError, match="short must be positive"):
        Lobe(550, 0, 40)
    with pytest.raises(ValueError, match="at least one lobe"):
        ParametricSensitivity(red=(), green=(lobe,), blue=(lobe,))


@pytest.mark.parametrize("camera_name", CAMERAS)
def test_capture_parameters_vary_widely_and_focal_lengths_fit_the_sensor(camera_name):
    camera = get_camera(camera_name)
    draws = [draw_capture(np.random.default_rng(seed), camera.optics) for seed in range(60)]
    isos = [d.iso for d in draws]
    times = [d.exposure_time for d in draws]
    focals = [d.focal_length for d in draws]
    apertures = {d.f_number for d in draws}
    assert math.log2(max(isos) / min(isos)) >= 5
    assert math.log2(max(times) / min(times)) >= 8
    assert max(focals) / min(focals) >= 2.5
    low_n, high_n = camera.optics.aperture_range
    assert len(apertures) >= min(4, len([n for n in F_NUMBERS if low_n <= n <= high_n]))
    # 35 mm-equivalent focal lengths between an ultra-wide and a long tele
    crop = FULL_FRAME_DIAGONAL / math.hypot(*camera.sensor_size)
    low, high = camera.optics.focal_range
    assert 12 <= low * crop <= 35 and 70 <= high * crop <= 400


def test_small_sensors_vignette_more_at_the_wide_end():
    phone, full_frame = get_camera("synthcam_phone"), get_camera("synthcam_narrowband")

    def corner(camera: Camera) -> float:
        wide = CaptureDraw(
            iso=100.0,
            exposure_time=0.01,
            f_number=2.8,
            focal_length=camera.optics.focal_range[0],
            ev100=10.0,
            metering_error=0.0,
            focus_distance=5.0,
            focus_error=0.0,
        )
        return float(relative_illumination(wide, camera, 1.0))

    assert corner(phone) < corner(full_frame) - 0.1


def test_a_camera_can_be_held_out(tmp_path):
    held_out = "synthcam_compact"
    others = [name for name in CAMERAS if name != held_out]
    manifest = generate_dataset(tmp_path / "pretrain", 5, SIZE, 4, cameras=others, progress=False)
    assert manifest["cameras"] == others
    used = [s["camera"] for s in manifest["samples"]]
    assert held_out not in used and set(used) == set(others)
    target = generate_dataset(tmp_path / "target", 2, SIZE, 5, cameras=[held_out], progress=False)
    assert {s["camera"] for s in target["samples"]} == {held_out}
    assert {s["raw"]["cfa_pattern"] for s in target["samples"]} == {"gbrg"}


def test_cli_takes_comma_separated_cameras(tmp_path, capsys):
    args = ["synthcam", "generate", "--out", str(tmp_path), "--n", "3", "--size", "24x32"]
    args += ["--cameras", "synthcam_phone,synthcam_narrowband", "--camera", "nikon_5100"]
    assert main([*args, "--executor", "serial", "--quiet"]) == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["cameras"] == ["synthcam_phone", "synthcam_narrowband", "nikon_5100"]
    bad = ["synthcam", "generate", "--out", str(tmp_path / "x"), "--n", "1", "--quiet"]
    assert main([*bad, "--cameras", "nikon_5100,nope", "--executor", "serial"]) == 2
    err = capsys.readouterr().err
    assert err.count("ispengine: error:") == 1 and "unknown SynthCam camera 'nope'" in err
    assert "synthcam_phone" in err  # the message names the known ids


def test_cli_lists_the_cameras(capsys):
    assert main(["synthcam", "cameras"]) == 0
    out = capsys.readouterr().out
    for camera in CAMERA_LIST:
        assert camera.name in out and camera.cfa_pattern.upper() in out
