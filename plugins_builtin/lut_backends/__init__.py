"""LUT backends: numpy (array-API reference), Numba (parallel CPU), CuPy (GPU).

Registered through ``ispengine_register_lut_backends``; each imports its
library only when used.
"""

from ispengine.core.hookspecs import hookimpl
from ispengine.lut.backend import ArrayLutBackend
from plugins_builtin.lut_backends.cupy_backend import CupyLutBackend
from plugins_builtin.lut_backends.numba_backend import NumbaLutBackend


@hookimpl
def ispengine_register_lut_backends(register):
    register(ArrayLutBackend)
    register(NumbaLutBackend)
    register(CupyLutBackend)
