"""Fused kernels are cached on disk: a second process loads them instead of compiling."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from ispengine.kernels.codegen import fingerprint

SCRIPT = """
import json, sys
import numpy as np
from ispengine import Pipeline
from ispengine.kernels.codegen import cache_stats

pipeline = Pipeline.from_dict({"stage": [{"type": "gain"}, {"type": "gamma_tone"}]})
x = np.linspace(0, 1, 4 * 6 * 3).reshape(4, 6, 3)
y = pipeline(x)
same = bool(np.allclose(y, pipeline(x, fuse=False), rtol=1e-9, atol=1e-12))
print(json.dumps({**cache_stats(), "same": same}))
"""
ROOT = Path(__file__).resolve().parents[1]


def _start(cache: Path) -> subprocess.Popen:
    env = {**os.environ, "ISPENGINE_CACHE_DIR": str(cache)}
    env.pop("NUMBA_CACHE_DIR", None)  # numba's files beside the kernels' sources (in tmp_path)
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT], env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True
    )


def _finish(process: subprocess.Popen) -> dict:
    out, _ = process.communicate(timeout=600)
    assert process.returncode == 0
    result = json.loads(out.strip().splitlines()[-1])
    assert result["same"]
    return result


def _run(cache: Path) -> dict:
    return _finish(_start(cache))


def test_a_second_process_loads_the_compiled_kernel(tmp_path):
    # two processes racing on an empty cache both work
    first = [_finish(p) for p in [_start(tmp_path), _start(tmp_path)]]
    assert all(r["misses"] >= 1 for r in first)
    sources = sorted((tmp_path / "kernels").glob("*.py"))
    assert sources
    second = _run(tmp_path)
    assert second["hits"] >= 1 and second["misses"] == 0

    # a corrupt source file is rewritten; corrupt Numba cache files are recompiled
    text = sources[0].read_text()
    sources[0].write_text("garbage(")
    for index in (tmp_path / "kernels" / "__pycache__").glob("*.nbi"):
        index.write_bytes(b"not a pickle")
    repaired = _run(tmp_path)
    assert sources[0].read_text() == text
    assert repaired["misses"] >= 1
    again = _run(tmp_path)
    assert again["hits"] >= 1 and again["misses"] == 0


def test_an_unwritable_cache_folder_compiles_in_memory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = _run(blocker / "cache")  # cannot be created: no error, no cached kernels
    assert result["hits"] == 0 and result["misses"] == 0


def test_fingerprints_follow_code_and_closures():
    def make(k):
        def f(x):
            return x * k

        return f

    assert fingerprint(make(2)) == fingerprint(make(2))
    assert fingerprint(make(2)) != fingerprint(make(3))
    assert fingerprint(np.zeros(2)) != fingerprint(np.ones(2))
