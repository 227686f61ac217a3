"""Fast CPU kernels.

Fused Numba passes over runs of pixelwise stages and the RAW front end,
built from the kernel forms stages declare.
"""
