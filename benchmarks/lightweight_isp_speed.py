"""Full-HD inference of the lightweight ISPs beside the camera pipeline, in one run.

Measures, on this machine's CPU (and a CUDA GPU when torch sees one), for a
1920×1080 output (packed input 4×540×960, float32, batch 1):

* Efficient ISP and Robust ISP in torch (eager, ``torch.no_grad``, ``threads``
  CPU threads) in float32, float32 channels-last, and bfloat16 channels-last
  (oneDNN uses AMX/AVX-512 BF16 where the CPU has them; the output's PSNR
  against float32 says what the precision costs), and the same networks
  exported to ONNX and run by ONNX Runtime (CPU execution provider,
  ``threads`` intra-op threads), when it is installed;
* the engine's ``camera_default`` pipeline (black level → white balance →
  Malvar demosaic → camera matrix → sRGB OETF, fused) on a 1080×1920 RAW
  mosaic: the reference each ratio is against.

The weights are seeded random: speed does not depend on them. fast-openISP is
not installable from the package registries here; its figure on this machine
(174 ms for its BLC → AWB → CFA → CCM → gamma subset on a 1080p dump, measured
for the camera-module issue) is quoted in the results, not re-measured.

Target (the lightweight-ISP issue): Full-HD in under 30 ms on these 2 cores.

Usage: python benchmarks/lightweight_isp_speed.py [--repeat 20] [--threads 2]
       [--json benchmarks/results/lightweight_isp_speed.json]
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import tempfile
from pathlib import Path

import numpy as np
from timing import median_seconds

from ispengine import Pipeline
from ispengine.io.raw import RawImage
from ispengine.specs import resolve_spec

HEIGHT, WIDTH = 1080, 1920
TARGET_SECONDS = 0.030


def _torch_runner(module, packed, device, *, channels_last=False, bfloat16=False):
    import torch

    tensor = torch.from_numpy(packed).to(device)
    module = module.to(device)
    if channels_last:
        tensor = tensor.contiguous(memory_format=torch.channels_last)
        module = module.to(memory_format=torch.channels_last)
    if bfloat16:
        tensor, module = tensor.to(torch.bfloat16), module.to(torch.bfloat16)

    def run():
        with torch.no_grad():
            out = module(tensor)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return out.float().cpu().numpy() if out.dtype != torch.float32 else out

    return run


def _psnr(a, b) -> float:
    a, b = np.clip(np.asarray(a), 0, 1), np.clip(np.asarray(b), 0, 1)
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1 / mse)


def _onnx_runner(module, packed, threads, folder):
    try:
        import onnxruntime
    except ImportError:
        return None
    from ispengine.learning.onnx_export import ExportableModel, export_onnx

    path = Path(folder) / "model.onnx"
    export_onnx(ExportableModel(module, channels=4, scale=2, input_name="packed"), path)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda: session.run(None, {"packed": packed})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    import torch

    from plugins_builtin.lightweight_isp.networks import PARAMETER_COUNTS, build_network

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    packed = rng.random((1, 4, HEIGHT // 2, WIDTH // 2), dtype=np.float32)
    mosaic = (rng.random((HEIGHT, WIDTH)) * 15000 + 512).astype(np.float32)
    raw = RawImage(mosaic=mosaic, cfa_pattern="rggb", black_level=512.0, white_level=16383.0)
    camera = Pipeline.from_toml(resolve_spec("camera_default"))
    reference = median_seconds(lambda: camera(raw), args.repeat)
    rows = [{"path": "camera_default pipeline (fused, float32 out)", "seconds": reference}]
    cpu = torch.device("cpu")
    with tempfile.TemporaryDirectory() as folder:
        for architecture in ("efficient", "robust"):
            torch.manual_seed(0)
            module = build_network(architecture).eval()
            label = f"{architecture.capitalize()} ISP ({PARAMETER_COUNTS[architecture]:,} params)"
            with torch.no_grad():
                exact = module(torch.from_numpy(packed)).numpy()
            runs = {"torch CPU float32": lambda m=module: _torch_runner(m, packed, cpu)}
            runs["torch CPU float32, channels-last"] = lambda m=module: _torch_runner(
                m, packed, cpu, channels_last=True
            )
            runs["torch CPU bfloat16, channels-last"] = lambda m=module: _torch_runner(
                m, packed, cpu, channels_last=True, bfloat16=True
            )
            runs["ONNX Runtime CPU float32"] = lambda m=module: _onnx_runner(
                m, packed, args.threads, folder
            )
            if torch.cuda.is_available():
                runs["torch CUDA float32"] = lambda m=module: _torch_runner(
                    m, packed, torch.device("cuda")
                )
            for path, make in runs.items():
                run = make(copy.deepcopy(module))
                if run is None:  # onnxruntime not installed
                    continue
                seconds = median_seconds(run, args.repeat)
                output = run()
                output = output[0] if isinstance(output, list) else output
                output = output.cpu().numpy() if hasattr(output, "cpu") else output
                rows.append(
                    {
                        "path": f"{label}, {path}",
                        "seconds": seconds,
                        "psnr_vs_float32_db": _psnr(output, exact),
                    }
                )
    for row in rows:
        row["ratio_to_camera_default"] = row["seconds"] / reference
        row["meets_30ms"] = row["seconds"] < TARGET_SECONDS
    result = {
        "command": "python benchmarks/lightweight_isp_speed.py "
        f"--repeat {args.repeat} --threads {args.threads}",
        "size": [HEIGHT, WIDTH],
        "threads": args.threads,
        "machine": platform.processor() or platform.machine(),
        "rows": rows,
    }
    print(f"{'path':<70} {'ms':>8} {'× camera':>9}  < 30 ms  PSNR vs fp32")
    for row in rows:
        psnr = row.get("psnr_vs_float32_db")
        print(
            f"{row['path']:<70} {row['seconds'] * 1e3:8.1f} "
            f"{row['ratio_to_camera_default']:9.2f}  {row['meets_30ms']!s:<7}  "
            f"{'' if psnr is None else f'{psnr:.1f} dB'}"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
