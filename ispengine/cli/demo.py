"""``ispengine demo``: the shipped function ISP, forward and inverse, on a built-in scene.

The scene is procedural (no download, no data files): a smooth illuminant
gradient, a grid of coloured patches and a specular highlight, in linear
camera RGB. The demo renders it to sRGB with ``function_isp.toml``, inverts
the sRGB back to camera RGB and reports the round-trip error.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from ispengine.cli.common import warn_clipped
from ispengine.core.commands import Command


def synthetic_scene(height: int = 240, width: int = 320, seed: int = 0) -> np.ndarray:
    """A deterministic linear camera-RGB test scene in [0, 1], shape ``(height, width, 3)``."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float64)
    v, u = rows / max(height - 1, 1), cols / max(width - 1, 1)
    illumination = 0.35 + 0.45 * u[..., None] * np.array([1.0, 0.9, 0.75])
    scene = illumination * (0.55 + 0.25 * v[..., None])
    patch_rows, patch_cols = 4, 6
    reflectances = rng.uniform(0.05, 0.9, size=(patch_rows, patch_cols, 3))
    top, left = height // 6, width // 8
    patch_h, patch_w = (height * 2 // 3) // patch_rows, (width * 3 // 4) // patch_cols
    for i in range(patch_rows):
        for j in range(patch_cols):
            r0, c0 = top + i * patch_h + 2, left + j * patch_w + 2
            scene[r0 : r0 + patch_h - 4, c0 : c0 + patch_w - 4] = (
                reflectances[i, j] * illumination[r0, c0]
            )
    highlight = np.exp(-(((u - 0.82) / 0.06) ** 2 + ((v - 0.2) / 0.08) ** 2))
    scene = scene + 0.5 * highlight[..., None]
    return np.clip(scene, 0.0, 1.0)


def _timed(run: Any) -> tuple[Any, tuple[float, float]]:
    """The result of ``run()`` and (steady, first-call) times in ms."""
    start = time.perf_counter()
    result = run()
    first = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    run()
    return result, ((time.perf_counter() - start) * 1000, first)


def run_demo(out: Path) -> int:
    """Write the demo's files under ``out`` and print what was done."""
    from ispengine.core.pipeline import Pipeline
    from ispengine.io.image_files import write_image
    from ispengine.specs import shipped_specs

    out.mkdir(parents=True, exist_ok=True)
    spec_path = shipped_specs()["function_isp"]
    pipeline = Pipeline.from_toml(spec_path)
    inverse = pipeline.inverse()
    camera_rgb = synthetic_scene()
    srgb, forward_ms = _timed(lambda: pipeline(camera_rgb))
    recovered, inverse_ms = _timed(lambda: inverse(srgb))
    error = float(np.max(np.abs(recovered - camera_rgb)))
    files = {
        "camera_rgb.npy": camera_rgb,
        "srgb.npy": srgb,
        "srgb.png": srgb,
        "camera_rgb_recovered.npy": recovered,
    }
    for name, image in files.items():
        clipped = write_image(out / name, image)
        warn_clipped(clipped, image.size, str(out / name))
    print(f"spec: {spec_path}")
    print(f"forward: {pipeline!r}")
    print(f"inverse: {inverse!r}")
    size = f"{camera_rgb.shape[1]}x{camera_rgb.shape[0]}"
    for label, (again, first) in (("forward", forward_ms), ("inverse", inverse_ms)):
        print(
            f"{label} on the {size} scene: {again:.1f} ms ({first:.0f} ms on the first call, "
            "which compiles the fused kernels)"
        )
    print(f"round trip max |inverse(forward(x)) - x| = {error:.3g}")
    print(f"wrote {', '.join(files)} to {out}/")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    return run_demo(Path(args.out))


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", default="ispengine-demo", help="output folder (default: %(default)s)"
    )


COMMAND = Command(
    "demo",
    "run the shipped function ISP on a built-in scene",
    run=cmd_demo,
    add_arguments=_add_arguments,
)
