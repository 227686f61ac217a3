"""Atomic file output: write to a temporary file beside the target, then rename.

A failed write leaves no partial file and never replaces an existing good file.
The result gets the permissions of the file it replaces, or the usual
``0666 & ~umask`` for a new file.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _new_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` atomically.

    The temporary file keeps the target's suffix so format-sniffing writers work.
    Errors about the folder name the target, not the temporary file; a target
    that is a folder is refused before anything is written.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(2, "no such folder", str(folder))
    if path.is_dir():  # found before any work is written, and named as the target
        raise IsADirectoryError(21, "is a folder, not a file that can be written", str(path))
    try:
        handle, temporary = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=path.suffix, dir=folder
        )
    except OSError as error:
        raise type(error)(error.errno, error.strerror, str(path)) from None
    os.close(handle)
    temporary_path = Path(temporary)
    try:
        yield temporary_path
        with open(temporary_path, "rb+") as written:
            os.fsync(written.fileno())
        mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else _new_file_mode()
        os.chmod(temporary_path, mode)
        os.replace(temporary_path, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary_path.unlink()
