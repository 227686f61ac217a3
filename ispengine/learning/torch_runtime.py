"""Where and how learned methods run torch: the ``device`` and ``threads`` settings.

torch is imported inside the functions only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from ispengine.core.errors import ParamError
from ispengine.core.settings import IntegerSetting, OptionSpec

#: The choices of every learned method's ``device`` setting.
DEVICES = ("auto", "cpu", "cuda")

#: The settings learned methods share: where torch runs, how many CPU threads, how
#: often training saves its checkpoint.
DEVICE_SETTING = OptionSpec(
    "device", DEVICES, "auto", "torch device: auto (CUDA if available), cpu or cuda"
)
THREADS_SETTING = IntegerSetting(
    "threads", 0, "torch CPU threads in fit/convert (0: torch's default)", low=0, high=1024
)
CHECKPOINT_EVERY_SETTING = IntegerSetting(
    "checkpoint_every", 200, "training steps between checkpoint saves", low=1, high=1e9
)


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
