"""CuPy LUT backend: the array-API reference lookups on CuPy arrays (GPU).

The same code as the numpy reference, run by CuPy's elementwise kernels;
selected automatically for CuPy inputs. Needs ``cupy`` (extra ``[cupy]``) and
a CUDA device; otherwise it reports itself unavailable.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from ispengine.lut.backend import ArrayLutBackend


class CupyLutBackend(ArrayLutBackend):
    """LUT lookups on the GPU with CuPy."""

    name = "cupy"

    @classmethod
    def available(cls) -> bool:
        if importlib.util.find_spec("cupy") is None:
            return False
        try:
            import cupy

            return cupy.cuda.runtime.getDeviceCount() > 0
        except Exception:  # no driver, no device
            return False

    @classmethod
    def accepts(cls, y: Any) -> bool:
        return type(y).__module__.startswith("cupy")

    @property
    def xp(self) -> Any:  # type: ignore[override]
        import array_api_compat.cupy

        return array_api_compat.cupy
