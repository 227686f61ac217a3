"""Benchmark harnesses: the sRGB-to-RAW head-to-head protocol (spec, runner, report, figures)."""
