"""LUT inverses of monotone per-channel stages.

* :mod:`ispengine.lut.table`: the tables (global 1-D and local 4-D) and how
  their nodes are solved;
* :mod:`ispengine.lut.cache`: the on-disk cache of 4-D tables;
* :mod:`ispengine.lut.backend`: the backend interface and the array-API
  reference backend (numpy, cupy);
* :mod:`ispengine.lut.inverse`: the ``lut`` inverse stage.

Backends (numpy, numba, cupy) are registered by the ``lut_backends`` plugin
through the ``ispengine_register_lut_backends`` hook.

Source: M. Yoshimura, J. Otsuka, R. Berdan, T. Ohashi, "SemiISP/SemiIE: Semi-Supervised
Image Signal Processor and Image Enhancement Leveraging One-to-Many Mapping
sRGB-to-RAW", arXiv:2504.02345, 2025, appendix A.2, Algorithm 1 (improved as
:mod:`ispengine.lut.table` describes).
"""
