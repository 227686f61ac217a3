"""Fast kernels.

Fused Numba passes over runs of pixelwise stages and the RAW front end,
built from the kernel forms stages declare, and their CUDA twins for GPU arrays
(:mod:`ispengine.kernels.cuda`).
"""
