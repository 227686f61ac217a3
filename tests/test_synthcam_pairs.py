"""Two-camera SynthCam (``synthcam pairs``): deterministic, pixel-aligned pairs, disjoint
unpaired scenes, read back by ``open_pairs``, and one-line errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ispengine import InputError
from ispengine.cli import main
from ispengine.learning.datasets import SynthCamDataset, open_dataset
from ispengine.synthcam import CameraPairs, generate_pairs, open_pairs
from ispengine.synthcam.cameras import get_camera
from ispengine.synthcam.scenes import make_scene

SIZE = (24, 32)
SEED = 5
CAMERAS = ("nikon_5100", "sigma_sdmerrill")
UNPAIRED, ANCHORS, TEST = 2, 1, 2


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _manifest(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("pairs")
    generate_pairs(root, CAMERAS, UNPAIRED, ANCHORS, TEST, SIZE, SEED, progress=False)
    return root


def test_same_seed_gives_byte_identical_files_also_in_place(folder, tmp_path):
    manifest = generate_pairs(
        tmp_path, CAMERAS, UNPAIRED, ANCHORS, TEST, SIZE, SEED, progress=False
    )
    assert _files(tmp_path) == _files(folder)
    assert len(_files(folder)) == 1 + len(CAMERAS) * (1 + 4 * (UNPAIRED + ANCHORS + TEST))
    again = generate_pairs(tmp_path, CAMERAS, UNPAIRED, ANCHORS, TEST, SIZE, SEED, progress=False)
    assert again == manifest
    assert _files(tmp_path) == _files(folder)


def test_a_different_seed_differs(folder, tmp_path):
    generate_pairs(tmp_path, CAMERAS, 1, 0, 1, SIZE, SEED + 1, progress=False)
    raw = "nikon_5100/raw/000000.dng"
    assert (tmp_path / raw).read_bytes() != (folder / raw).read_bytes()


def test_manifests_lay_out_the_indices_and_splits(folder):
    manifest = _manifest(folder / "manifest.json")
    assert manifest == {
        "format": "synthcam-pairs",
        "version": 1,
        "seed": SEED,
        "size": list(SIZE),
        "cameras": list(CAMERAS),
        "kinds": ["spectral"],
        "unpaired": {"nikon_5100": ["000000", "000001"], "sigma_sdmerrill": ["000002", "000003"]},
        "anchor": ["000004"],
        "test": ["000005", "000006"],
    }
    for camera in CAMERAS:
        dataset = open_dataset(folder / camera)
        assert isinstance(dataset, SynthCamDataset)
        assert dataset.manifest["cameras"] == [camera]
        assert dataset.split("train").ids == manifest["unpaired"][camera]
        assert dataset.split("val").ids == manifest["anchor"]
        assert dataset.split("test").ids == manifest["test"]
        assert {entry["scene"]["kind"] for entry in dataset.manifest["samples"]} == {"spectral"}


def test_unpaired_scenes_are_disjoint_between_cameras(folder):
    indices = {
        camera: {
            entry["index"]
            for entry in _manifest(folder / camera / "manifest.json")["samples"]
            if entry["split"] == "train"
        }
        for camera in CAMERAS
    }
    first, second = indices.values()
    assert len(first) == len(second) == UNPAIRED and not first & second
    paired = {int(i) for i in _manifest(folder / "manifest.json")["test"]}
    assert not (first | second) & paired


def test_paired_samples_are_the_same_scene_in_each_camera(folder):
    entries = [
        {e["id"]: e for e in _manifest(folder / camera / "manifest.json")["samples"]}
        for camera in CAMERAS
    ]
    pairs = open_pairs(folder)
    paired = [*pairs.anchor_pairs(*CAMERAS), *pairs.test_pairs(*CAMERAS)]
    assert len(paired) == ANCHORS + TEST
    for a, b in paired:
        assert a.id == b.id
        assert entries[0][a.id]["scene"] == entries[1][b.id]["scene"]
        assert (a.raw.cfa_pattern, b.raw.cfa_pattern) == ("rggb", "bggr")
        assert a.raw.shape == b.raw.shape == SIZE
        assert not np.array_equal(a.raw.mosaic, b.raw.mosaic)
        # The ground truth, on each RAW's scale: one exposure factor apart, up to each
        # sensor's slightly different vignetting and blur (pixel-aligned).
        truth_a, truth_b = a.ground_truth["linear_srgb"], b.ground_truth["linear_srgb"]
        ratio = truth_a[truth_b > 1e-3] / truth_b[truth_b > 1e-3]
        assert np.std(ratio) < 0.01 * np.mean(ratio)


def _scenes(kind: str, index: int) -> list:
    stream = np.random.SeedSequence([SEED, index]).spawn(4)[0]
    return [make_scene(kind, np.random.default_rng(stream), get_camera(c), SIZE) for c in CAMERAS]


def _matrix_residual(a: np.ndarray, b: np.ndarray) -> float:
    """Largest error of the best 3x3 from camera RGB ``a`` to ``b``, over ``max(b)``."""
    source, target = a.reshape(-1, 3), b.reshape(-1, 3)
    matrix, *_ = np.linalg.lstsq(source, target, rcond=None)
    return float(np.abs(source @ matrix - target).max() / target.max())


def test_scenes_do_not_depend_on_the_camera_and_only_natural_ones_are_a_3x3_apart():
    for index in range(4):
        natural = _scenes("natural", index)
        spectral = _scenes("spectral", index)
        for first, second in (natural, spectral):
            assert np.array_equal(first.linear_srgb, second.linear_srgb)
            assert first.info == second.info
            assert not np.allclose(first.camera_rgb, second.camera_rgb)
        assert _matrix_residual(natural[0].camera_rgb, natural[1].camera_rgb) < 5e-4
        assert _matrix_residual(spectral[0].camera_rgb, spectral[1].camera_rgb) > 1e-3


def test_kinds_alternate_by_index(tmp_path):
    generate_pairs(
        tmp_path, CAMERAS, 1, 0, 1, SIZE, SEED, kinds=("spectral", "natural"), progress=False
    )
    for camera in CAMERAS:
        samples = _manifest(tmp_path / camera / "manifest.json")["samples"]
        assert {s["index"]: s["scene"]["kind"] for s in samples} == {
            index: ("spectral", "natural")[index % 2] for index in (CAMERAS.index(camera), 2)
        }


def test_open_pairs_reads_the_folder(folder):
    pairs = open_pairs(folder)
    assert isinstance(pairs, CameraPairs)
    assert pairs.cameras == CAMERAS
    assert pairs.root == folder
    assert len(pairs.dataset("nikon_5100")) == UNPAIRED + ANCHORS + TEST
    assert pairs.unpaired("sigma_sdmerrill").ids == ["000002", "000003"]
    anchors = pairs.anchor_pairs("sigma_sdmerrill", "nikon_5100")
    assert anchors.ids == ("000004",)
    (b, a) = anchors[0]
    assert (b.raw.cfa_pattern, a.raw.cfa_pattern) == ("bggr", "rggb")
    test = pairs.test_pairs(*CAMERAS)
    assert len(test) == TEST and test[:1].ids == ("000005",)
    assert [a.id for a, _ in test] == ["000005", "000006"]


def test_open_pairs_errors_are_one_line(folder, tmp_path):
    with pytest.raises(InputError, match="no manifest.json"):
        open_pairs(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "synthcam"}))
    with pytest.raises(InputError, match="not a SynthCam pairs manifest"):
        open_pairs(tmp_path)
    pairs = open_pairs(folder)
    with pytest.raises(InputError, match="no camera 'canon_5d'"):
        pairs.unpaired("canon_5d")
    with pytest.raises(InputError, match="two different cameras"):
        pairs.test_pairs("nikon_5100", "nikon_5100")


def test_missing_files_and_mismatched_pairs_are_refused(folder, tmp_path):
    from ispengine.io.raw.dng import write_dng
    from ispengine.synthcam import make_sample

    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    larger = make_sample(SEED, 5, (SIZE[0], SIZE[1] + 2), "sigma_sdmerrill", "spectral")
    write_dng(copy / "sigma_sdmerrill/raw/000005.dng", larger.raw)
    test = open_pairs(copy).test_pairs(*CAMERAS)
    with pytest.raises(InputError, match="mismatched pair 000005: .* 24x32, .* 24x34"):
        test[0]
    assert test[1][0].id == "000006"
    (copy / "sigma_sdmerrill/gt/000006_linear_srgb.npy").unlink()
    with pytest.raises(InputError, match="000006_linear_srgb.npy: missing"):
        open_pairs(copy)
    camera_manifest = copy / "nikon_5100/manifest.json"
    camera_manifest.write_text(json.dumps({**_manifest(camera_manifest), "size": [24, 34]}))
    with pytest.raises(InputError, match="mismatched pairs"):
        open_pairs(copy)
    shutil.rmtree(copy / "nikon_5100")
    with pytest.raises(InputError, match="nikon_5100: missing"):
        open_pairs(copy)


def test_refuses_to_write_into_another_dataset(tmp_path):
    other = {"format": "synthcam", "samples": []}
    (tmp_path / "manifest.json").write_text(json.dumps(other))
    with pytest.raises(InputError, match="another dataset .*'synthcam'"):
        generate_pairs(tmp_path, CAMERAS, 1, 0, 1, SIZE, SEED, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json"]
    inner = tmp_path / "inner"
    (inner / "nikon_5100").mkdir(parents=True)
    (inner / "nikon_5100/manifest.json").write_text(json.dumps(other))
    with pytest.raises(InputError, match="not part of a SynthCam pairs folder"):
        generate_pairs(inner, CAMERAS, 1, 0, 1, SIZE, SEED, progress=False)
    assert not (inner / "manifest.json").exists()


def test_an_earlier_pairs_folder_is_regenerated_in_place(tmp_path):
    generate_pairs(tmp_path, CAMERAS, 1, 0, 1, SIZE, SEED, progress=False)
    cameras = ("nikon_5100", "synthcam_compact")
    generate_pairs(tmp_path, cameras, 2, 1, 1, SIZE, SEED + 1, progress=False)
    pairs = open_pairs(tmp_path)
    assert pairs.cameras == cameras and pairs.manifest["seed"] == SEED + 1
    assert pairs.unpaired("synthcam_compact").ids == ["000002", "000003"]
    assert [a.id for a, _ in pairs.test_pairs(*cameras)] == ["000005"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"cameras": ["nikon_5100"]}, "at least two different cameras"),
        ({"cameras": ["nikon_5100", "nikon_5100"]}, "each camera once"),
        ({"cameras": ["nikon_5100", "canon_5d"]}, "unknown SynthCam camera 'canon_5d'"),
        ({"unpaired": 0}, "unpaired: need at least 1"),
        ({"anchors": -1}, "anchors: need at least 0"),
        ({"test": 0}, "test: need at least 1"),
        ({"size": (25, 32)}, "even"),
        ({"size": (16, 32)}, "at least 22"),
        ({"kinds": ()}, "kinds"),
        ({"kinds": ("spectral", "cartoon")}, "kinds"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_arguments_are_clear_errors(tmp_path, changes, message):
    arguments = {
        "cameras": list(CAMERAS),
        "unpaired": 1,
        "anchors": 0,
        "test": 1,
        "size": SIZE,
        "seed": SEED,
        "kinds": ("spectral",),
    }
    with pytest.raises(InputError, match=message):
        generate_pairs(tmp_path / "out", **{**arguments, **changes}, progress=False)
    assert not (tmp_path / "out").exists()


def _cli(out: Path, *extra: str) -> list[str]:
    return [
        "synthcam",
        "pairs",
        "--out",
        str(out),
        "--unpaired",
        "1",
        "--test",
        "1",
        "--size",
        "24x32",
        "--executor",
        "serial",
        "--quiet",
        *extra,
    ]


def test_cli_writes_a_pairs_folder(tmp_path, capsys):
    out = tmp_path / "pairs"
    arguments = _cli(out, "--cameras", "nikon_5100,synthcam_phone", "--anchors", "1")
    assert main([*arguments, "--seed", "2", "--kinds", "spectral,natural"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1 and printed[0].startswith("SynthCam pairs: cameras nikon_5100")
    pairs = open_pairs(out)
    assert pairs.manifest["kinds"] == ["spectral", "natural"]
    assert pairs.manifest["seed"] == 2
    ((a, b),) = pairs.anchor_pairs(*pairs.cameras)
    assert (a.raw.cfa_pattern, b.raw.cfa_pattern) == ("rggb", "grbg")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--cameras", "nikon_5100,nokia"), "nokia"),
        (("--cameras", "nikon_5100"), "two different cameras"),
        (("--cameras", "nikon_5100,sigma_sdmerrill", "--size", "30x33"), "even"),
    ],
)
def test_cli_errors_are_one_line_with_status_2(tmp_path, capsys, extra, message):
    out = tmp_path / "pairs"
    assert main(_cli(out, *extra)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ispengine: error:") and message in err[0]
    assert not out.exists()
