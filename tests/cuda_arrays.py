"""Where the CUDA kernel tests run: Numba's CUDA simulator on numpy arrays (no GPU; set
up by ``conftest.py``), or a GPU on CuPy arrays. Not a test module."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ispengine.kernels.cuda.runtime import cuda_runs, simulator_enabled


def _array_module() -> tuple[Any, str]:
    if not cuda_runs():
        return None, "numba.cuda cannot run here (no CUDA GPU with CuPy, simulator off)"
    if simulator_enabled():
        return np, "simulator"
    import cupy

    return cupy, "cupy"


XP, WHERE = _array_module()
#: Marks a test that needs the CUDA kernels to run (simulator or GPU).
needs_cuda = pytest.mark.skipif(XP is None, reason=WHERE)
#: Marks a test that needs a real GPU (CuPy arrays through the pipeline's dispatch).
needs_gpu = pytest.mark.skipif(
    XP is None or XP is np, reason="needs a CUDA GPU with CuPy (the simulator takes numpy)"
)


def device(a: np.ndarray) -> Any:
    """``a`` where the kernels take it: numpy under the simulator, CuPy on a GPU."""
    return a if XP is np else XP.asarray(a)


def host(a: Any) -> np.ndarray:
    """A kernel result as numpy."""
    return a if isinstance(a, np.ndarray) else a.get()
