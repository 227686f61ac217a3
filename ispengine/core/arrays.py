"""Array-API helpers shared by every stage.

Stage math is written once against the Python array API; these helpers pick
the namespace of an input (numpy, torch, cupy through ``array-api-compat``),
move parameters onto the input's device and dtype, and check images. Nothing
here imports torch or cupy: ``array-api-compat`` only recognises them when the
caller already has them.
"""

from __future__ import annotations

from typing import Any

import array_api_compat
import numpy as np

from ispengine.core.errors import InputError

LAYOUT_CHANNELS = {"rgb": 3, "packed": 4}


def namespace(x: Any) -> Any:
    """The array-API namespace of ``x`` (numpy, torch or cupy, compat-wrapped)."""
    try:
        return array_api_compat.array_namespace(x)
    except TypeError:
        raise InputError(f"expected an array, got {type(x).__name__}") from None


def is_floating(x: Any, xp: Any) -> bool:
    return xp.isdtype(x.dtype, "real floating")


def is_device_array(value: Any) -> bool:
    """An array of an array-API library other than numpy (torch, CuPy, ...): not a numpy
    array, not a Python or numpy scalar, not a list."""
    return array_api_compat.is_array_api_obj(value) and not isinstance(
        value, (np.ndarray, np.generic)
    )


def same_place(a: Any, b: Any) -> bool:
    """Whether arrays ``a`` and ``b`` belong to the same namespace and device."""
    return namespace(a) is namespace(b) and array_api_compat.device(a) == array_api_compat.device(b)


def to_host(x: Any) -> np.ndarray:
    """``x`` as a numpy array: numpy arrays and numbers as they are, CuPy arrays copied
    with ``.get()``, torch tensors detached and copied to the CPU, any other array-API
    array through DLPack (``numpy.from_dlpack``). One device-to-host copy."""
    if isinstance(x, np.ndarray):
        return x
    if not array_api_compat.is_array_api_obj(x) or isinstance(x, np.generic):
        return np.asarray(x)
    if array_api_compat.is_cupy_array(x):
        return x.get()
    if array_api_compat.is_torch_array(x):
        return x.detach().cpu().numpy()
    try:
        return np.from_dlpack(x)
    except (BufferError, RuntimeError, TypeError, ValueError) as error:
        raise InputError(f"cannot copy a {type(x).__name__} array to the host: {error}") from None


def move_like(result: Any, like: Any) -> Any:
    """``result`` (a host result) as an array of ``like``'s namespace on ``like``'s
    device; unchanged when ``like`` is a numpy array. One host-to-device copy."""
    if isinstance(like, np.ndarray) or not array_api_compat.is_array_api_obj(like):
        return result
    xp = namespace(like)
    return xp.asarray(to_host(result), device=array_api_compat.device(like))


def from_dlpack_like(result: Any, like: Any) -> Any:
    """``result`` (an array of another library, e.g. a torch tensor) as an array of
    ``like``'s namespace on ``like``'s device, through DLPack (no copy when both are on
    the same device)."""
    xp = namespace(like)
    out = xp.from_dlpack(result)
    device = array_api_compat.device(like)
    if array_api_compat.device(out) != device:
        out = array_api_compat.to_device(out, device)
    return out


def as_param(value: Any, like: Any, xp: Any) -> Any:
    """``value`` as an array of ``xp`` on the device and with the dtype of ``like``.

    Numbers and numpy arrays are copied to ``like``'s device; an array of ``like``'s
    namespace on another device is moved with ``to_device``; an array of another
    namespace (a CuPy map for a numpy image, say) goes through the host
    (:func:`to_host`). An array already in place is only cast (torch keeps autograd).
    """
    if is_device_array(value) and not same_place(value, like):
        if namespace(value) is xp:
            value = array_api_compat.to_device(value, array_api_compat.device(like))
        else:
            value = to_host(value)
    if isinstance(value, np.ndarray) or np.isscalar(value):
        host = np.asarray(value)
        if not host.flags.writeable:  # torch warns on (and may write to) read-only buffers
            host = host.copy()
        return xp.asarray(host, dtype=like.dtype, device=array_api_compat.device(like))
    if value.dtype != like.dtype:
        return xp.astype(value, like.dtype)
    return value


def check_image(x: Any, layout: str, *, where: str = "input", need_even: bool = False) -> Any:
    """Validate an image for a stage layout and return its namespace.

    ``rgb``: ``(..., H, W, 3)``; ``packed``: ``(..., H, W, 4)``; ``mosaic``:
    ``(..., H, W)``. Raises :class:`InputError` naming what was expected.
    """
    xp = namespace(x)
    if not is_floating(x, xp):
        raise InputError(f"{where}: expected a float32 or float64 array, got dtype {x.dtype}")
    shape = tuple(x.shape)
    if layout == "mosaic":
        if len(shape) < 2:
            raise InputError(f"{where}: expected a mosaic of shape (..., H, W), got {shape}")
        spatial = shape[-2:]
    else:
        channels = LAYOUT_CHANNELS[layout]
        if len(shape) < 3 or shape[-1] != channels:
            raise InputError(
                f"{where}: expected a {layout} image of shape (..., H, W, {channels}), got {shape}"
            )
        spatial = shape[-3:-1]
    if need_even and (spatial[0] % 2 or spatial[1] % 2):
        raise InputError(f"{where}: a Bayer mosaic needs even height and width, got {spatial}")
    if 0 in spatial:
        raise InputError(f"{where}: image has zero size {shape}")
    return xp


def check_finite(x: Any, xp: Any, *, where: str = "input") -> None:
    if not bool(xp.all(xp.isfinite(x))):
        raise InputError(f"{where}: contains NaN or Inf values")


def safe_power(base: Any, exponent: Any, xp: Any) -> Any:
    """``base ** exponent`` for ``base >= 0``, with 0 where ``base == 0``.

    Written so the gradient at ``base == 0`` is finite (0) in torch, where the
    plain power gives NaN for exponents below 1.
    """
    positive = base > 0
    safe_base = xp.where(positive, base, xp.ones_like(base))
    return xp.where(positive, safe_base**exponent, xp.zeros_like(base))
