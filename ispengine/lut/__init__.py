"""LUT inverses of monotone per-channel stages (methods.md §2, seed 000 Algorithm 1).

* :mod:`ispengine.lut.table`: the tables (global 1-D and local 4-D) and how
  their nodes are solved;
* :mod:`ispengine.lut.cache`: the on-disk cache of 4-D tables;
* :mod:`ispengine.lut.backend`: the backend interface and the array-API
  reference backend (numpy, cupy);
* :mod:`ispengine.lut.inverse`: the ``lut`` inverse stage.

Backends (numpy, numba, cupy) are registered by the ``lut_backends`` plugin
through the ``ispengine_register_lut_backends`` hook.
"""
