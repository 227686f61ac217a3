"""Speed and accuracy of the LUT inverses and the fast CPU kernels, as ratios in one run.

Figures (benchmarks.md targets):
1. global LUT inverse of f_GM vs scipy's RegularGridInterpolator on the
   paper's 4-D grid (60×30×30×512, Algorithm 1), 12 MP ×3 float32 (≥ 500×);
2. local (per-pixel parameters) LUT inverse vs the same reference (≥ 20×);
3. whole inverse function ISP (CS⁻¹, GM⁻¹, GA⁻¹, CC⁻¹) vs one ``numpy.copyto``
   of the image (within 5×);
4. Malvar demosaic vs colour-demosaicing (≥ 20×);
5. accuracy: mean and max |f(f⁻¹(y)) − y| over a dense parameter sweep (≤ 1e-6;
   paper 1.1e-5 / 6.5e-5).

The RegularGridInterpolator reference is timed on 640×480×3 values and scaled
per sample to 12 MP ×3 (it would take about half a minute per run). Run:

    python benchmarks/speed.py --json benchmarks/results/speed.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from timing import median_seconds

PAPER_GRID = (60, 30, 30)
PAPER_OUTPUTS = 512
PAPER_INPUTS = 10_000


def gamma_tone(x: np.ndarray, g1: Any, g2: Any, k: Any) -> np.ndarray:
    u = x ** (1 / g1)
    return u * (1 - (1 - g2) * u) / (1 - (1 - g2) * k ** (1 / g1))


def paper_lut(ranges: list[tuple[float, float]]) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """The paper's table (SemiISP appendix A.2, Algorithm 1): nearest input sample per output."""
    axes = tuple(np.linspace(lo, hi, n) for (lo, hi), n in zip(ranges, PAPER_GRID, strict=True))
    inputs = np.linspace(0, 1, PAPER_INPUTS)
    outputs = np.linspace(0, 1, PAPER_OUTPUTS)
    table = np.empty(PAPER_GRID + (PAPER_OUTPUTS,))
    for i, g1 in enumerate(axes[0]):
        g2, k = np.meshgrid(axes[1], axes[2], indexing="ij")
        curves = gamma_tone(inputs, g1, g2[..., None], k[..., None])
        for j in range(curves.shape[0]):
            for m in range(curves.shape[1]):
                row = np.maximum.accumulate(curves[j, m])
                index = np.clip(np.searchsorted(row, outputs), 0, PAPER_INPUTS - 1)
                before = np.clip(index - 1, 0, PAPER_INPUTS - 1)
                nearer = np.abs(row[before] - outputs) < np.abs(row[index] - outputs)
                table[i, j, m] = inputs[np.where(nearer, before, index)]
    return axes + (outputs,), table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="3000x4000", help="HxW of the test images")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    height, width = (int(v) for v in args.size.lower().split("x"))
    results: dict[str, Any] = {
        "command": " ".join(["python", "benchmarks/speed.py", *sys.argv[1:]]),
        "machine": f"{platform.machine()}, {platform.python_version()}, numpy {np.__version__}",
        "image": f"{height}x{width}x3 float32",
    }
    figures = {}
    from ispengine.core.plugins import get_registry

    figures.update(lut_figures(height, width, args.repeat))
    figures.update(pipeline_figures(height, width, args.repeat))
    figures.update(demosaic_figures(height, width, args.repeat))
    figures.update(accuracy_figures())
    results["figures"] = figures
    results["lut_backends"] = get_registry().names("lut_backend")
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


def lut_figures(height: int, width: int, repeat: int) -> dict[str, Any]:
    from scipy.interpolate import RegularGridInterpolator

    from plugins_builtin.function_stages.gamma_tone import GammaTone, GammaToneLutInverse

    ranges = [(s.low, s.high) for s in GammaTone.params]
    start = time.perf_counter()
    grid_axes, table = paper_lut(ranges)
    paper_build_s = time.perf_counter() - start
    interpolator = RegularGridInterpolator(grid_axes, table, method="linear")
    rng = np.random.default_rng(0)
    ref_values = 640 * 480 * 3
    query = np.column_stack(
        [rng.uniform(lo, hi, ref_values) for lo, hi in ranges] + [rng.uniform(0, 1, ref_values)]
    )
    reference_s = median_seconds(lambda: interpolator(query), 1, warmup=1)
    scale = height * width * 3 / ref_values
    reference_12mp_s = reference_s * scale

    x = rng.uniform(0, 1, (height, width, 3)).astype(np.float32)
    constants = {"g1": [2.2, 1.8, 2.6], "g2": [0.8, 0.7, 0.9], "k": [0.3, 0.4, 0.35]}
    forward = GammaTone(**constants)
    y = forward(x)
    global_inverse = GammaToneLutInverse.from_forward(forward, backend="numba")
    global_s = median_seconds(lambda: global_inverse(y), repeat)

    local = {}
    for kind, maps in (
        ("smooth", smooth_maps(GammaTone, height, width, rng)),
        (
            "random",
            {
                s.name: rng.uniform(s.low, s.high, (height, width, 3)).astype(np.float32)
                for s in GammaTone.params
            },
        ),
    ):
        local_forward = GammaTone(**maps)
        y_local = local_forward(x)
        for steps in (0, 1, 2) if kind == "smooth" else (2,):
            local_inverse = GammaToneLutInverse.from_forward(
                local_forward, backend="numba", newton_steps=steps
            )
            start = time.perf_counter()
            local_inverse.table()
            table_s = time.perf_counter() - start
            seconds = median_seconds(lambda inv=local_inverse, y=y_local: inv(y), repeat)
            restored = local_inverse(y_local).astype(np.float64)
            error = np.abs(local_forward(restored) - y_local.astype(np.float64))
            local[kind, steps] = {
                "engine_s": seconds,
                "speedup": reference_12mp_s / seconds,
                "max_abs_f_of_inverse_minus_y": float(error.max()),
                "mean_abs_f_of_inverse_minus_y": float(error.mean()),
                "table_build_or_load_s": table_s,
            }
    return {
        "rgi_reference": {
            "measured_values": ref_values,
            "measured_s": reference_s,
            "scaled_to_12mp_s": reference_12mp_s,
            "paper_table_build_s": paper_build_s,
        },
        "1_global_lut_vs_rgi": {
            "engine_s": global_s,
            "reference_s": reference_12mp_s,
            "speedup": reference_12mp_s / global_s,
            "target": ">= 500",
        },
        "2_local_lut_vs_rgi": {
            **local["smooth", 2],
            "reference_s": reference_12mp_s,
            "target": ">= 20",
            "newton_steps": 2,
            "maps": "8x8 grid of random parameter sets upsampled bilinearly (local mode)",
        },
        "2a_local_newton_trade_off": {
            f"newton_steps_{steps}": local["smooth", steps] for steps in (0, 1, 2)
        },
        "2b_local_lut_random_maps_vs_rgi": {
            **local["random", 2],
            "maps": "independent random parameters per pixel (cache-hostile worst case)",
        },
    }


def smooth_maps(stage: Any, height: int, width: int, rng: Any) -> dict[str, np.ndarray]:
    """Per-pixel parameter maps as the local mode makes them: an 8×8 grid of random
    parameter sets over the declared ranges, bilinearly upsampled to the image."""
    from scipy.ndimage import zoom

    maps = {}
    for spec in stage.params:
        coarse = rng.uniform(spec.low, spec.high, (8, 8, 3))
        fine = zoom(coarse, (height / 8, width / 8, 1), order=1)
        maps[spec.name] = np.clip(fine, spec.low, spec.high).astype(np.float32)
    return maps


def pipeline_figures(height: int, width: int, repeat: int) -> dict[str, Any]:
    import tomllib

    from ispengine import Pipeline
    from ispengine.specs import shipped_specs

    spec = shipped_specs()["function_isp"]
    forward = Pipeline.from_toml(spec)
    data = tomllib.loads(spec.read_text())
    data["inverse"] = {"gamma_tone": {"method": "lut"}}
    inverse = Pipeline.from_dict(data).inverse()
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 1, (height, width, 3)).astype(np.float32)
    y = forward(x)
    target = np.empty_like(y)
    copy_s = median_seconds(lambda: np.copyto(target, y), max(repeat, 5))
    fused_s = median_seconds(lambda: inverse(y, check=False), repeat)
    checked_s = median_seconds(lambda: inverse(y), repeat)
    forward_s = median_seconds(lambda: forward(x, check=False), repeat)
    staged_s = median_seconds(lambda: inverse(y, check=False, fuse=False), 1, warmup=1)
    return {
        "3_inverse_function_isp_vs_copy": {
            "chain": "CS^-1, GM^-1 (lut, global), GA^-1, CC^-1 of the shipped function_isp, fused",
            "engine_s": fused_s,
            "copy_s": copy_s,
            "ratio_to_copy": fused_s / copy_s,
            "target": "<= 5",
            "with_nan_check_s": checked_s,
            "stage_by_stage_numpy_s": staged_s,
            "forward_fused_s": forward_s,
        }
    }


def demosaic_figures(height: int, width: int, repeat: int) -> dict[str, Any]:
    from colour_demosaicing import (
        demosaicing_CFA_Bayer_bilinear,
        demosaicing_CFA_Bayer_Malvar2004,
    )

    from plugins_builtin.canonical_stages.demosaic import DemosaicBilinear, DemosaicMalvar

    mosaic = np.random.default_rng(3).uniform(0, 1, (height, width)).astype(np.float32)
    out = {}
    for key, stage, reference in (
        ("4_malvar_vs_colour_demosaicing", DemosaicMalvar(), demosaicing_CFA_Bayer_Malvar2004),
        ("4b_bilinear_vs_colour_demosaicing", DemosaicBilinear(), demosaicing_CFA_Bayer_bilinear),
    ):
        engine_s = median_seconds(lambda st=stage: st(mosaic), repeat)
        reference_s = median_seconds(lambda ref=reference: ref(mosaic, "RGGB"), 1, warmup=1)
        difference = np.abs(stage(mosaic) - reference(mosaic, "RGGB"))[2:-2, 2:-2].max()
        out[key] = {
            "engine_s": engine_s,
            "reference_s": reference_s,
            "speedup": reference_s / engine_s,
            "max_difference_inside_2px_border": float(difference),
            "target": ">= 20" if "malvar" in key else "-",
        }
    return out


def accuracy_figures() -> dict[str, Any]:
    from plugins_builtin.function_stages.gamma_tone import GammaTone, GammaToneLutInverse

    rng = np.random.default_rng(1)
    y_unit = np.linspace(0, 1, 4096)
    errors = []
    sweep = [
        np.linspace(s.low, s.high, n) for s, n in zip(GammaTone.params, (12, 8, 8), strict=True)
    ]
    for g1 in sweep[0]:
        for g2 in sweep[1]:
            for k in sweep[2]:
                forward = GammaTone(g1=g1, g2=g2, k=k)
                top = float(forward(np.ones((1, 1, 3)))[0, 0, 0])
                y = np.repeat((y_unit * top)[None, :, None], 3, axis=-1)
                x = GammaToneLutInverse.from_forward(forward, backend="numba")(y)
                errors.append(np.abs(forward(x) - y).ravel())
    global_errors = np.concatenate(errors)
    maps = {s.name: rng.uniform(s.low, s.high, (500, 500, 3)) for s in GammaTone.params}
    local_forward = GammaTone(**maps)
    y_local = local_forward(rng.uniform(0, 1, (500, 500, 3)))
    x_local = GammaToneLutInverse.from_forward(local_forward, backend="numba")(y_local)
    local_errors = np.abs(local_forward(x_local) - y_local)
    return {
        "5_accuracy": {
            "global": {
                "mean": float(global_errors.mean()),
                "max": float(global_errors.max()),
                "sweep": "12x8x8 parameter sets x 4096 outputs x 3 channels, float64",
            },
            "local": {
                "mean": float(local_errors.mean()),
                "max": float(local_errors.max()),
                "sweep": "500x500x3 random per-pixel parameters, float64, 2 Newton steps",
            },
            "paper": {"mean": 1.1e-5, "max": 6.5e-5},
            "target_max": 1e-6,
        }
    }


if __name__ == "__main__":
    sys.exit(main())
