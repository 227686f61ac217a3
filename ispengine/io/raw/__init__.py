"""RAW camera data: the :class:`RawImage` model, LibRaw reading and DNG writing."""

from ispengine.io.raw.image import CaptureParams, RawImage, camera_to_srgb_from_xyz

__all__ = ["CaptureParams", "RawImage", "camera_to_srgb_from_xyz"]
