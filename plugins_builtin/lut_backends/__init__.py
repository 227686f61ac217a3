"""LUT backends: numpy (array-API reference), Numba (parallel CPU), CuPy (GPU).

Registered through ``ispengine_register_lut_backends``; each imports its
library only when used.

Source: the lookup-table inverse of M. Yoshimura, J. Otsuka, R. Berdan, T. Ohashi,
"SemiISP/SemiIE: Semi-Supervised Image Signal Processor and Image Enhancement Leveraging
One-to-Many Mapping sRGB-to-RAW", arXiv:2504.02345, 2025, appendix A.2, Algorithm 1
(with the improvements of :mod:`ispengine.lut.table`).
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
