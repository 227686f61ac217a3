"""Saving and loading sRGB-to-RAW methods: settings as JSON, arrays as safetensors.

A saved method is two files: ``NAME.json`` (format, method name, settings,
the weights file's name) and, when the method has arrays (weights, a fitted
camera bank), ``NAME.safetensors`` or ``NAME.pt``. Loading never runs code:
safetensors holds only arrays, and ``.pt`` files load with
``torch.load(weights_only=True)``. Writes are atomic.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ispengine.core.errors import InputError
from ispengine.io.atomic import atomic_output

if TYPE_CHECKING:
    from ispengine.learning.srgb_to_raw import SrgbToRawMethod

FORMAT = "ispengine-srgb2raw"
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
    return {str(k): as_numpy(v) for k, v in loaded.items()}


def save_method(
    method: SrgbToRawMethod, path: str | Path, weights_suffix: str = ".safetensors"
) -> Path:
    """Write ``method``'s settings to ``PATH.json`` and its arrays beside it."""
    path = Path(path)
    if path.suffix in WEIGHT_SUFFIXES:
        weights_suffix = path.suffix
    base = path.with_suffix("") if path.suffix in (*WEIGHT_SUFFIXES, ".json") else path
    state = method.state()
    weights = None
    if state:
        weights = base.with_suffix(weights_suffix)
        save_arrays(weights, state)
    settings_path = base.with_suffix(".json")
    document = {
        "format": FORMAT,
        "version": 1,
        "method": method.name,
        "settings": method.config,
        "weights": weights.name if weights else None,
    }
    with atomic_output(settings_path) as temporary:
        temporary.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    return settings_path


def load_method(path: str | Path, expected: type | None = None) -> SrgbToRawMethod:
    """Rebuild a method saved by :func:`save_method` (give the ``.json`` or weights file)."""
    from ispengine.core.plugins import get_registry
    from ispengine.learning.srgb_to_raw import SrgbToRawMethod

    path = Path(path)
    settings_path = path if path.suffix == ".json" else path.with_suffix(".json")
    try:
        document = json.loads(settings_path.read_text())
    except (OSError, ValueError) as error:
        raise InputError(f"{settings_path}: cannot read saved method ({error})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise InputError(f"{settings_path}: not a saved ispengine sRGB-to-RAW method")
    cls = get_registry().get("srgb_to_raw", document["method"]).cls
    if expected is not None and expected is not SrgbToRawMethod and cls is not expected:
        raise InputError(
            f"{settings_path}: holds method '{document['method']}', not '{expected.name}'"
        )
    method = cls(**document.get("settings", {}))
    if document.get("weights"):
        method.load_state(load_arrays(settings_path.parent / document["weights"]))
    return method
