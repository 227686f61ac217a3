"""Whether CUDA kernels can run, device functions, launches and device arrays.

* :func:`cuda_runs`: ``numba.cuda`` imports and either a CUDA device and CuPy are
  present, or Numba's CUDA simulator is enabled (``NUMBA_ENABLE_CUDASIM=1``, set
  before ``numba.cuda`` is first imported; kernels then run as Python threads on
  numpy arrays).
* :func:`device_function`: a stage's plain-Python kernel function (or the Python
  function of a Numba CPU dispatcher) compiled as a CUDA device function,
  ``numba.cuda.jit(device=True)``, once per function for the process.
* :func:`launch`: one launch of a grid-stride kernel over ``n`` work items on the
  input's stream: ``threads = 256`` per block and ``blocks = min(ceil(n / 256),
  32 · SMs)`` (each thread loops ``q = start, start + stride, ...``, ``stride`` the
  grid's size); under the simulator 16 threads and at most 8 blocks, to keep the
  number of Python threads small. Arrays with ``__cuda_array_interface__`` (CuPy)
  are wrapped without the stream synchronisation Numba does by default, and the
  kernel is launched on CuPy's current stream, so a call never waits on the host.
  :data:`launches` counts launches per kernel name (tests check that a path ran).
* :func:`upload`: constant parameters copied to the device once, cached by their
  bytes (small arrays) or by identity (large tables).
* :func:`empty`: an output array of the input's kind (CuPy on a GPU, numpy under the
  simulator); :func:`like_input` returns a result as the input's array type (a
  torch tensor for a torch input).
"""

from __future__ import annotations

import collections
import functools
import importlib.util
import os
import sys
from typing import Any

import numpy as np

#: Kernel launches per kernel name in this process.
launches: collections.Counter[str] = collections.Counter()

THREADS = 256
SIMULATOR_THREADS = 16
SIMULATOR_BLOCKS = 8
BLOCKS_PER_SM = 32
# Parameter arrays up to this size are cached by their bytes; larger ones by identity.
BYTES_KEY_LIMIT = 1 << 20
_CACHE_ENTRIES = 256

_uploads: collections.OrderedDict[Any, Any] = collections.OrderedDict()
_streams: dict[int, Any] = {}
_device_functions: dict[Any, Any] = {}


def simulator_enabled() -> bool:
    """Whether Numba's CUDA simulator is (or will be) in use."""
    if "numba" in sys.modules:
        import numba

        return bool(numba.config.ENABLE_CUDASIM)
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


@functools.cache
def cuda_runs() -> bool:
    """Whether CUDA kernels can run here (see the module docstring)."""
    if importlib.util.find_spec("numba") is None:
        return False
    try:
        from numba import cuda

        if simulator_enabled():
            return True
        if importlib.util.find_spec("cupy") is None:
            return False
        return bool(cuda.is_available())
    except Exception:  # no driver, broken toolkit
        return False


def is_cuda_array(x: Any) -> bool:
    """Whether ``x`` is a CuPy array (on the GPU), the arrays the CUDA passes take.

    Torch CUDA tensors are not: they may carry autograd, which a Numba kernel would
    drop (and torch refuses ``__cuda_array_interface__`` on a tensor that requires
    grad), so they keep the array-API path."""
    return type(x).__module__.split(".", 1)[0] == "cupy" and hasattr(x, "__cuda_array_interface__")


def runs_on_device(x: Any) -> bool:
    """Whether a fused pass over ``x`` should run the CUDA kernels: a GPU array, and
    CUDA kernels can run on a real device (the simulator takes numpy arrays only)."""
    return is_cuda_array(x) and cuda_runs() and not simulator_enabled()


def cuda() -> Any:
    """The ``numba.cuda`` module (imported on first use)."""
    from numba import cuda as module

    return module


def device_function(function: Any) -> Any:
    """``function`` compiled as a CUDA device function (cached per function); a Numba
    CPU dispatcher is replaced by its Python function."""
    python = getattr(function, "py_func", function)
    if python not in _device_functions:
        _device_functions[python] = cuda().jit(device=True)(python)
    return _device_functions[python]


def device_jit(function: Any) -> Any:
    """The ``jit`` that kernel factories take (``PixelKernel.factory(jit)``,
    ``DemosaicKernel.estimates(jit)``): compiles one helper as a device function."""
    return device_function(function)


def kernel(function: Any) -> Any:
    """``function`` compiled as a CUDA kernel."""
    return cuda().jit(function)


def _sm_count() -> int:
    try:
        return int(cuda().get_current_device().MULTIPROCESSOR_COUNT)
    except Exception:  # simulator or no attribute
        return 132


@functools.cache
def _max_blocks() -> int:
    return BLOCKS_PER_SM * _sm_count()


def configuration(n: int) -> tuple[int, int]:
    """``(blocks, threads per block)`` of a grid-stride launch over ``n`` items."""
    if simulator_enabled():
        threads = SIMULATOR_THREADS
        return max(1, min(-(-n // threads), SIMULATOR_BLOCKS)), threads
    return max(1, min(-(-n // THREADS), _max_blocks())), THREADS


def _stream() -> Any:
    """CuPy's current stream as a Numba stream (0: the default stream)."""
    import cupy

    pointer = int(cupy.cuda.get_current_stream().ptr)
    if pointer not in _streams:
        module = cuda()
        _streams[pointer] = (
            module.default_stream() if pointer == 0 else module.external_stream(pointer)
        )
    return _streams[pointer]


def _argument(value: Any) -> Any:
    if is_cuda_array(value) and not hasattr(value, "copy_to_host"):
        return cuda().as_cuda_array(value, sync=False)
    return value


def launch(name: str, compiled: Any, n: int, *args: Any) -> None:
    """Launch ``compiled`` (a grid-stride kernel) over ``n`` items with ``args``."""
    launches[name] += 1
    blocks, threads = configuration(n)
    if simulator_enabled():  # it copies numpy arguments back: read-only ones are copied
        compiled[blocks, threads](
            *(
                np.array(a) if isinstance(a, np.ndarray) and not a.flags.writeable else a
                for a in args
            )
        )
        return
    compiled[blocks, threads, _stream()](*(_argument(a) for a in args))


def array_module(x: Any) -> Any:
    """numpy for numpy arrays (the simulator), else CuPy."""
    if isinstance(x, np.ndarray):
        return np
    import cupy

    return cupy


def as_array(x: Any) -> Any:
    """``x`` as a numpy or CuPy array (a torch or other CUDA array viewed by CuPy)."""
    if isinstance(x, np.ndarray) or type(x).__module__.startswith("cupy"):
        return x
    if is_cuda_array(x):
        import cupy

        return cupy.asarray(x)
    return np.asarray(x)


def like_input(result: Any, x: Any) -> Any:
    """``result`` as ``x``'s array type (torch for torch inputs, else as is)."""
    if type(x).__module__.startswith("torch"):
        import torch

        return torch.as_tensor(result, device=x.device)
    return result


def empty(shape: tuple[int, ...], dtype: Any, like: Any) -> Any:
    """An uninitialised array on ``like``'s side (numpy under the simulator)."""
    return array_module(like).empty(shape, dtype=dtype)


def zeros(shape: tuple[int, ...], dtype: Any, like: Any) -> Any:
    return array_module(like).zeros(shape, dtype=dtype)


def _device_id(like: Any) -> int:
    """The GPU ``like`` lives on (CuPy's ``device.id``; 0 when it has none)."""
    return int(getattr(getattr(like, "device", None), "id", 0))


def upload(values: Any, like: Any) -> Any:
    """``values`` (numpy) on ``like``'s device, copied once and cached (see the
    module docstring); device arrays and simulator inputs are returned as they are."""
    if not isinstance(values, np.ndarray) or isinstance(like, np.ndarray):
        return values
    values = np.ascontiguousarray(values)
    gpu = _device_id(like)
    if values.nbytes <= BYTES_KEY_LIMIT:
        key: Any = ("bytes", gpu, values.dtype.str, values.shape, values.tobytes())
        keep = None
    else:
        key = ("id", gpu, id(values), values.dtype.str, values.shape)
        keep = values  # held so that the id is not reused while cached
    if key in _uploads:
        _uploads.move_to_end(key)
        return _uploads[key][0]
    import cupy

    with cupy.cuda.Device(gpu):  # the input's GPU, not the current one
        device = cupy.asarray(values)
    _uploads[key] = (device, keep)
    while len(_uploads) > _CACHE_ENTRIES:
        _uploads.popitem(last=False)
    return device


def upload_for(owners: tuple[Any, ...], values: np.ndarray, like: Any) -> Any:
    """:func:`upload` of ``values`` built from the arrays ``owners`` (e.g. a chain's
    per-stage parameters), found again by the owners' identity without hashing the
    bytes (the owners are held, so their ids stay theirs)."""
    if isinstance(like, np.ndarray):
        return values
    key = ("owners", _device_id(like), tuple(id(owner) for owner in owners))
    entry = _uploads.get(key)
    if entry is not None and all(a is b for a, b in zip(entry[1], owners, strict=True)):
        _uploads.move_to_end(key)
        return entry[0]
    device = upload(values, like)
    _uploads[key] = (device, owners)
    while len(_uploads) > _CACHE_ENTRIES:
        _uploads.popitem(last=False)
    return device


def to_host_int(value: Any) -> int:
    """A one-element count array's value (the only host transfer of a pass)."""
    return int(value[0]) if isinstance(value, np.ndarray) else int(value[0].get())
