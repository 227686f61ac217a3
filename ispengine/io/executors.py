"""Run one function over many small work items: serially, on a process pool, or on Dask.

Dataset-scale work (converting folders of images, generating RAW pairs,
benchmarking) is a map of a module-level function over small picklable items,
typically file paths. The architecture ("Scale") fixes how that map is run:

* one machine: a process pool over files (:class:`ProcessExecutor`, built on
  :class:`concurrent.futures.ProcessPoolExecutor`);
* beyond one machine: an existing distributed engine, Dask
  (:class:`DaskExecutor`, built on :mod:`dask.distributed`), never a
  home-made cluster;
* :class:`SerialExecutor` runs in the calling process, for tests and for
  debugging with breakpoints and plain tracebacks.

All three share one contract, :class:`Executor`::

    from ispengine.io.executors import make_executor

    with make_executor("process", workers=8) as ex:
        results = ex.map(convert_one, paths, progress="convert")

``map`` returns the results in the order of the items whatever order they
complete in; a ``progress`` label shows a tqdm bar on stderr that advances as
items complete. When the function raises for an item the remaining items are
cancelled and the error is raised: an :class:`~ispengine.core.errors.ISPEngineError`
(such as :class:`~ispengine.core.errors.InputError`) passes through unchanged, so
the CLI prints its one-line message; any other exception is wrapped in an
``ISPEngineError`` naming the item, ``item 'a.dng': ValueError: ...`` (an
``OSError`` names its file instead, ``o/b.png: Is a directory``).

Pointing the work at a cluster: start a Dask scheduler and workers on the
machines (``dask scheduler`` on one, ``dask worker tcp://scheduler:8786`` on
each; every worker needs the same ``ispengine`` and plugins installed and the
input files on a path it can read), then::

    with make_executor("dask", address="tcp://scheduler:8786") as ex:
        results = ex.map(convert_one, paths)

Without ``address`` the Dask executor starts a :class:`distributed.LocalCluster`
of ``workers`` single-threaded worker processes on this machine, which
exercises the same code path as a real cluster. Dask is an optional
dependency (``pip install "ispengine[dask]"``); it and tqdm are imported only
when used, so importing this module stays cheap.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import pickle
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from types import TracebackType
from typing import Any, Protocol, runtime_checkable

from ispengine.core.errors import ISPEngineError

__all__ = [
    "EXECUTORS",
    "DaskExecutor",
    "Executor",
    "ProcessExecutor",
    "SerialExecutor",
    "make_executor",
]

#: Names accepted by :func:`make_executor`.
EXECUTORS = ("serial", "process", "dask")

_DASK_MISSING = 'the dask executor needs Dask: pip install "ispengine[dask]"'


@runtime_checkable
class Executor(Protocol):
    """Maps a picklable function over items and returns the results in item order."""

    name: str

    def map(
        self, fn: Callable[[Any], Any], items: Iterable[Any], *, progress: str | None = None
    ) -> list[Any]:
        """Return ``[fn(item) for item in items]``, computed by this executor.

        ``progress`` is a label for a tqdm bar on stderr; ``None`` shows none.
        """
        ...

    def close(self) -> None:
        """Release the executor's workers; ``map`` raises afterwards."""
        ...

    def __enter__(self) -> Executor: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


def _item_error(item: Any, error: BaseException) -> ISPEngineError:
    """Return ``error`` itself when it is an engine error, else one naming ``item``."""
    if isinstance(error, ISPEngineError):
        return error
    if isinstance(error, OSError) and error.filename:  # the file says more than the item
        return ISPEngineError(f"{error.filename}: {error.strerror or error}")
    label = repr(item)
    if len(label) > 80:
        label = label[:77] + "..."
    return ISPEngineError(f"item {label}: {type(error).__name__}: {error}")


def _raise_item_error(item: Any, error: BaseException) -> None:
    """Raise the error for ``item``; a wrapped error keeps the original as its cause."""
    wrapped = _item_error(item, error)
    if wrapped is error:
        raise error
    raise wrapped from error


class _ProgressBar:
    """A tqdm bar on stderr when a label is given, otherwise nothing."""

    def __init__(self, label: str | None, total: int) -> None:
        self._bar = None
        if label is not None:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=label, file=sys.stderr, unit="item")

    def update(self) -> None:
        if self._bar is not None:
            self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def __enter__(self) -> _ProgressBar:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _ExecutorBase:
    """Context-manager and closed-state handling shared by the executors."""

    name = "base"

    def __init__(self) -> None:
        self._closed = False

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has run."""
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise ISPEngineError(f"the {self.name} executor is closed")

    def _shutdown(self) -> None:
        """Release backend resources; called once by :meth:`close`."""

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._shutdown()

    def __enter__(self):
        self._check_open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return f"<{type(self).__name__}{state}>"


class SerialExecutor(_ExecutorBase):
    """Runs every item in the calling process, one after the other."""

    name = "serial"

    def map(
        self, fn: Callable[[Any], Any], items: Iterable[Any], *, progress: str | None = None
    ) -> list[Any]:
        self._check_open()
        items = list(items)
        results = []
        with _ProgressBar(progress, len(items)) as bar:
            for item in items:
                try:
                    results.append(fn(item))
                except Exception as error:
                    _raise_item_error(item, error)
                bar.update()
        return results


def _start_method() -> str:
    """The multiprocessing start method of the process pool.

    Not ``fork``: the parent may already run threads (numba's threading layer
    after a parallel kernel, tqdm's monitor, a Dask client) and forking a
    threaded process can deadlock on locks held by threads that do not exist in
    the child; numba's ``workqueue`` layer aborts outright and OpenMP layers are
    documented as not fork-safe. ``forkserver`` forks workers from a small
    single-threaded server process started once, so it is safe and cheaper than
    ``spawn`` for repeated pools; it is the POSIX choice (and Python 3.14's
    default on Linux). ``spawn`` is the fallback where there is no forkserver
    (Windows).
    """
    methods = multiprocessing.get_all_start_methods()
    return "forkserver" if "forkserver" in methods else "spawn"


class ProcessExecutor(_ExecutorBase):
    """Runs items on a pool of worker processes on this machine.

    The pool starts on the first :meth:`map` and is reused until :meth:`close`.
    ``fn`` and the items are pickled to the workers, so ``fn`` must be a
    module-level function of an importable module.
    """

    name = "process"

    def __init__(self, workers: int | None = None) -> None:
        super().__init__()
        self.workers = _check_workers(workers) or os.cpu_count() or 1
        self.start_method = _start_method()
        self._pool: ProcessPoolExecutor | None = None

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context(self.start_method)
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context)
        return self._pool

    def map(
        self, fn: Callable[[Any], Any], items: Iterable[Any], *, progress: str | None = None
    ) -> list[Any]:
        self._check_open()
        items = list(items)
        if not items:
            return []
        try:
            pickle.dumps(fn)
        except Exception as error:
            raise ISPEngineError(
                f"the process executor needs a module-level function, got {fn!r}: {error}"
            ) from error
        pool = self._get_pool()
        futures = [pool.submit(fn, item) for item in items]
        index_of: dict[Future[Any], int] = {future: i for i, future in enumerate(futures)}
        try:
            with _ProgressBar(progress, len(items)) as bar:
                for future in as_completed(futures):
                    error = future.exception()
                    if error is not None:
                        if isinstance(error, BrokenProcessPool):
                            self._discard_pool()
                        _raise_item_error(items[index_of[future]], error)
                    bar.update()
        finally:
            for future in futures:
                future.cancel()
        return [future.result() for future in futures]

    def _discard_pool(self) -> None:
        """Drop a pool whose worker died so the next map starts a fresh one."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def _shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return f"<ProcessExecutor workers={self.workers} start={self.start_method}{state}>"


class DaskExecutor(_ExecutorBase):
    """Runs items on a Dask cluster: an existing one at ``address``, else a local one.

    The local cluster has ``workers`` worker processes of one thread each
    (the engine's kernels are CPU-bound and hold the GIL or use their own
    threads). ``workers`` is ignored when ``address`` is given: the cluster's
    own workers run the items. Workers must be able to import ``fn``'s module.
    """

    name = "dask"

    def __init__(self, workers: int | None = None, address: str | None = None) -> None:
        super().__init__()
        workers = _check_workers(workers)
        try:
            import distributed
        except ImportError as error:
            raise ISPEngineError(_DASK_MISSING) from error
        self._distributed = distributed
        self.address = address
        self._cluster = None
        if address is None:
            self.workers = workers or os.cpu_count() or 1
            with _quiet_worker_logs():
                self._cluster = distributed.LocalCluster(
                    n_workers=self.workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                )
            try:
                self._client = distributed.Client(self._cluster, set_as_default=False)
                self._client.wait_for_workers(self.workers)
            except BaseException:
                self._cluster.close()
                raise
        else:
            self.workers = workers
            try:
                self._client = distributed.Client(address, set_as_default=False)
            except (OSError, TimeoutError) as error:
                raise ISPEngineError(
                    f"cannot connect to the Dask scheduler at {address}: {error}"
                ) from error

    @property
    def client(self):
        """The :class:`distributed.Client` the items are submitted through."""
        return self._client

    def map(
        self, fn: Callable[[Any], Any], items: Iterable[Any], *, progress: str | None = None
    ) -> list[Any]:
        self._check_open()
        items = list(items)
        if not items:
            return []
        futures = self._client.map(fn, items, pure=False)
        index_of = {future.key: i for i, future in enumerate(futures)}
        try:
            with _ProgressBar(progress, len(items)) as bar:
                for future in self._distributed.as_completed(futures, loop=self._client.loop):
                    if future.status != "finished":
                        try:
                            future.result()
                        except Exception as error:
                            _raise_item_error(items[index_of[future.key]], error)
                    bar.update()
            return self._client.gather(futures)
        finally:
            self._client.cancel(futures)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
            # Ctrl-C reached the workers too: what they and the nannies log while the
            # cluster goes down (cancelled tasks, tracebacks) is noise, not news.
            logging.getLogger("distributed").setLevel(logging.CRITICAL + 1)
        super().__exit__(exc_type, exc, tb)

    def _shutdown(self) -> None:
        try:
            self._client.close()
        finally:
            if self._cluster is not None:
                self._cluster.close()
                self._cluster = None

    def __repr__(self) -> str:
        where = self.address or f"local workers={self.workers}"
        state = " closed" if self._closed else ""
        return f"<DaskExecutor {where}{state}>"


@contextlib.contextmanager
def _quiet_worker_logs() -> Iterator[None]:
    """Local Dask workers started here log errors only (their warnings about cancelled
    work are noise on a command line), unless ``DASK_LOGGING__DISTRIBUTED`` says otherwise."""
    key = "DASK_LOGGING__DISTRIBUTED"
    if key in os.environ:
        yield
        return
    os.environ[key] = "error"
    try:
        yield
    finally:
        os.environ.pop(key, None)


def _check_workers(workers: int | None) -> int | None:
    """Return ``workers`` when it is ``None`` or a positive int, else raise."""
    if workers is None:
        return None
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ISPEngineError(f"workers must be a positive integer, got {workers!r}")
    return workers


def make_executor(
    name: str = "process", workers: int | None = None, address: str | None = None
) -> Executor:
    """Return the executor called ``name``: ``"serial"``, ``"process"`` or ``"dask"``.

    ``workers`` is the number of worker processes (default: the CPU count);
    ``address`` is a Dask scheduler address such as ``"tcp://scheduler:8786"``
    and applies to ``"dask"`` only. Use the result as a context manager so its
    workers are shut down.
    """
    _check_workers(workers)
    if name not in EXECUTORS:
        raise ISPEngineError(f"unknown executor {name!r}; choose one of: {', '.join(EXECUTORS)}")
    if address is not None and name != "dask":
        raise ISPEngineError(f"a scheduler address applies to the dask executor, not {name!r}")
    if name == "serial":
        return SerialExecutor()
    if name == "process":
        return ProcessExecutor(workers)
    return DaskExecutor(workers, address)
