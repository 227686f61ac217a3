"""Prepare training batches ahead of the step, in a background thread.

A :class:`Prefetcher` wraps ``make(index)``, the batch of (global) step ``index``:
numpy crops drawn from the trainer's Generator and turned into tensors on the device
(:meth:`~ispengine.learning.torch_runtime.TorchRuntime.tensor`: pinned memory and a
non-blocking copy on CUDA, so the copy overlaps the previous step's kernels).

* ``depth == 0``: :meth:`Prefetcher.get` calls ``make`` in the caller's thread.
* ``depth > 0``: the first :meth:`~Prefetcher.get` starts one daemon thread that calls
  ``make(index)``, ``make(index + 1)``, … in order and keeps at most ``depth`` finished
  batches in a bounded queue. One producer, in step order, so every random draw
  happens in the same order as without it: the batches are identical, as long as
  ``make`` is the only user of the Generator and of any torch Generator it draws
  from while training runs.

Checkpoints. The producer runs ahead of the step, so the Generator's own state is
ahead too; :attr:`Prefetcher.rng` stands in for the Generator in
:func:`~ispengine.learning.training.run_training`: its ``bit_generator.state`` is the
state right after the last batch *taken*, so a resumed run draws the batches the
interrupted one had not yet used (setting it, when a checkpoint is restored, sets the
Generator's, before the thread starts).

Shutdown. An exception in ``make`` is re-raised by the :meth:`~Prefetcher.get` that
would have returned its batch; :meth:`~Prefetcher.close` (also on leaving a ``with``
block, on an exception or ``KeyboardInterrupt`` too) stops the thread, drops what it
had queued, joins it and sets the Generator back to its state after the last batch
taken, so code drawing from it after training draws as it would without prefetching.
"""

from __future__ import annotations

import copy
import queue
import threading
from collections.abc import Callable
from typing import Any

#: Seconds between checks of the stop flag while the producer waits on a full queue.
_POLL = 0.05


class _RngView:
    """A Generator's stand-in for checkpoints: ``view.bit_generator.state``."""

    def __init__(self, owner: Prefetcher) -> None:
        self._owner = owner

    @property
    def bit_generator(self) -> _RngView:
        return self

    @property
    def state(self) -> dict[str, Any]:
        owner = self._owner
        if owner._taken_state is not None:
            return copy.deepcopy(owner._taken_state)
        return owner._rng.bit_generator.state

    @state.setter
    def state(self, value: dict[str, Any]) -> None:
        owner = self._owner
        if owner._thread is not None:
            raise RuntimeError("the prefetcher has started: its generator can no longer be set")
        owner._rng.bit_generator.state = value


class Prefetcher:
    """Batches ``make(index)`` for consecutive indices, ``depth`` ahead (module docstring).

    Args:
        make: the batch of one step index.
        depth: batches prepared ahead (0: none, no thread).
        rng: the numpy Generator ``make`` draws from (for :attr:`rng`), or ``None``.
    """

    def __init__(self, make: Callable[[int], Any], depth: int = 2, rng: Any = None) -> None:
        if isinstance(depth, bool) or int(depth) < 0:
            raise ValueError(f"prefetch depth must be >= 0, got {depth!r}")
        self._make, self.depth, self._rng = make, int(depth), rng
        self._queue: queue.Queue = queue.Queue(maxsize=max(self.depth, 1))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next: int | None = None
        self._taken_state: dict[str, Any] | None = None

    @property
    def rng(self) -> Any:
        """What to checkpoint in place of the Generator (module docstring)."""
        return None if self._rng is None else _RngView(self)

    @property
    def running(self) -> bool:
        """Whether the producer thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def get(self, index: int) -> Any:
        """The batch of step ``index`` (consecutive after the first call)."""
        if self.depth == 0:
            return self._make(index)
        if self._stop.is_set():  # closed, or its producer failed: nothing more will come
            raise RuntimeError("prefetcher: closed; no more batches")
        if self._thread is None:
            self._next = index
            if self._rng is not None:  # interrupted before any batch is taken: back here
                self._taken_state = copy.deepcopy(self._rng.bit_generator.state)
            self._thread = threading.Thread(
                target=self._produce, args=(index,), name="ispengine-prefetch", daemon=True
            )
            self._thread.start()
        if index != self._next:
            raise RuntimeError(f"prefetcher: asked for batch {index}, the next is {self._next}")
        made, batch, state = self._queue.get()
        if not made:
            self.close()
            raise batch
        self._next = index + 1
        self._taken_state = state
        return batch

    def _produce(self, index: int) -> None:
        while not self._stop.is_set():
            try:
                batch = self._make(index)
                state = None if self._rng is None else self._rng.bit_generator.state
                item = (True, batch, state)
            except BaseException as error:  # re-raised in the consumer's thread
                item = (False, error, None)
            while not self._stop.is_set():
                try:
                    self._queue.put(item, timeout=_POLL)
                    break
                except queue.Full:
                    continue
            if not item[0]:
                return
            index += 1

    def close(self) -> None:
        """Stop and join the producer thread, dropping the batches it had queued, and
        set the Generator back to its state after the last batch taken (so that what
        draws from it next draws as without prefetching)."""
        self._stop.set()
        thread = self._thread
        while thread is not None and thread.is_alive():
            try:
                while True:
                    self._queue.get_nowait()
            except queue.Empty:
                pass
            thread.join(timeout=_POLL)
        if self._rng is not None and self._taken_state is not None:
            self._rng.bit_generator.state = self._taken_state

    def __enter__(self) -> Prefetcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
