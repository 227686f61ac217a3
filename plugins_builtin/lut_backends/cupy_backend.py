"""CuPy LUT backend: the lookups on CuPy arrays (GPU).

Where Numba's CUDA target runs on the device
(:func:`ispengine.kernels.cuda.runtime.runs_on_device`),
both lookups are one CUDA kernel each (:mod:`ispengine.kernels.cuda.lut`: the same
rules as the array-API reference, float64 per value, Newton steps inside the
kernel for stages with a scalar curve and derivative); otherwise the array-API
reference code runs on CuPy (many small elementwise kernels). Selected
automatically for CuPy inputs. Needs ``cupy`` (extra ``[cupy]``) and a CUDA
device; otherwise it reports itself unavailable.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from ispengine.kernels.cuda.runtime import runs_on_device
from ispengine.lut.backend import ArrayLutBackend, Curve
from ispengine.lut.table import LutTable


class CupyLutBackend(ArrayLutBackend):
    """LUT lookups on the GPU with CuPy (CUDA kernels where Numba's CUDA target runs)."""

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

    def global_lookup(
        self, y: Any, nodes: Any, y_lo: Any, y_hi: Any, params: Any, curve: Curve
    ) -> Any:
        if runs_on_device(y):
            from ispengine.kernels.cuda.lut import global_lookup_cuda

            return global_lookup_cuda(y, nodes, y_lo, y_hi, params, curve)
        return super().global_lookup(y, nodes, y_lo, y_hi, params, curve)

    def local_lookup(self, y: Any, params: Any, table: LutTable, curve: Curve) -> Any:
        if runs_on_device(y):
            from ispengine.kernels.cuda.lut import local_lookup_cuda

            return local_lookup_cuda(y, params, table, curve)
        return super().local_lookup(y, params, table, curve)
