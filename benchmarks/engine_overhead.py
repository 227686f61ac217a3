"""Engine overhead: a TOML pipeline vs the same stage math called by hand, and CLI start-up.

Measures, in one run on this machine:
1. the shipped function ISP (CC → GA → GM → CS) and its inverse through
   ``Pipeline`` stage by stage (``fuse=False``: validation, finiteness check,
   parameter resolution included) against the same stages' ``apply`` called by
   hand with pre-resolved parameters, as a ratio (target ≤ 1.1, benchmarks.md),
   and the default fused pipeline for comparison;
2. the wall time of ``ispengine plugins`` and of ``python -c "import ispengine"``
   in fresh processes (target < 0.5 s, no torch import).

Usage: python benchmarks/engine_overhead.py [--size 3000x4000] [--repeat 5]
       [--json benchmarks/results/engine_overhead.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from timing import median_seconds

from ispengine import Pipeline
from ispengine.specs import shipped_specs


def _by_hand(pipeline: Pipeline, x: np.ndarray):
    resolved = []
    for stage in pipeline.stages:
        xp = np
        resolved.append((stage, stage.resolve(x, xp)))

    def run():
        y = x
        for stage, params in resolved:
            y = stage.apply(y, params, np)
        return y

    return run


def _process_seconds(args: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="3000x4000", help="HxW of the test image")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    height, width = (int(v) for v in args.size.lower().split("x"))
    x = np.random.default_rng(0).uniform(0, 1, (height, width, 3)).astype(np.float32)

    forward = Pipeline.from_toml(shipped_specs()["function_isp"])
    inverse = forward.inverse()
    y = forward(x)
    rows = []
    for label, pipeline, data in (("forward", forward, x), ("inverse", inverse, y)):
        engine = median_seconds(lambda p=pipeline, d=data: p(d, fuse=False), args.repeat)
        hand = median_seconds(_by_hand(pipeline, data), args.repeat)
        fused = median_seconds(lambda p=pipeline, d=data: p(d), args.repeat)
        rows.append(
            {
                "pipeline": f"function_isp {label}",
                "engine_s": engine,
                "by_hand_s": hand,
                "ratio": engine / hand,
                "engine_fused_s": fused,
            }
        )

    ispengine = str(Path(sys.executable).with_name("ispengine"))
    plugins_s = _process_seconds([ispengine, "plugins"], args.repeat)
    import_s = _process_seconds([sys.executable, "-c", "import ispengine"], args.repeat)
    torch_check = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, ispengine.cli as c; c.main(['plugins']); print('torch' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    result = {
        "command": " ".join(["python", "benchmarks/engine_overhead.py", *sys.argv[1:]]),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, python "
        f"{platform.python_version()}",
        "image": f"{height}x{width}x3 float32",
        "repeat": args.repeat,
        "pipelines": rows,
        "ispengine_plugins_s": plugins_s,
        "import_ispengine_s": import_s,
        "plugins_imports_torch": torch_check.stdout.strip().splitlines()[-1] == "True",
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
