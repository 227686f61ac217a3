"""Executors: item order, error propagation, validation, and a real two-worker Dask cluster.

The work functions live at module level so the process pool and the Dask
workers can unpickle them by reference (``tests`` is a package, so workers
import ``tests.test_executors``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from ispengine.core.errors import InputError, ISPEngineError
from ispengine.io.executors import (
    DaskExecutor,
    Executor,
    ProcessExecutor,
    SerialExecutor,
    make_executor,
)

N_ITEMS = 8
STEP_S = 0.04


def reverse_sleep(i: int) -> tuple[int, int, float]:
    """Sleep longer for earlier items, so later items finish first."""
    time.sleep((N_ITEMS - 1 - i) * STEP_S)
    return i * i, os.getpid(), time.monotonic()


def fail_on_three(i: int) -> int:
    if i == 3:
        raise InputError("image 3 has NaN values")
    time.sleep(0.01)
    return i


def divide_by_item(i: int) -> float:
    return 1.0 / i


def slow_pid(_: int) -> int:
    time.sleep(0.1)
    return os.getpid()


@pytest.fixture(scope="module")
def process_executor():
    with make_executor("process", workers=2) as ex:
        yield ex


@pytest.fixture(scope="module")
def dask_executor():
    pytest.importorskip("distributed")
    with make_executor("dask", workers=2) as ex:
        yield ex


@pytest.fixture(params=["serial", "process", "dask"])
def executor(request):
    if request.param == "serial":
        with make_executor("serial") as ex:
            yield ex
    else:
        yield request.getfixturevalue(f"{request.param}_executor")


def test_names_and_types(executor):
    assert isinstance(executor, Executor)
    expected = {"serial": SerialExecutor, "process": ProcessExecutor, "dask": DaskExecutor}
    assert isinstance(executor, expected[executor.name])


def test_results_keep_item_order(executor):
    out = executor.map(reverse_sleep, range(N_ITEMS))
    assert [square for square, _, _ in out] == [i * i for i in range(N_ITEMS)]
    finished = [t for _, _, t in out]
    if executor.name == "serial":
        assert finished == sorted(finished)
    else:
        # The workers really did finish items out of order; map reordered them.
        assert finished != sorted(finished)


def test_empty_items(executor):
    assert executor.map(reverse_sleep, []) == []


def test_progress_label(executor):
    assert executor.map(divide_by_item, [1, 2, 4], progress="divide") == [1.0, 0.5, 0.25]


def test_engine_error_passes_through_unchanged(executor):
    with pytest.raises(InputError) as info:
        executor.map(fail_on_three, range(10), progress="fail")
    assert type(info.value) is InputError
    assert str(info.value) == "image 3 has NaN values"
    # The executor stays usable after a failed map.
    assert executor.map(divide_by_item, [2]) == [0.5]


def test_other_error_is_wrapped_with_item(executor):
    with pytest.raises(ISPEngineError) as info:
        executor.map(divide_by_item, [1, 2, 0, 4])
    assert type(info.value) is ISPEngineError
    assert str(info.value) == "item 0: ZeroDivisionError: float division by zero"
    assert isinstance(info.value.__cause__, ZeroDivisionError)


def test_dask_runs_on_two_worker_processes(dask_executor):
    pids = dask_executor.map(slow_pid, range(20), progress="pids")
    assert os.getpid() not in pids
    assert len(set(pids)) == 2


def test_process_pool_uses_worker_processes(process_executor):
    pids = process_executor.map(slow_pid, range(6))
    assert os.getpid() not in pids
    assert process_executor.start_method in ("forkserver", "spawn")


def test_process_executor_rejects_unpicklable_function(process_executor):
    with pytest.raises(ISPEngineError, match="module-level function"):
        process_executor.map(lambda i: i, [1])


def test_unknown_executor_name():
    with pytest.raises(ISPEngineError) as info:
        make_executor("ray")
    assert str(info.value) == "unknown executor 'ray'; choose one of: serial, process, dask"


@pytest.mark.parametrize("name", ["serial", "process", "dask"])
@pytest.mark.parametrize("workers", [0, -2, 1.5, True])
def test_workers_must_be_positive_int(name, workers):
    with pytest.raises(ISPEngineError, match="workers must be a positive integer"):
        make_executor(name, workers=workers)


def test_default_workers_is_cpu_count():
    with make_executor("process") as ex:
        assert ex.workers == (os.cpu_count() or 1)


def test_address_only_for_dask():
    with pytest.raises(ISPEngineError, match="dask executor"):
        make_executor("process", address="tcp://scheduler:8786")


def test_closed_executor_refuses_work():
    with make_executor("process", workers=1) as ex:
        assert ex.map(divide_by_item, [1, 2]) == [1.0, 0.5]
    assert ex.closed
    with pytest.raises(ISPEngineError, match="closed"):
        ex.map(divide_by_item, [1])


def test_dask_missing_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ISPEngineError) as info:
        make_executor("dask", workers=1)
    assert 'pip install "ispengine[dask]"' in str(info.value)
    assert "\n" not in str(info.value)


def test_import_is_lazy():
    code = (
        "import sys, ispengine.io.executors; "
        "print(sorted(m for m in ('dask', 'distributed', 'tqdm', 'torch') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
