"""RAW camera data: the :class:`RawImage` model, LibRaw reading and DNG writing."""

from ispengine.io.raw.image import CameraColour, CaptureParams, RawImage, camera_to_srgb_from_xyz

__all__ = ["CameraColour", "CaptureParams", "RawImage", "camera_to_srgb_from_xyz"]
