"""Where and how learned methods run torch: the ``device`` and ``threads`` settings.

torch is imported inside the functions only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from ispengine.core.errors import ParamError

#: The choices of every learned method's ``device`` setting.
DEVICES = ("auto", "cpu", "cuda")


def torch_device(wanted: str) -> Any:
    """The ``torch.device`` for a ``device`` setting: ``auto`` (CUDA when torch sees it),
    ``cpu`` or ``cuda`` (a :class:`ParamError` when torch sees no CUDA device)."""
    import torch

    if wanted not in DEVICES:
        raise ParamError(
            key="device", message=f"expected one of {', '.join(DEVICES)}, got {wanted!r}"
        )
    if wanted == "auto":
        wanted = "cuda" if torch.cuda.is_available() else "cpu"
    if wanted == "cuda" and not torch.cuda.is_available():
        raise ParamError(key="device", message="'cuda' requested but torch sees no CUDA device")
    return torch.device(wanted)


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run the block with ``threads`` torch CPU threads (0: leave torch's default)."""
    import torch

    if not threads:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
