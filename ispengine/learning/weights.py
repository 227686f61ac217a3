"""Weight files: named arrays as safetensors or torch ``.pt`` files.

Loading never runs code: safetensors holds only arrays, and every torch file
the engine reads goes through :func:`load_torch_file`
(``torch.load(weights_only=True)``): a file holding other Python objects is
refused in one line, never with advice to load it unsafely. Loaded weights are
checked to be finite (:func:`check_finite`): a file with a NaN or Inf value is
refused, naming the file and the first such tensor. Writes are atomic. A saved
sRGB-to-RAW method (settings JSON beside such a file) is written and read by
:mod:`ispengine.learning.srgb_to_raw`.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ispengine.core.errors import InputError
from ispengine.io.atomic import atomic_output

WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth")


def as_numpy(value: Any) -> np.ndarray:
    """A numpy or torch array as a contiguous numpy array (on the CPU)."""
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    array = np.asarray(value)
    return np.ascontiguousarray(array).reshape(array.shape)  # keeps 0-d arrays 0-d


def save_arrays(path: str | Path, arrays: Mapping[str, Any]) -> Path:
    """Write named arrays (numpy or torch) to ``path`` (``.safetensors`` or ``.pt``)."""
    path = Path(path)
    if path.suffix not in WEIGHT_SUFFIXES:
        raise InputError(f"{path}: weights need a suffix in {', '.join(WEIGHT_SUFFIXES)}")
    with atomic_output(path) as temporary:
        if path.suffix == ".safetensors":
            from safetensors.numpy import save_file

            save_file({k: as_numpy(v) for k, v in arrays.items()}, str(temporary))
        else:
            import torch

            torch.save({k: torch.as_tensor(as_numpy(v)) for k, v in arrays.items()}, temporary)
    return path


def load_torch_file(path: str | Path, *, what: str = "weights") -> Any:
    """What a torch file holds, loaded on the CPU without running code.

    The one way the engine reads torch files: ``torch.load(weights_only=True)``,
    which loads tensors, numbers, strings and containers only. Any failure is a
    one-line :class:`InputError` naming ``path``: a file holding other Python
    objects (a pickle that could run code) is "not a plain tensor file"; nothing
    suggests loading it with ``weights_only=False``. ``what`` names the file's
    role in messages ("weights", "training checkpoint").
    """
    import pickle

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such {what} file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: cannot read {what} (the file is empty)")
    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on pickle protocols
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(error))
        if found:
            raise InputError(
                f"{path}: not a plain tensor file (it holds Python objects that could run "
                f"code, such as {found.group(1)}; ispengine loads tensors only)"
            ) from None
        raise InputError(
            f"{path}: cannot read {what} (not a torch file of tensors: unsupported or "
            "corrupt pickle data; ispengine loads tensors only)"
        ) from None
    except Exception as error:  # corrupt files raise many kinds of errors
        raise InputError(f"{path}: cannot read {what} ({_first_sentence(error)})") from None


def _first_sentence(error: BaseException) -> str:
    """``Type: first sentence`` of an error, on one line, without torch's advice."""
    text = " ".join(str(error).split())
    first = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0] if text else ""
    if "weights_only" in first:
        first = ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def check_finite(arrays: Mapping[str, Any], source: str | Path) -> None:
    """Refuse (one-line :class:`InputError` naming ``source`` and the first tensor)
    named arrays or tensors with a NaN or infinite value."""
    for name, value in arrays.items():
        array = as_numpy(value) if hasattr(value, "detach") else np.asarray(value)
        if array.dtype.kind not in "fc" or np.isfinite(array).all():
            continue
        kind = "NaN" if np.isnan(array).any() else "Inf"
        raise InputError(f"{source}: tensor '{name}' contains {kind}")


def load_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """Named arrays from a ``.safetensors`` file or a ``.pt`` file of tensors, as numpy
    (all finite: see :func:`check_finite`)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such weights file")
    if path.suffix == ".safetensors":
        try:
            from safetensors.numpy import load_file

            arrays = dict(load_file(str(path)))
        except Exception as error:  # corrupt files raise many kinds of errors
            raise InputError(f"{path}: cannot read weights ({_first_sentence(error)})") from None
        check_finite(arrays, path)
        return arrays
    loaded = load_torch_file(path)
    if not isinstance(loaded, Mapping):
        raise InputError(f"{path}: expected a mapping of names to tensors")
    nested = next((k for k, v in loaded.items() if isinstance(v, Mapping)), None)
    if nested is not None:
        raise InputError(
            f"{path}: '{nested}' holds a nested mapping, not a tensor (a training "
            "checkpoint? see load_checkpoint_state)"
        )
    arrays = {str(k): as_numpy(v) for k, v in loaded.items()}
    check_finite(arrays, path)
    return arrays


#: Keys under which training frameworks nest a model's state dict: BasicSR
#: (``params``, ``params_ema``), PyTorch Lightning (``state_dict``), others (``model``).
STATE_CONTAINERS = ("params", "params_ema", "state_dict", "model")


def load_checkpoint_state(path: str | Path) -> dict[str, np.ndarray]:
    """A model's named arrays from a weights file or a training checkpoint.

    A flat file loads as :func:`load_arrays` loads it; a torch file whose state dict
    is nested under one of :data:`STATE_CONTAINERS` (the first present) gives that
    state dict. ``module.`` prefixes (``DataParallel``) are removed. Loading never
    runs code (:func:`load_torch_file`), and every array is finite (:func:`check_finite`).
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        arrays = load_arrays(path)
    else:
        loaded = load_torch_file(path)
        if not isinstance(loaded, Mapping):
            raise InputError(f"{path}: expected a mapping of names to tensors")
        try:
            arrays = {k: as_numpy(v) for k, v in unwrap_state(loaded).items()}
        except (TypeError, ValueError) as error:
            raise InputError(f"{path}: not a state dict of tensors ({error})") from None
        odd = next((k for k, v in arrays.items() if v.dtype == object), None)
        if odd is not None:
            raise InputError(f"{path}: '{odd}' is not a tensor (not a state dict?)")
        check_finite(arrays, path)
    return unwrap_state(arrays)


def unwrap_state(state: Mapping[str, Any]) -> dict[str, Any]:
    """The model's state dict inside ``state``: the mapping under the first of
    :data:`STATE_CONTAINERS` present, else ``state`` itself; ``module.`` prefixes of
    ``DataParallel`` removed from the names."""
    container = next((k for k in STATE_CONTAINERS if isinstance(state.get(k), Mapping)), None)
    inner = state[container] if container else state
    return {str(k).removeprefix("module."): v for k, v in inner.items()}


def checked_state(
    state: Mapping[str, Any],
    expected: Mapping[str, Any],
    source: str,
    *,
    hint: str = "another config?",
    missing_detail: str = "",
) -> dict[str, np.ndarray]:
    """``state``'s arrays (numpy or torch) as numpy, in ``expected``'s order, once every
    name of ``expected`` (names → arrays or tensors) is present with its shape and no
    other name is. Else :class:`InputError` naming ``source`` and the first missing,
    unexpected or mis-shaped array (``missing_detail`` and ``hint`` say more)."""
    missing = [name for name in expected if name not in state]
    if missing:
        detail = f"; {missing_detail}" if missing_detail else ""
        raise InputError(f"{source}: no '{missing[0]}' ({len(missing)} missing{detail})")
    unexpected = sorted(name for name in state if name not in expected)
    if unexpected:
        raise InputError(f"{source}: unexpected '{unexpected[0]}' ({hint})")
    arrays = {}
    for name, reference in expected.items():
        array = np.array(as_numpy(state[name]))
        if tuple(array.shape) != tuple(reference.shape):
            raise InputError(
                f"{source}: '{name}' has shape {tuple(array.shape)}, expected "
                f"{tuple(reference.shape)} ({hint})"
            )
        arrays[name] = array
    return arrays
