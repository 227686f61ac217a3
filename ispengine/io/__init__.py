"""Files in and out.

Camera RAW reading, DNG writing, image files, EXIF, atomic writes and
batch conversion on executors.
"""
