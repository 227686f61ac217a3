"""Generated kernel modules, compiled once and cached on disk across processes.

Numba's ``cache=True`` stores compiled machine code next to a function's source
file, so it cannot cache a function created by ``exec`` from a string. The fused
passes (:mod:`ispengine.kernels.fused`, :mod:`ispengine.kernels.fused_mosaic`) are
therefore generated as source text, written to a file in the kernel cache folder
(:func:`kernel_cache_dir`) and imported from there, with the jitted functions they
call (the stages' kernels, already wrapped by ``numba.njit``) injected as module
globals before the module runs. Their top-level functions are decorated
``numba.njit(..., cache=CACHE)``; a second process finds the file and Numba's index
and data files next to it (``__pycache__``) and loads the machine code: no compile.

The file is named by a hash of the source text, the Python, Numba and NumPy
versions, and a fingerprint of every injected object (:func:`fingerprint`: the
byte code, constants, closure values and referenced global functions of each
Python function, recursively), so a changed stage kernel gets a new file instead
of stale machine code (Numba itself does not notice changes in called functions).

Writes are atomic (a temporary file, then a hard link or rename), so two
processes racing on the same kernel both work. A file whose text differs from the
expected source (a corrupt or truncated file) is rewritten; a Numba cache file that
cannot be loaded is deleted and the kernel compiled again (:class:`CachedKernel`).
When the folder cannot be written, the kernel is compiled in memory as before, with
one debug log line and no error.

Location: ``$ISPENGINE_CACHE_DIR/kernels``, else ``$XDG_CACHE_HOME/ispengine/kernels``,
else ``~/.cache/ispengine/kernels`` (the LUT cache's root,
:func:`ispengine.lut.cache.cache_dir`).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import sys
import tempfile
import types
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

# Bump when the generated code's conventions change (new file names, old ones unused).
FORMAT = 1

_modules: dict[str, types.ModuleType] = {}
_kernels: list[CachedKernel] = []
_fallback_logged = False


def kernel_cache_dir() -> Path:
    """The folder of generated kernel modules (see the module docstring)."""
    from ispengine.lut.cache import cache_dir

    return cache_dir() / "kernels"


def fingerprint(obj: Any, seen: set[int] | None = None) -> str:
    """A text that identifies ``obj``'s behaviour as compiled code, stable across processes.

    Python functions: module, qualified name, byte code, names, constants (nested code
    objects recursively), defaults, closure values and the global functions and
    values they reference; Numba dispatchers: their Python function and options;
    arrays: their dtype, shape and bytes; numbers, strings, tuples: their ``repr``.
    Anything else: its type and ``repr`` (which may name a memory address: then
    only this process reuses the file)."""
    seen = set() if seen is None else seen
    if isinstance(obj, (bool, int, float, complex, str, bytes, type(None))):
        return repr(obj)
    if isinstance(obj, (tuple, list)):
        return "(" + ",".join(fingerprint(item, seen) for item in obj) + ")"
    if isinstance(obj, np.ndarray):
        return f"array({obj.dtype},{obj.shape},{hashlib.sha256(obj.tobytes()).hexdigest()})"
    if isinstance(obj, np.generic):
        return f"{type(obj).__name__}({obj!r})"
    if isinstance(obj, types.ModuleType):
        return f"module({obj.__name__})"
    py_func = getattr(obj, "py_func", None)
    if py_func is not None:  # a Numba dispatcher
        options = sorted((k, repr(v)) for k, v in getattr(obj, "targetoptions", {}).items())
        return f"jit({fingerprint(py_func, seen)},{options})"
    if isinstance(obj, types.FunctionType):
        if id(obj) in seen:
            return f"recursive({obj.__module__}.{obj.__qualname__})"
        seen.add(id(obj))
        code = obj.__code__
        parts = [f"{obj.__module__}.{obj.__qualname__}", _code(code)]
        parts.append(fingerprint(obj.__defaults__, seen))
        for cell in obj.__closure__ or ():
            try:
                parts.append(fingerprint(cell.cell_contents, seen))
            except ValueError:  # an empty cell
                parts.append("empty")
        for name in _global_names(code):
            if name in obj.__globals__:
                parts.append(f"{name}={fingerprint(obj.__globals__[name], seen)}")
        return "fn(" + ";".join(parts) + ")"
    if isinstance(obj, type):
        return f"type({obj.__module__}.{obj.__qualname__})"
    if callable(obj) and hasattr(obj, "__module__") and hasattr(obj, "__qualname__"):
        return f"callable({obj.__module__}.{obj.__qualname__})"  # builtins, ufuncs
    return f"{type(obj).__module__}.{type(obj).__qualname__}({obj!r})"


def _code(code: types.CodeType) -> str:
    consts = [_code(c) if isinstance(c, types.CodeType) else repr(c) for c in code.co_consts]
    digest = hashlib.sha256(code.co_code).hexdigest()
    return f"code({digest},{code.co_names},{code.co_varnames},{consts})"


def _global_names(code: types.CodeType) -> list[str]:
    names = list(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names += _global_names(const)
    return sorted(set(names))


def _versions() -> str:
    import numba

    return f"python {sys.version};numba {numba.__version__};numpy {np.__version__};{FORMAT}"


def load_module(tag: str, source: str, inject: dict[str, Any] | None = None) -> types.ModuleType:
    """The module of generated ``source`` with ``inject`` as globals (see the module
    docstring), from the kernel cache folder when it can be written, else in memory.

    ``source`` decorates its functions with ``cache=CACHE``; ``CACHE`` is injected
    (True for a module imported from a file). Modules are kept for the process."""
    inject = dict(inject or {})
    text = f"{source}\n# {_versions()}\n"
    material = text + "".join(f"\n{k}:{fingerprint(v)}" for k, v in sorted(inject.items()))
    name = f"ispengine_kernel_{tag}_{hashlib.sha256(material.encode()).hexdigest()[:32]}"
    if name in _modules:
        return _modules[name]
    module = None
    try:
        path = _write(kernel_cache_dir() / f"{name}.py", text)
        module = _import(name, path, {**inject, "CACHE": True})
    except (OSError, RuntimeError) as error:  # unwritable folder, or no Numba cache locator
        global _fallback_logged
        if not _fallback_logged:
            log.debug("kernel cache unusable (%s); compiling in memory", error)
            _fallback_logged = True
    if module is None:
        module = types.ModuleType(name)
        module.__dict__.update(inject, CACHE=False)
        exec(compile(text, f"<ispengine kernel {name}>", "exec"), module.__dict__)  # noqa: S102
    _modules[name] = module
    return module


def _write(path: Path, text: str) -> Path:
    """``path`` holding exactly ``text``: written atomically when missing or different."""
    data = text.encode("utf-8")
    try:
        if path.read_bytes() == data:
            return path
        exists = True
    except FileNotFoundError:
        exists = False
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        if exists:  # corrupt or stale: replace it (a racing reader sees old or new)
            os.replace(temporary, path)
        else:
            try:  # first writer wins; the file's stamp stays what Numba's index saw
                os.link(temporary, path)
            except FileExistsError:
                pass
            except OSError:  # no hard links here
                os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return path


def _import(name: str, path: Path, inject: dict[str, Any]) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    module.__dict__.update(inject)
    # Registered before it runs: Numba's cache refers to the module by name.
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


class CachedKernel:
    """A top-level kernel of a generated module (a Numba dispatcher), called like it.

    When the first call of a file-backed kernel fails (e.g. Numba's index or data file
    is corrupt and cannot be unpickled), the kernel's Numba cache files are deleted and
    the module is imported again, which compiles and rewrites them; a second failure
    is raised. :func:`cache_stats` sums the dispatchers' cache hits and misses."""

    def __init__(self, module: types.ModuleType, attribute: str) -> None:
        self.module = module
        self.attribute = attribute
        self.dispatcher = getattr(module, attribute)
        self.retried = False
        _kernels.append(self)

    def __call__(self, *args: Any) -> Any:
        try:
            return self.dispatcher(*args)
        except Exception as error:
            path = getattr(self.module, "__file__", None)
            if path is None or self.retried:
                raise
            self.retried = True
            log.debug("kernel %s: cache unreadable (%s); compiling again", path, error)
            _remove_numba_files(Path(path))
            inject = {k: v for k, v in self.module.__dict__.items() if not k.startswith("__")}
            module = _import(self.module.__name__, Path(path), inject)
            self.module, self.dispatcher = module, getattr(module, self.attribute)
            return self.dispatcher(*args)


def _remove_numba_files(path: Path) -> None:
    for candidate in (path.parent / "__pycache__").glob(f"{path.stem}.*.nb[ic]"):
        with contextlib.suppress(OSError):
            candidate.unlink()


def cache_stats() -> dict[str, int]:
    """Cache hits and misses of every file-backed kernel this process has called
    (Numba's dispatcher ``stats``): ``{"hits": ..., "misses": ..., "kernels": ...}``."""
    hits = misses = 0
    for kernel in _kernels:
        stats = getattr(kernel.dispatcher, "stats", None)
        if stats is None or not kernel.module.__dict__.get("CACHE"):
            continue
        hits += sum(stats.cache_hits.values())
        misses += sum(stats.cache_misses.values())
    return {"hits": hits, "misses": misses, "kernels": len(_kernels)}
