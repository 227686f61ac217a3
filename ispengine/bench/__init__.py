"""Benchmark harnesses: the sRGB-to-RAW and RAW-to-sRGB head-to-head protocols (spec, shared
runner, reports, figures)."""
