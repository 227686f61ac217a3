"""Learned methods' interfaces and tools.

The sRGB-to-RAW method interface, the training loop, paired datasets and
crops, weights files and image-quality metrics.
"""
