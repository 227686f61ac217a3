"""Camera pipelines head to head with fast-openISP, OpenCV and LibRaw, and every camera
module's speed, in one run on this machine (issue 18's targets).

Measured, each a median of ``--repeat`` runs after warm-up, as ratios in the same run:

1. 1080p 10-bit mosaic -> sRGB float32 with ``camera_default`` against OpenCV's
   bilinear demosaic alone (uint16 in and out) and against fast-openISP's
   BLC -> AWB -> Malvar CFA -> CCM -> gamma subset (target: within 3x of OpenCV);
2. fast-openISP's full default chain (its ``configs/test.yaml``) against the shipped
   ``fast_openisp.toml`` on the same dump, and how close the two outputs are
   (target: >= 20x faster);
3. 12 MP (3000x4000) DNG to 16-bit sRGB: ``camera_default`` with uint16 output from
   the fused pass against LibRaw's ``postprocess`` (target: >= 3x faster);
4. every stage of the ``camera_modules`` plugin, ms per 1920x1080 frame;
5. compile cost: ``ispengine run camera_default`` on a small DNG in a first and a
   second process sharing a fresh kernel cache (target: second run < 0.5 s), and the
   first call of chains of N ``gain`` stages (compile time vs N).

The dump is fast-openISP's own 1920x1080 10-bit RGGB test frame (``raw/test.RAW``)
from a local copy of that repository given with ``--fast-openisp DIR`` (its code runs
the fast-openISP figures); without one, a SynthCam mosaic of the same size and bit
depth is used and the fast-openISP figures are not measured (said so in the report).

Usage: python benchmarks/camera_modules.py [--fast-openisp DIR] [--repeat 5]
       [--json benchmarks/results/camera_modules.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from timing import median_seconds

from ispengine import Pipeline
from ispengine.io.raw import RawImage
from ispengine.specs import resolve_spec

HEIGHT, WIDTH, BITS = 1080, 1920, 10
# fast-openISP's test configuration: AWB gains x1024 -> 1860, 1024, 1280.
WB_GAINS = np.array([1860 / 1024, 1.0, 1280 / 1024])


# -- the dump -----------------------------------------------------------------------------
def load_dump(fast_openisp: Path | None) -> tuple[np.ndarray, str]:
    """The 1080p 10-bit RGGB mosaic (uint16) and where it came from."""
    if fast_openisp is not None and (fast_openisp / "raw" / "test.RAW").is_file():
        numbers = np.fromfile(fast_openisp / "raw" / "test.RAW", dtype="<u2")
        return numbers.reshape(HEIGHT, WIDTH), "fast-openISP raw/test.RAW"
    from ispengine.synthcam.generate import make_sample

    raw = make_sample(0, 0, (HEIGHT, WIDTH), "nikon_5100").raw
    normalised = (raw.mosaic - raw.black_level[0]) / (raw.white_level - raw.black_level[0])
    numbers = np.round(np.clip(normalised, 0, 1) * (2**BITS - 1)).astype(np.uint16)
    return numbers, "SynthCam nikon_5100 mosaic (fast-openISP's dump not given)"


def raw_image(numbers: np.ndarray) -> RawImage:
    return RawImage(numbers, "rggb", 0.0, 2.0**BITS - 1, WB_GAINS)


# -- fast-openISP -------------------------------------------------------------------------
def fast_openisp_runner(folder: Path, modules: tuple[str, ...] | None):
    """A function running fast-openISP's pipeline (only ``modules`` enabled, or its test
    configuration) on a mosaic; fast-openISP is imported from ``folder``."""
    sys.path.insert(0, str(folder))
    from pipeline import Pipeline as FastPipeline
    from utils.yacs import Config

    config = Config(str(folder / "configs" / "test.yaml"))
    if modules is not None:
        with config.unfreeze():
            for name in config.module_enable_status:
                config.module_enable_status[name] = name in modules
    pipeline = FastPipeline(config)

    def run(bayer):
        data, _ = pipeline.execute(bayer, verbose=False)
        return data["output"]

    return run


# -- camera modules -----------------------------------------------------------------------
def module_inputs(numbers: np.ndarray) -> dict[str, np.ndarray]:
    """A normalised mosaic and a YCbCr image of the dump, float32."""
    mosaic = (numbers / (2.0**BITS - 1)).astype(np.float32)
    camera = Pipeline.from_toml(resolve_spec("camera_default"))
    srgb = np.clip(camera(raw_image(numbers)), 0, 1).astype(np.float32)
    ycbcr = Pipeline.from_dict({"stage": [{"type": "rgb_to_ycbcr"}]})(srgb)
    return {"mosaic": mosaic, "rgb": srgb, "ycbcr": ycbcr.astype(np.float32)}


def camera_module_times(numbers: np.ndarray, repeat: int) -> dict[str, float]:
    """ms per frame of every stage the camera_modules plugin registers (defaults; `scale`
    resizes to 1280x720 by area)."""
    from ispengine.core.plugins import get_registry

    inputs = module_inputs(numbers)
    registry = get_registry()
    times = {}
    for kind in ("stage", "filter"):
        for name in registry.names(kind):
            record = registry.get(kind, name)
            if record.plugin != "camera_modules":
                continue
            cls = record.cls
            values = {}
            if cls.input_layout == "mosaic":
                x = inputs["mosaic"]
                if name == "hdr_stitch":
                    values["short"] = x / 4
            else:
                x = inputs["ycbcr"]
                if name == "scale":  # its default keeps the size: time a 1080p -> 720p resize
                    values.update(width=1280, height=720, method="area")
            stage = cls(**values)
            seconds = median_seconds(lambda s=stage, x=x: s(x), repeat, warmup=1)
            times[name] = seconds * 1000
            print(f"  {name}: {seconds * 1000:.1f} ms", flush=True)
    return times


# -- compile cost -------------------------------------------------------------------------
def timed_process(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def compile_cost(folder: Path) -> dict:
    """First and second process of `ispengine run camera_default` on a small DNG sharing a
    fresh kernel cache, and the first call of gain chains of N stages."""
    from ispengine.io.raw.dng import write_dng
    from ispengine.synthcam.generate import make_sample

    write_dng(folder / "small.dng", make_sample(0, 0, (128, 192), "nikon_5100").raw)
    env = {**os.environ, "ISPENGINE_CACHE_DIR": str(folder / "cache")}
    command = ["ispengine", "run", "camera_default", str(folder / "small.dng")]
    first = timed_process([*command, str(folder / "a.png"), "--quiet"], env)
    second = timed_process([*command, str(folder / "b.png"), "--quiet"], env)
    third = timed_process([*command, str(folder / "c.png"), "--quiet"], env)
    chains = {}
    for n in (5, 10, 20, 40):
        code = (
            "import time, numpy as np; from ispengine import Pipeline;"
            f"p = Pipeline.from_dict({{'stage': [{{'type': 'gain'}}] * {n}}});"
            "x = np.full((64, 64, 3), 0.5); t = time.perf_counter(); p(x);"
            "print(time.perf_counter() - t)"
        )
        fresh = {**os.environ, "ISPENGINE_CACHE_DIR": str(folder / f"cache{n}")}
        out = subprocess.run(
            [sys.executable, "-c", code], env=fresh, check=True, capture_output=True, text=True
        )
        again = subprocess.run(
            [sys.executable, "-c", code], env=fresh, check=True, capture_output=True, text=True
        )
        chains[str(n)] = {
            "first_call_s": float(out.stdout.strip()),
            "cached_first_call_s": float(again.stdout.strip()),
        }
    return {
        "camera_default_small_first_process_s": first,
        "camera_default_small_second_process_s": second,
        "camera_default_small_third_process_s": third,
        "gain_chains": chains,
    }


# -- the run ------------------------------------------------------------------------------
def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a - b) ** 2)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast-openisp", type=Path, help="a local copy of fast-openISP")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--size12", default="3000x4000", help="the LibRaw frame, HxW")
    parser.add_argument("--json", type=Path, help="write the results here (and a .md beside)")
    args = parser.parse_args()
    numbers, source = load_dump(args.fast_openisp)
    raw = raw_image(numbers)
    results: dict = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "dump": source,
        "repeat": args.repeat,
    }

    print("1. camera_default vs OpenCV's demosaic", flush=True)
    camera = Pipeline.from_toml(resolve_spec("camera_default"))
    bound = camera.bind(raw.metadata())
    results["camera_default_1080p_s"] = median_seconds(lambda: bound(raw), args.repeat)
    try:
        import cv2

        results["opencv_bilinear_demosaic_s"] = median_seconds(
            lambda: cv2.cvtColor(numbers, cv2.COLOR_BayerBG2RGB), args.repeat
        )
    except ImportError:
        results["opencv_bilinear_demosaic_s"] = None
    fast = args.fast_openisp if source.startswith("fast-openISP") else None
    if fast is not None:
        subset = fast_openisp_runner(fast, ("blc", "awb", "cfa", "ccm", "gac"))
        results["fast_openisp_subset_s"] = median_seconds(lambda: subset(numbers), args.repeat)

    print("2. fast_openisp.toml vs fast-openISP", flush=True)
    ours = Pipeline.from_toml(resolve_spec("fast_openisp")).bind(raw.metadata())
    repeat_full = max(1, args.repeat // 2)
    results["fast_openisp_toml_s"] = median_seconds(lambda: ours(raw), repeat_full, warmup=1)
    if fast is not None:
        full = fast_openisp_runner(fast, None)
        results["fast_openisp_full_s"] = median_seconds(
            lambda: full(numbers), repeat_full, warmup=1
        )
        theirs = full(numbers).astype(np.float64) / 255
        mine = np.clip(ours(raw), 0, 1).astype(np.float64)
        results["fast_openisp_output_psnr_db"] = psnr(mine, theirs)
        results["fast_openisp_output_mean_abs_8bit"] = float(np.mean(np.abs(mine - theirs)) * 255)

    print("3. 12 MP to uint16 vs LibRaw", flush=True)
    from camera_pipeline import libraw_postprocess, make_dng

    from ispengine.io.raw.reader import read_raw

    height, width = (int(v) for v in args.size12.lower().split("x"))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "scene.dng"
        make_dng(path, height, width)
        big = read_raw(path)
        bound_big = camera.bind(big.metadata())
        handle, libraw = libraw_postprocess(path)
        results["libraw_postprocess_12mp_s"] = median_seconds(libraw, args.repeat)
        results["camera_default_12mp_float32_s"] = median_seconds(
            lambda: bound_big(big), args.repeat
        )
        results["camera_default_12mp_uint16_s"] = median_seconds(
            lambda: bound_big(big, out_dtype=np.uint16), args.repeat
        )
        handle.close()

    print("4. camera modules, ms per 1080p frame", flush=True)
    results["module_ms_1080p"] = camera_module_times(numbers, max(3, args.repeat // 2))

    print("5. compile cost", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        results["compile"] = compile_cost(Path(folder))

    results["targets"] = targets(results)
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        args.json.with_suffix(".md").write_text(markdown(results, args))


def targets(r: dict) -> list[dict]:
    """Issue 18's targets, each with the measured figure and whether it is met."""

    def entry(name, figure, goal, met):
        return {"target": name, "measured": figure, "goal": goal, "met": met}

    rows = []
    opencv = r.get("opencv_bilinear_demosaic_s")
    if opencv:
        ratio = r["camera_default_1080p_s"] / opencv
        rows.append(
            entry("camera_default 1080p vs OpenCV demosaic", f"{ratio:.1f}x", "<= 3x", ratio <= 3)
        )
    ratio = r["libraw_postprocess_12mp_s"] / r["camera_default_12mp_uint16_s"]
    rows.append(entry("12 MP to uint16 vs LibRaw", f"{ratio:.2f}x faster", ">= 3x", ratio >= 3))
    if "fast_openisp_full_s" in r:
        ratio = r["fast_openisp_full_s"] / r["fast_openisp_toml_s"]
        rows.append(entry("fast-openISP full chain", f"{ratio:.2f}x faster", ">= 20x", ratio >= 20))
    else:
        rows.append(entry("fast-openISP full chain", "not measured", ">= 20x", None))
    second = r["compile"]["camera_default_small_second_process_s"]
    rows.append(
        entry(
            "warm second run of `ispengine run camera_default`",
            f"{second:.2f} s",
            "< 0.5 s",
            second < 0.5,
        )
    )
    return rows


def markdown(r: dict, args: argparse.Namespace) -> str:
    met = {True: "met", False: "**not met**", None: "not measured"}
    lines = [
        "# Camera pipelines and modules: speed against fast-openISP, OpenCV and LibRaw",
        "",
        f"`python benchmarks/camera_modules.py {'--fast-openisp DIR ' if args.fast_openisp else ''}"
        f"--repeat {args.repeat} --json {args.json}`",
        "",
        f"Machine: {r['machine']}; one run, medians of {r['repeat']} after warm-up. "
        f"Dump: {r['dump']} (1920x1080, 10-bit, RGGB).",
        "",
        "| target | measured | goal | status |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {t['target']} | {t['measured']} | {t['goal']} | {met[t['met']]} |" for t in r["targets"]
    ]
    rows = [
        ("OpenCV bilinear demosaic alone (uint16)", r.get("opencv_bilinear_demosaic_s")),
        ("`camera_default`, 1080p -> float32 sRGB", r["camera_default_1080p_s"]),
        ("fast-openISP BLC-AWB-CFA-CCM-GAC subset", r.get("fast_openisp_subset_s")),
        ("`fast_openisp.toml` (full chain)", r["fast_openisp_toml_s"]),
        ("fast-openISP full default chain", r.get("fast_openisp_full_s")),
        ("LibRaw `postprocess`, 12 MP, 16-bit", r["libraw_postprocess_12mp_s"]),
        ("`camera_default`, 12 MP, float32", r["camera_default_12mp_float32_s"]),
        ("`camera_default`, 12 MP, uint16 from the fused pass", r["camera_default_12mp_uint16_s"]),
    ]
    lines += ["", "| path | time (ms) |", "|---|---|"]
    lines += [f"| {name} | {s * 1000:.1f} |" for name, s in rows if s is not None]
    if "fast_openisp_output_psnr_db" in r:
        lines += [
            "",
            f"`fast_openisp.toml` against fast-openISP's own output on the dump: PSNR "
            f"{r['fast_openisp_output_psnr_db']:.2f} dB, mean absolute difference "
            f"{r['fast_openisp_output_mean_abs_8bit']:.2f} of 255 (fast-openISP computes in "
            "integers with truncating shifts and 8-bit tables; the engine in floating point).",
        ]
    lines += [
        "",
        "## Every camera module, ms per 1920x1080 frame",
        "",
        "Default parameters on the dump's mosaic or its Y'CbCr rendering; `scale` resizes "
        "to 1280x720 by area. A fused chain of the per-pixel modules runs faster than the "
        "sum of their figures.",
        "",
        "| stage | ms |",
        "|---|---|",
    ]
    lines += [f"| `{k}` | {v:.1f} |" for k, v in sorted(r["module_ms_1080p"].items())]
    c = r["compile"]
    lines += [
        "",
        "## Compile cost",
        "",
        "`ispengine run camera_default` on a 128x192 DNG, fresh processes sharing a new "
        f"kernel cache: first {c['camera_default_small_first_process_s']:.2f} s, second "
        f"{c['camera_default_small_second_process_s']:.2f} s, third "
        f"{c['camera_default_small_third_process_s']:.2f} s (process start and imports "
        "included).",
        "",
        "| gain stages | first call, empty cache (s) | first call, cached (s) |",
        "|---|---|---|",
    ]
    lines += [
        f"| {n} | {v['first_call_s']:.2f} | {v['cached_first_call_s']:.2f} |"
        for n, v in c["gain_chains"].items()
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
