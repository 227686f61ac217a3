"""CUDA twins of the fused Numba passes and of the LUT lookups (Numba CUDA kernels).

The same declared kernel forms (:mod:`ispengine.core.capabilities`) that the CPU
passes compile with ``numba.njit`` are compiled here with
``numba.cuda.jit(device=True)`` and called from one CUDA kernel per pass:

* :mod:`.chain`: a fused RGB chain (:func:`.chain.run_fused_cuda`);
* :mod:`.front_end`: the camera front end (:func:`.front_end.run_mosaic_fused_cuda`);
* :mod:`.lut`: the global and local LUT lookups (:func:`.lut.global_lookup_cuda`,
  :func:`.lut.local_lookup_cuda`).

They take any array with ``__cuda_array_interface__`` (CuPy on a GPU) and return CuPy
arrays there; under Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) they take and
return numpy arrays, which is how the tests run them without a GPU. Nothing here
imports ``numba.cuda`` until a kernel is built (:mod:`.runtime`), so importing
``ispengine`` never does.
"""

from ispengine.kernels.cuda.runtime import cuda_runs, is_cuda_array

__all__ = ["cuda_runs", "is_cuda_array"]
