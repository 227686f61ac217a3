"""``pipeline``: a fixed pipeline spec as a RAW-to-sRGB method.

Renders a RAW the way ``ispengine run SPEC photo.dng out.png`` develops it: the
spec's :class:`~ispengine.core.pipeline.Pipeline` on the RAW's raw digital
numbers (a normalised RAW is first mapped back to them, ``x·(white − black) +
black``), every camera-specific value taken from the RAW's own metadata. The
default spec, ``camera_default``, is black level → white balance → highlight
clip at the white point (LibRaw's default) → Malvar–He–Cutler demosaic →
camera-to-sRGB matrix → sRGB OETF; its output is clipped to [0, 1]. Nothing is
learned: ``fit`` does nothing and the method has no parameters, so it is the
fixed reference row of ``ispengine bench raw2srgb``.

Source: Adobe, "Digital Negative (DNG) Specification" 1.6, 2021, chapter 6
(mapping raw values to linear reference values); H. S. Malvar, L.-W. He,
R. Cutler, "High-quality linear interpolation for demosaicing of
Bayer-patterned color images", ICASSP 2004; IEC 61966-2-1:1999 (the sRGB OETF).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ispengine.core.errors import InputError
from ispengine.core.settings import PathSetting
from ispengine.io.raw.image import CaptureParams, RawImage
from ispengine.learning.raw_to_srgb import RawToSrgbMethod
from ispengine.specs import shipped_specs


class PipelineRawToSrgb(RawToSrgbMethod):
    """A fixed pipeline spec (shipped name or TOML path) rendering RAW to sRGB."""

    name = "pipeline"
    summary = "a fixed pipeline spec (default camera_default) as a RAW-to-sRGB method"
    settings = (
        PathSetting(
            "spec",
            "camera_default",
            "the pipeline spec, RAW mosaic → sRGB (shipped name or TOML path)",
            names=tuple(sorted(shipped_specs())),
        ),
    )

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self._pipeline: Any = None

    @property
    def pipeline(self) -> Any:
        """The spec's :class:`~ispengine.core.pipeline.Pipeline` (loaded on first use)."""
        if self._pipeline is None:
            from ispengine.core.pipeline import Pipeline
            from ispengine.specs import resolve_spec

            self._pipeline = Pipeline.from_toml(resolve_spec(str(self.config["spec"])))
        return self._pipeline

    def render(self, raw: RawImage, *, capture: CaptureParams | None = None) -> np.ndarray:
        from ispengine.io.raw.levels import denormalize

        if not isinstance(raw, RawImage):
            raise InputError(f"pipeline: expected a RawImage, got {type(raw).__name__}")
        if raw.normalized:
            raw = raw.evolve(mosaic=denormalize(raw).astype(np.float32), normalized=False)
        if capture is not None:
            raw = raw.evolve(capture=capture)
        rendered = np.asarray(self.pipeline(raw), dtype=np.float32)
        if rendered.shape != (*raw.shape, 3):
            raise InputError(
                f"pipeline: spec {self.config['spec']} gives shape {rendered.shape}, "
                f"not an sRGB image {(*raw.shape, 3)}"
            )
        return np.clip(rendered, 0.0, 1.0)
