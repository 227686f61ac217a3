"""`ispengine bench srgb2raw` and `ispengine unprocess`: the head-to-head protocol end to end."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ispengine.bench.spec import load_spec, parse_spec
from ispengine.cli import main
from ispengine.core.errors import SpecError
from ispengine.io.image_files import write_image
from ispengine.io.raw import CaptureParams, RawImage
from ispengine.io.raw.dng import write_dng
from ispengine.io.raw.reader import read_raw

SPEC = Path(__file__).parents[1] / "benchmarks" / "srgb2raw_synthcam.toml"


def _quick_bench(spec, out, data=None, only=()):
    """``ispengine bench srgb2raw --quick`` on ``spec`` into ``out``; its exit code."""
    argv = ["bench", "srgb2raw", "--spec", str(spec), "--quick", "--out", str(out), "--quiet"]
    for label in only:
        argv += ["--only", label]
    if data is not None:
        argv += ["--data", str(data)]
    return main(argv)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    code = _quick_bench(SPEC, out)
    return code, out


def test_quick_mode_writes_table_json_and_figures(quick_run):
    code, out = quick_run
    assert code == 0
    document = json.loads((out / "results.json").read_text())
    labels = [m["label"] for m in document["methods"]]
    assert labels == [
        "UPI faithful",
        "UPI exact",
        "UPI exact (dataset bank)",
        "UPI exact (camera metadata)",
        "CycleISP small",
        "SemiISP (one-to-many)",
        "ParamISP (small)",
        "SSDNet (small)",
        "Invertible-ISP (small)",
    ]
    assert document["data"]["test"] == 2 and document["protocol"]["budget"]["steps"] == 5
    table = (out / "results.md").read_text()
    assert "(quick)" in table.splitlines()[0] and "they do not rank methods" in table
    for method in document["methods"]:
        assert method["error"] is None
        assert len(method["per_image"]) == 2
        for key in (
            "psnr",
            "ssim",
            "mae",
            "psnr_packed",
            "ssim_packed",
            "psnr_aim",
            "kl",
            "cycle_psnr",
        ):
            assert math.isfinite(method["mean"][key]), (method["label"], key)
        assert 5 < method["mean"]["psnr"] < 80
    upi, cycleisp = document["methods"][0], document["methods"][4]
    assert upi["mean"]["diversity"] > 0 and upi["parameters"] == 0
    assert "diversity" not in cycleisp["mean"]
    assert cycleisp["parameters"] > 0 and cycleisp["fit"]["steps"] == 5
    semiisp = document["methods"][5]
    assert semiisp["one_to_many"] and semiisp["mean"]["diversity"] > 0
    assert semiisp["parameters"] > 0 and semiisp["fit"]["steps"] == 5
    paramisp = document["methods"][6]
    assert not paramisp["one_to_many"] and paramisp["fit"]["steps"] == 5
    assert 50_000 < paramisp["parameters"] < 100_000  # the small configuration
    ssdnet = document["methods"][7]
    assert ssdnet["one_to_many"] and ssdnet["mean"]["diversity"] > 0
    assert ssdnet["parameters"] == 260_998 and ssdnet["fit"]["steps"] == 5
    invisp = document["methods"][8]
    assert invisp["parameters"] == 52_544 and invisp["fit"]["steps"] == 5
    table = (out / "results.md").read_text()
    assert "| UPI exact (dataset bank) |" in table and "no standalone forward ISP" in table
    for figure in ("psnr_bar.png", "error_maps.png"):
        with Image.open(out / figure) as image:
            assert image.size[0] > 300


def test_a_rerun_reproduces_every_quality_number(quick_run, tmp_path):
    _, out = quick_run
    first = json.loads((out / "results.json").read_text())
    # Reuses the generated data folder; only the UPI methods, to stay quick.
    data = out / "data"
    code = _quick_bench(SPEC, tmp_path, data, ["UPI faithful", "UPI exact"])
    assert code == 0
    again = json.loads((tmp_path / "results.json").read_text())
    for before, after in zip(first["methods"][:2], again["methods"], strict=True):
        for image_before, image_after in zip(before["per_image"], after["per_image"], strict=True):
            for key in ("psnr", "ssim", "kl", "cycle_psnr", "diversity"):
                assert image_before[key] == image_after[key]


def test_seed_replaces_the_protocol_seed_and_keeps_the_data(quick_run, tmp_path, capsys):
    _, out = quick_run
    first = json.loads((out / "results.json").read_text())
    argv = ["bench", "srgb2raw", "--spec", str(SPEC), "--quick", "--quiet", "--data"]
    argv += [str(out / "data"), "--only", "UPI faithful", "--out", str(tmp_path), "--seed", "7"]
    assert main(argv) == 0
    again = json.loads((tmp_path / "results.json").read_text())
    assert first["protocol"]["seed"] == 0
    assert again["protocol"]["seed"] == 7
    before, after = first["methods"][0], again["methods"][0]
    # The same test images, converted with other draws of UPI's random parameters.
    assert [i["id"] for i in before["per_image"]] == [i["id"] for i in after["per_image"]]
    assert [i["psnr"] for i in before["per_image"]] != [i["psnr"] for i in after["per_image"]]
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "srgb2raw", "--spec", str(SPEC), "--seed", "-1"])
    assert exit_info.value.code == 2
    assert "expected an integer >= 0, got '-1'" in capsys.readouterr().err


def _raw_folder(folder: Path) -> Path:
    """Six DNGs with LibRaw-rendered pairs and a fixed split (4 train, 2 test)."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    stems = [f"IMG_{i}" for i in range(6)]
    for index, stem in enumerate(stems):
        smooth = rng.uniform(0.1, 0.6, size=(3, 1, 1)) * np.ones((3, 32, 48))
        mosaic = (512 + smooth[index % 3] * 15000).astype(np.uint16)
        raw = RawImage(
            mosaic,
            "bggr",
            512,
            16383,
            [2.0, 1.0, 1.6],
            xyz_to_camera=[[0.8, -0.2, -0.1], [-0.3, 1.1, 0.2], [-0.1, 0.2, 0.6]],
            capture=CaptureParams(iso=200),
        )
        write_dng(folder / f"{stem}.dng", raw)
    (folder / "splits.json").write_text(
        json.dumps({"train": stems[:4], "val": [], "test": stems[4:]})
    )
    return folder


def test_runs_unchanged_on_a_folder_of_real_raw_files(tmp_path):
    data = _raw_folder(tmp_path / "raws")
    out = tmp_path / "out"
    code = _quick_bench(SPEC, out, data, ["UPI faithful", "UPI exact (dataset bank)"])
    assert code == 0
    document = json.loads((out / "results.json").read_text())
    assert document["data"]["kind"] == "RawFolderDataset"
    assert document["cycle_forward"] == "camera_default pipeline"
    assert [m["error"] for m in document["methods"]] == [None, None]
    assert all(math.isfinite(m["mean"]["cycle_psnr"]) for m in document["methods"])


def test_a_failing_method_is_reported_and_the_others_still_run(tmp_path, quick_run, capsys):
    _, previous = quick_run
    spec = tmp_path / "spec.toml"
    spec.write_text(
        SPEC.read_text().replace(
            'settings = { mode = "exact" }',
            'settings = { mode = "exact", bank = [[[1, 0, 0], [0, 1, 0], [1, 1, 1e-9]]] }',
        )
    )
    code = _quick_bench(spec, tmp_path / "o", previous / "data", ["UPI faithful", "UPI exact"])
    assert code == 2
    document = json.loads((tmp_path / "o" / "results.json").read_text())
    assert document["methods"][0]["error"] is None
    assert "condition number" in document["methods"][1]["error"]
    assert "method 'UPI exact' failed" in capsys.readouterr().err


def test_spec_errors_name_the_file_and_key(tmp_path, capsys):
    spec = tmp_path / "bad.toml"
    spec.write_text("schema = 1\n[protocol]\nbudgt = { steps = 3 }\n")
    with pytest.raises(SpecError, match="protocol.budgt"):
        load_spec(spec)
    assert main(["bench", "srgb2raw", "--spec", str(spec), "--out", str(tmp_path / "o")]) == 2
    assert "protocol.budgt" in capsys.readouterr().err
    with pytest.raises(SpecError, match="exactly one"):
        parse_spec({"data": {"synthcam": {}, "folder": "x"}})
    with pytest.raises(SpecError, match="label"):
        parse_spec({"method": [{"name": "upi"}, {"name": "upi"}]})
    with pytest.raises(SpecError, match="steps or seconds|give steps"):
        parse_spec({"protocol": {"budget": {}}})
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('[[method]]\nname = "upx"\n')
    assert main(["bench", "srgb2raw", "--spec", str(unknown), "--out", str(tmp_path / "u")]) == 2
    assert "did you mean 'upi'" in capsys.readouterr().err


def test_unprocess_writes_dngs_that_libraw_reads_and_reproducible_metadata(tmp_path):
    image = np.random.default_rng(3).uniform(0.05, 0.95, size=(32, 48, 3))
    source = tmp_path / "photo.png"
    write_image(source, image, capture=CaptureParams(iso=400, exposure_time=0.01))
    out = tmp_path / "photo.dng"
    assert (
        main(
            [
                "unprocess",
                "--method",
                "upi",
                "--samples",
                "2",
                "--seed",
                "5",
                "--set",
                "mode=exact",
                str(source),
                str(out),
            ]
        )
        == 0
    )
    first, second = tmp_path / "photo_s0.dng", tmp_path / "photo_s1.dng"
    raw = read_raw(first)
    assert raw.shape == (32, 48) and raw.capture.iso == 400
    assert not np.array_equal(raw.mosaic, read_raw(second).mosaic)
    metadata = json.loads((tmp_path / "photo_s0.json").read_text())
    assert metadata["seed"] == 5 and metadata["mode"] == "exact"
    folder_out = tmp_path / "folder_out"
    assert main(["unprocess", "--method", "upi", "--quiet", str(tmp_path), str(folder_out)]) == 0
    assert sorted(p.name for p in folder_out.iterdir()) == ["photo.dng", "photo.json"]


def test_unprocess_errors_are_one_line(tmp_path, capsys):
    assert main(["unprocess", "--method", "upx", "a.png", "b.dng"]) == 2
    assert "did you mean 'upi'" in capsys.readouterr().err
    assert main(["unprocess", "--method", "upi", str(tmp_path / "none.png"), "b.dng"]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["unprocess", "--method", "upi", "--set", "mode=fast", str(SPEC), "b.dng"]) == 2
    assert "mode" in capsys.readouterr().err


class _Oracle:
    """Returns the true mosaic of one sample with a made-up white balance and colour matrix."""

    one_to_many = False

    def __init__(self, sample):
        self.raw = sample.raw

    def convert(self, srgb, *, capture=None, metadata=None, seed=None):
        from ispengine.io.raw.levels import normalize
        from ispengine.learning.srgb_to_raw import TargetCamera, Unprocessed

        target = TargetCamera.from_metadata(metadata)
        made = target.make_raw(
            normalize(self.raw), wb_gains=[3.0, 1.0, 0.7], camera_to_srgb=np.diag([1.3, 0.9, 1.1])
        )
        return Unprocessed(made)


def test_cycle_develops_the_prediction_with_the_cameras_own_colour_data(tmp_path):
    from ispengine.bench.spec import Protocol
    from ispengine.bench.srgb2raw import evaluate_image, prepare_test_images
    from ispengine.learning.datasets import open_dataset

    folder = _raw_folder(tmp_path / "raws")
    dataset = open_dataset(folder)
    test = list(dataset.split("test"))[:1]
    image = prepare_test_images(test)[0]
    measured, predicted = evaluate_image(_Oracle(test[0]), image, 0, Protocol())
    assert measured["psnr"] == math.inf and measured["mae"] == 0
    assert measured["cycle_psnr"] > 100  # the oracle's made-up WB and matrix are not used
    np.testing.assert_array_equal(predicted, image.truth)


def test_test_cameras_keeps_only_their_test_images(tmp_path):
    spec = tmp_path / "two.toml"
    spec.write_text(
        'schema = 1\nname = "two"\n[data]\n'
        "synthcam = { n = 30, size = [32, 48], seed = 2, "
        'cameras = ["nikon_5100", "synthcam_phone"] }\n'
        "[protocol]\nbudget = { steps = 1 }\nerror_map_images = 0\n"
        'test_cameras = ["synthcam_phone"]\n'
        '[[method]]\nname = "upi"\n'
    )
    assert (
        main(["bench", "srgb2raw", "--spec", str(spec), "--out", str(tmp_path / "o"), "--quiet"])
        == 0
    )
    document = json.loads((tmp_path / "o" / "results.json").read_text())
    manifest = json.loads((tmp_path / "o" / "data" / "manifest.json").read_text())
    cameras = {s["id"]: s["camera"] for s in manifest["samples"]}
    assert document["protocol"]["test_cameras"] == ["synthcam_phone"]
    test_ids = [s["id"] for s in manifest["samples"] if s["split"] == "test"]
    assert {cameras[i] for i in test_ids} == {"nikon_5100", "synthcam_phone"}
    assert document["data"]["test_ids"] and {cameras[i] for i in document["data"]["test_ids"]} == {
        "synthcam_phone"
    }
    assert "(only synthcam_phone)" in (tmp_path / "o" / "results.md").read_text()


def test_the_shipped_spec_is_the_default(tmp_path, capsys):
    from ispengine.cli.bench import resolve_bench_spec

    assert resolve_bench_spec("srgb2raw_synthcam").samefile(SPEC)
    assert resolve_bench_spec("srgb2raw_synthcam.toml").samefile(SPEC)
    out = tmp_path / "o"
    argv = ["bench", "srgb2raw", "--quick", "--quiet", "--only", "UPI exact", "--out", str(out)]
    assert main(argv) == 0  # no --spec
    assert json.loads((out / "results.json").read_text())["spec"] == "srgb2raw-synthcam"
