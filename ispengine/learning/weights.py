"""Weight files: named arrays as safetensors or torch ``.pt`` files.

Loading never runs code: safetensors holds only arrays, and ``.pt`` files
load with ``torch.load(weights_only=True)``. Writes are atomic. A saved
sRGB-to-RAW method (settings JSON beside such a file) is written and read by
:mod:`ispengine.learning.srgb_to_raw`.
"""

from __future__ import annotations

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


def load_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """Named arrays from a ``.safetensors`` file or a ``.pt`` file of tensors, as numpy."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such weights file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.numpy import load_file

            return dict(load_file(str(path)))
        import torch

        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except InputError:
        raise
    except Exception as error:  # corrupt files raise many kinds of errors
        detail = " ".join(str(error).split())  # one line: torch's messages span many
        raise InputError(
            f"{path}: cannot read weights ({type(error).__name__}: {detail})"
        ) from None
    if not isinstance(loaded, Mapping):
        raise InputError(f"{path}: expected a mapping of names to tensors")
    nested = next((k for k, v in loaded.items() if isinstance(v, Mapping)), None)
    if nested is not None:
        raise InputError(
            f"{path}: '{nested}' holds a nested mapping, not a tensor (a training "
            "checkpoint? see load_checkpoint_state)"
        )
    return {str(k): as_numpy(v) for k, v in loaded.items()}


#: Keys under which training frameworks nest a model's state dict: BasicSR
#: (``params``, ``params_ema``), PyTorch Lightning (``state_dict``), others (``model``).
STATE_CONTAINERS = ("params", "params_ema", "state_dict", "model")


def load_checkpoint_state(path: str | Path) -> dict[str, np.ndarray]:
    """A model's named arrays from a weights file or a training checkpoint.

    A flat file loads as :func:`load_arrays` loads it; a torch file whose state dict
    is nested under one of :data:`STATE_CONTAINERS` (the first present) gives that
    state dict. ``module.`` prefixes (``DataParallel``) are removed. Loading never
    runs code (``torch.load(weights_only=True)``).
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        arrays = load_arrays(path)
    else:
        if not path.is_file():
            raise InputError(f"{path}: no such weights file")
        import torch

        try:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # corrupt files raise many kinds of errors
            detail = " ".join(str(error).split())
            raise InputError(
                f"{path}: cannot read weights ({type(error).__name__}: {detail})"
            ) from None
        if not isinstance(loaded, Mapping):
            raise InputError(f"{path}: expected a mapping of names to tensors")
        try:
            arrays = {k: as_numpy(v) for k, v in unwrap_state(loaded).items()}
        except (TypeError, ValueError) as error:
            raise InputError(f"{path}: not a state dict of tensors ({error})") from None
        odd = next((k for k, v in arrays.items() if v.dtype == object), None)
        if odd is not None:
            raise InputError(f"{path}: '{odd}' is not a tensor (not a state dict?)")
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
