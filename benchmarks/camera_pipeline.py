"""The canonical camera pipeline vs LibRaw (rawpy ``postprocess``) on the same DNG.

Measures, in one run on this machine (benchmarks.md, speed target 4: >= 3x):

* engine: ``camera_default.toml`` (black level -> white balance -> Malvar
  demosaic -> camera->sRGB matrix -> sRGB OETF) on the RawImage read from the
  DNG, to a float32 sRGB image, and the same plus quantisation to uint16
  (what LibRaw returns);
* LibRaw: ``postprocess`` with the LINEAR demosaic and equivalent settings
  (camera white balance, sRGB primaries and curve, 16-bit, no
  auto-brightening, no maximum adjustment, no flip), on a file already opened
  and unpacked;
* the colour difference between the two outputs: mean and 99th percentile of
  CIEDE2000 (colour-science) away from an 8-pixel border, and the mean
  absolute difference in 16-bit code values. The demosaicers differ (Malvar vs
  bilinear), so differences concentrate on edges.

The test scene is a scikit-image photograph upsampled to the requested size,
turned into camera RAW through a colour matrix, white balance and a Bayer
mosaic (14-bit, black level 512), written as a DNG by the engine.

Usage: python benchmarks/camera_pipeline.py [--size 3000x4000] [--repeat 5]
       [--json benchmarks/results/camera_pipeline.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
from pathlib import Path

import numpy as np
from timing import median_seconds

from ispengine import Pipeline
from ispengine.io.raw import CaptureParams, RawImage
from ispengine.io.raw.dng import write_dng
from ispengine.io.raw.reader import read_raw
from ispengine.specs import resolve_spec

XYZ_TO_CAMERA = np.array(
    [[0.6722, -0.0635, -0.0963], [-0.4287, 1.2460, 0.2028], [-0.0908, 0.2162, 0.5668]]
)
WB_GAINS = np.array([2.1, 1.0, 1.6])


def make_dng(path: Path, height: int, width: int) -> RawImage:
    """A 14-bit Bayer DNG of a natural photograph, ``height`` x ``width``."""
    from scipy.ndimage import zoom
    from skimage import data

    from plugins_builtin.canonical_stages.cfa import cfa_positions
    from plugins_builtin.canonical_stages.srgb_transfer import srgb_decode

    photo = data.astronaut()[..., :3].astype(np.float64) / 255
    scaled = zoom(photo, (height / photo.shape[0], width / photo.shape[1], 1), order=1)
    linear = np.clip(srgb_decode(scaled[:height, :width], np), 0, 1) * 0.8
    raw = RawImage(
        np.zeros((height, width), np.uint16),
        "rggb",
        512,
        16383,
        WB_GAINS,
        xyz_to_camera=XYZ_TO_CAMERA,
        capture=CaptureParams(iso=200, exposure_time=1 / 125, f_number=4, focal_length=35),
    )
    camera_balanced = linear @ np.linalg.inv(raw.camera_to_srgb).T
    camera = np.clip(camera_balanced / WB_GAINS, 0, 1)
    mosaic = np.empty((height, width))
    for channel, colour in zip(("R", "Gr", "Gb", "B"), (0, 1, 1, 2), strict=True):
        row, column = cfa_positions("rggb")[channel]
        mosaic[row::2, column::2] = camera[row::2, column::2, colour]
    dn = np.round(mosaic * (16383 - 512) + 512).astype(np.uint16)
    raw = raw.evolve(mosaic=dn)
    write_dng(path, raw)
    return raw


def libraw_postprocess(path: Path):
    import rawpy

    handle = rawpy.imread(str(path))
    handle.unpack()

    def run():
        return handle.postprocess(
            demosaic_algorithm=rawpy.DemosaicAlgorithm.LINEAR,
            use_camera_wb=True,
            no_auto_bright=True,
            output_bps=16,
            gamma=(2.4, 12.92),
            output_color=rawpy.ColorSpace.sRGB,
            user_flip=0,
            adjust_maximum_thr=0.0,  # LibRaw would otherwise rescale to the data's maximum
        )

    return handle, run


def colour_difference(engine: np.ndarray, libraw: np.ndarray, border: int = 8) -> dict:
    import colour

    ours = np.clip(engine, 0, 1)[border:-border, border:-border]
    theirs = (libraw.astype(np.float64) / 65535)[border:-border, border:-border]
    step = max(1, ours.shape[0] // 750)  # CIEDE2000 on a subsample keeps this quick
    ours_sub, theirs_sub = ours[::step, ::step], theirs[::step, ::step]

    def lab(rgb):
        return colour.XYZ_to_Lab(colour.sRGB_to_XYZ(rgb))

    delta = colour.delta_E(lab(ours_sub), lab(theirs_sub), method="CIE 2000")
    return {
        "delta_e2000_mean": float(np.mean(delta)),
        "delta_e2000_p99": float(np.percentile(delta, 99)),
        "mean_abs_code_values_16bit": float(np.mean(np.abs(ours - theirs)) * 65535),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="3000x4000", help="HxW (default %(default)s)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, help="write the results here (and a .md beside it)")
    args = parser.parse_args()
    height, width = (int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "scene.dng"
        make_dng(path, height, width)
        raw = read_raw(path)
        pipeline = Pipeline.from_toml(resolve_spec("camera_default"))
        bound = pipeline.bind(raw.metadata())

        def engine():
            return bound(raw)

        def engine_uint16():
            image = bound(raw)
            return np.round(np.clip(image, 0, 1) * 65535).astype(np.uint16)

        handle, libraw = libraw_postprocess(path)
        t_libraw = median_seconds(libraw, args.repeat)
        t_engine = median_seconds(engine, args.repeat)
        t_engine16 = median_seconds(engine_uint16, args.repeat)
        t_by_stage = median_seconds(lambda: bound(raw, fuse=False), max(1, args.repeat // 2), 1)
        difference = colour_difference(engine(), libraw())
        handle.close()
    results = {
        "size": [height, width],
        "machine": platform.processor() or platform.machine(),
        "libraw_postprocess_s": t_libraw,
        "engine_fused_s": t_engine,
        "engine_fused_uint16_s": t_engine16,
        "engine_stage_by_stage_s": t_by_stage,
        "speedup_vs_libraw": t_libraw / t_engine,
        "speedup_vs_libraw_uint16": t_libraw / t_engine16,
        **difference,
    }
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        args.json.with_suffix(".md").write_text(_markdown(results, args))


def _table(r: dict) -> str:
    libraw = r["libraw_postprocess_s"]
    rows = [
        ("LibRaw `postprocess` (LINEAR, camera WB, sRGB, 16-bit)", libraw),
        ("engine `camera_default.toml`, fused, float32 out", r["engine_fused_s"]),
        ("engine, fused, + quantise to uint16", r["engine_fused_uint16_s"]),
        ("engine, stage by stage (`fuse=False`)", r["engine_stage_by_stage_s"]),
    ]
    lines = ["| path | time (s) | speed-up vs LibRaw |", "|---|---|---|"]
    lines += [f"| {name} | {seconds:.3f} | {libraw / seconds:.2f} |" for name, seconds in rows]
    return "\n".join(lines)


def _markdown(r: dict, args: argparse.Namespace) -> str:
    h, w = r["size"]
    return f"""# Canonical camera pipeline vs LibRaw

`python benchmarks/camera_pipeline.py --size {args.size} --repeat {args.repeat} --json {args.json}`

{h}x{w} DNG (14-bit, RGGB), median of {args.repeat} runs after warm-up, one run, 2-core CPU.

{_table(r)}

Colour difference engine vs LibRaw (8-pixel border excluded): CIEDE2000 mean
{r["delta_e2000_mean"]:.2f}, 99th percentile {r["delta_e2000_p99"]:.2f}; mean
absolute difference {r["mean_abs_code_values_16bit"]:.1f} 16-bit code values.
The demosaicers differ (Malvar-He-Cutler vs LibRaw's bilinear), so the
difference sits on edges.
"""


if __name__ == "__main__":
    main()
