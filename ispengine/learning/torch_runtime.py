"""Where and how learned methods run torch: ``device``, ``precision``, ``prefetch``, ``threads``.

Every learned method and trainer declares the same setting objects
(:data:`DEVICE_SETTING`, :data:`PRECISION_SETTING`, :data:`PREFETCH_SETTING`, or all
three as :data:`LEARNING_SETTINGS`) and runs through one :class:`TorchRuntime`:

* ``device``: ``auto`` (CUDA when torch sees a CUDA device, else the CPU), ``cpu`` or
  ``cuda`` (a one-line :class:`ParamError` when torch sees none). Training and
  inference run there; results come back as numpy arrays on the host.
* ``precision``: ``float32`` (default: no autocast, results as before), ``bfloat16``
  (``torch.autocast`` around the forward pass and the loss, on the CPU or CUDA) or
  ``float16`` (autocast plus a ``torch.amp.GradScaler`` that scales the loss so small
  float16 gradients do not underflow; gradients are unscaled before clipping). float16
  needs CUDA: on the CPU it is a one-line :class:`ParamError` (use ``bfloat16``
  there). Weights and optimiser states stay float32 (mixed precision, Micikevicius
  et al. 2018); the scaler's state is not checkpointed (it re-calibrates in a few
  steps after a resume).
* ``prefetch``: how many batches a background thread prepares ahead of the training
  step (:mod:`ispengine.learning.prefetch`; 0: none, batches are made in the step).
  The batches and every random draw are the same either way.

torch is imported inside the functions only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
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
#: The choices of every learned method's ``precision`` setting.
PRECISIONS = ("float32", "bfloat16", "float16")
PRECISION_SETTING = OptionSpec(
    "precision",
    PRECISIONS,
    "float32",
    "float32, or mixed precision: bfloat16 autocast (CPU or CUDA) or float16 autocast "
    "with loss scaling (CUDA only)",
)
PREFETCH_SETTING = IntegerSetting(
    "prefetch",
    2,
    "training batches a background thread prepares ahead (0: none; same batches either way)",
    low=0,
    high=64,
)
#: The three settings every learned method and trainer declares, in this order.
LEARNING_SETTINGS = (DEVICE_SETTING, PRECISION_SETTING, PREFETCH_SETTING)
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


def check_precision(precision: str, device: Any) -> str:
    """``precision`` if it can run on the ``torch.device`` ``device``; float16 on the
    CPU (or an unknown name) is a one-line :class:`ParamError`."""
    if precision not in PRECISIONS:
        raise ParamError(
            key="precision", message=f"expected one of {', '.join(PRECISIONS)}, got {precision!r}"
        )
    if precision == "float16" and device.type != "cuda":
        raise ParamError(
            key="precision", message="'float16' needs a CUDA device; use 'bfloat16' on the CPU"
        )
    return precision


class TorchRuntime:
    """One method's device, precision and prefetch depth (see the module docstring).

    ``runtime.autocast()`` wraps a forward pass and its loss; ``runtime.step(loss,
    optimizer)`` is ``backward`` + ``optimizer.step()`` (through a GradScaler for
    float16, with optional gradient-norm clipping); ``runtime.batches(make, rng)``
    is the prefetcher of the training loop; ``runtime.tensor(array)`` puts a numpy
    array on the device (through pinned memory on CUDA).
    """

    def __init__(self, device: str = "auto", precision: str = "float32", prefetch: int = 0):
        self.device = torch_device(device)
        self.precision = check_precision(precision, self.device)
        self.prefetch = int(prefetch)
        self._scalers: dict[int, Any] = {}

    @classmethod
    def from_config(cls, config: Any) -> TorchRuntime:
        """From a method's settings (``device``, ``precision``, ``prefetch``; the
        defaults where one is not declared)."""
        return cls(
            config.get("device", "auto"),
            config.get("precision", "float32"),
            config.get("prefetch", 0),
        )

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    @property
    def dtype(self) -> Any:
        """The autocast dtype (``None`` for float32)."""
        import torch

        return {"bfloat16": torch.bfloat16, "float16": torch.float16}.get(self.precision)

    def autocast(self) -> Any:
        """A context running its block in the mixed precision. For float32 nothing on the
        CPU; on CUDA, TF32 is switched off inside the block (torch lets cuDNN convolutions
        use TF32 by default, which differs from float32 by about 1e-3), so float32 means
        float32 on every device; choose bfloat16 for speed."""
        if self.precision == "float32":
            return _strict_float32() if self.cuda else contextlib.nullcontext()
        import torch

        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def _scaler(self, optimizer: Any) -> Any:
        import torch

        key = id(optimizer)
        if key not in self._scalers:
            self._scalers[key] = torch.amp.GradScaler("cuda")
        return self._scalers[key]

    def step(self, loss: Any, optimizer: Any, *, clip: float = 0.0, parameters: Any = None) -> None:
        """``loss.backward()``, clip the gradient norm of ``parameters`` to ``clip``
        (when > 0) and ``optimizer.step()``; the float16 loss is scaled (one
        GradScaler per optimiser) and the gradients unscaled before clipping. The
        caller zeroes the gradients."""
        import torch

        if self.precision != "float16":
            loss.backward()
            if clip > 0:
                torch.nn.utils.clip_grad_norm_(parameters, clip)
            optimizer.step()
            return
        scaler = self._scaler(optimizer)
        scaler.scale(loss).backward()
        if clip > 0:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(parameters, clip)
        scaler.step(optimizer)
        scaler.update()

    def tensor(self, array: Any) -> Any:
        """A numpy array (or CPU tensor) as a tensor on the device: pinned and copied
        without blocking on CUDA, as is on the CPU (shares the numpy memory)."""
        import numpy as np
        import torch

        tensor = (
            torch.from_numpy(np.ascontiguousarray(array))
            if isinstance(array, np.ndarray)
            else array
        )
        if not self.cuda or tensor.device.type != "cpu":
            return tensor.to(self.device)
        return tensor.pin_memory().to(self.device, non_blocking=True)

    def batches(self, make: Callable[[int], Any], rng: Any = None) -> Any:
        """The :class:`~ispengine.learning.prefetch.Prefetcher` of ``make`` (the batch of
        a step index) at this runtime's depth; ``rng`` is the numpy Generator ``make``
        draws from (checkpoint its ``prefetcher.rng``)."""
        from ispengine.learning.prefetch import Prefetcher

        return Prefetcher(make, self.prefetch, rng)

    def output(self, tensor: Any) -> Any:
        """A result tensor as a float32 numpy array on the host."""
        return tensor.detach().float().cpu().numpy()


@contextlib.contextmanager
def _strict_float32() -> Iterator[None]:
    """TF32 off for cuBLAS and cuDNN inside the block, restored after it."""
    import torch

    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
