"""Stages computed by a torch model whose weights come from a file.

:class:`TorchModelStage` is what learned forward stages (:class:`LearnedStage`)
and learned inverses (:class:`~ispengine.learning.learned_inverse.LearnedInverseStage`)
share: the subclass builds the architecture (:meth:`~TorchModelStage.build_model`)
and names the weights file (:meth:`~TorchModelStage.weights_path`); the weights
load on the first call (so building or listing pipelines never imports torch)
from a ``.safetensors`` file, a torch file of tensors (``torch.load(weights_only=True)``,
so no code runs) or the ``.json`` of a saved method, which names its weights file.

The stage runs on numpy arrays (numpy out, no gradients) and on torch tensors
(torch out, on the input's device, differentiable). The model sees NCHW float
tensors: ``(N, 3, H, W)`` for RGB, ``(N, 4, H/2, W/2)`` for packed RAW,
``(N, 1, H, W)`` for a mosaic, every leading dimension of the input folded into
``N``; it runs in its weights' dtype and the result is cast back to the input's
dtype.

A forward stage (a learned ISP from packed RAW to sRGB)::

    class TinyIsp(LearnedStage):
        name = "tiny_isp"
        input_layout = "packed"
        output_layout = "rgb"

        def build_model(self):
            import torch

            return torch.nn.Sequential(
                torch.nn.Conv2d(4, 12, 3, padding=1), torch.nn.PixelShuffle(2)
            )

used in a pipeline as ``[[stage]] type = "tiny_isp"`` with
``params = { weights = "tiny.safetensors" }`` (relative to the spec's folder).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ispengine.core.errors import InputError, ParamError
from ispengine.core.settings import PathSetting
from ispengine.core.stage import Stage
from ispengine.learning.weights import load_arrays

WEIGHTS = PathSetting(
    "weights",
    None,
    "the model's weights: a .safetensors file, a torch file of tensors, or a saved "
    "method's .json; relative to the spec file's folder",
)
CHANNELS = {"rgb": 3, "packed": 4, "mosaic": 1}


def weights_file(path: str | Path) -> Path:
    """The weights file of ``path``: itself, or the one a saved method's ``.json`` names."""
    path = Path(path)
    if path.suffix != ".json":
        return path
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        name = document["weights"]
    except OSError as error:
        raise InputError(f"{path}: cannot read ({error.strerror or error})") from None
    except (ValueError, KeyError, TypeError):
        raise InputError(f"{path}: not a saved method (no weights file named)") from None
    if not name:
        raise InputError(f"{path}: the saved method has no weights")
    return path.with_name(str(name))


class TorchModelStage(Stage):
    """Base of stages that run a torch model with weights from a file (module docstring)."""

    runs_in_torch: ClassVar[bool] = True  # CuPy inputs reach the model through DLPack

    def __init__(self, **values: Any) -> None:
        super().__init__(**values)
        self._loaded: tuple[Path, Any] | None = None

    # -- the model ------------------------------------------------------------
    def build_model(self) -> Any:
        """A fresh ``torch.nn.Module`` of the right architecture (weights load into it)."""
        raise NotImplementedError

    def weights_path(self) -> Path:
        """The weights file (raise :class:`ParamError` when none is set)."""
        raise NotImplementedError

    def run_model(self, model: Any, x: Any, p: Mapping[str, Any]) -> Any:
        """The model on ``x`` (NCHW, see the module docstring). ``p`` holds the stage's
        parameters as torch tensors that broadcast against the channel-last input;
        the default ignores them."""
        return model(x)

    def model(self) -> Any:
        """The model with its weights loaded (on the first call; cached per weights file)."""
        path = self.weights_path()
        if self._loaded is None or self._loaded[0] != path:
            self._loaded = (path, self._load(path))
        return self._loaded[1]

    def _load(self, path: Path) -> Any:
        arrays = load_arrays(weights_file(path))
        model = self.build_model()
        expected = model.state_dict()
        where = f"{path}: weights do not fit the learned stage '{self.name}'"
        missing = sorted(set(expected) - set(arrays))
        if missing:
            raise InputError(f"{where}: no tensor '{missing[0]}' ({len(missing)} missing)")
        unexpected = sorted(set(arrays) - set(expected))
        if unexpected:
            raise InputError(f"{where}: unexpected tensor '{unexpected[0]}'")
        for key, tensor in expected.items():
            if tuple(arrays[key].shape) != tuple(tensor.shape):
                raise InputError(
                    f"{where}: '{key}' has shape {tuple(arrays[key].shape)}, "
                    f"the model expects {tuple(tensor.shape)}"
                )
        model.load_state_dict({key: _from_numpy(value) for key, value in arrays.items()})
        return model.eval()

    # -- application ----------------------------------------------------------
    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        import torch

        model = self.model()
        from_numpy = isinstance(x, np.ndarray)
        if not (from_numpy or isinstance(x, torch.Tensor)):
            raise InputError(
                f"{self.name}: a learned stage runs on numpy or torch arrays, "
                f"got {type(x).__name__}"
            )
        tensor = _from_numpy(x) if from_numpy else x
        params = {k: _from_numpy(np.asarray(v)) if from_numpy else v for k, v in p.items()}
        with torch.no_grad() if from_numpy else nullcontext():
            out = self._run(model, tensor, params)
        out = out.to(tensor.dtype)
        return out.cpu().numpy() if from_numpy else out

    def _run(self, model: Any, x: Any, p: Mapping[str, Any]) -> Any:
        weight = next(model.parameters(), None)
        dtype = x.dtype if weight is None else weight.dtype
        model.to(x.device)
        mosaic_in = self.input_layout == "mosaic"
        lead = tuple(x.shape[:-2] if mosaic_in else x.shape[:-3])
        height, width = x.shape[-2:] if mosaic_in else x.shape[-3:-1]
        nchw = x.reshape(-1, 1, height, width) if mosaic_in else _to_nchw(x, height, width)
        out = self.run_model(model, nchw.to(dtype), p)
        expected = (nchw.shape[0], CHANNELS[self.output_layout], *self._output_size(height, width))
        if tuple(out.shape) != expected:
            raise InputError(
                f"{self.name}: the model returned shape {tuple(out.shape)}, expected {expected}"
            )
        if self.output_layout == "mosaic":
            return out.reshape(*lead, *expected[2:])
        return out.permute(0, 2, 3, 1).reshape(*lead, *expected[2:], expected[1])

    def _output_size(self, height: int, width: int) -> tuple[int, int]:
        """Packed RAW has half the height and width of a mosaic or RGB image."""
        grow = 2 if self.input_layout == "packed" else 1
        shrink = 2 if self.output_layout == "packed" else 1
        return height * grow // shrink, width * grow // shrink


class LearnedStage(TorchModelStage):
    """A forward stage computed by a torch model, weights from the ``weights`` option.

    Subclasses set ``name`` and the layouts and implement :meth:`build_model`; more
    options may follow :data:`WEIGHTS` in ``options``.
    """

    options: ClassVar[tuple[Any, ...]] = (WEIGHTS,)
    learned: ClassVar[bool] = True

    def weights_path(self) -> Path:
        path = self.config.get("weights")
        if path is None:
            raise ParamError(
                key="weights",
                message=f"the learned stage '{self.name}' needs a weights file "
                '(params = { weights = "..." })',
            )
        return Path(path)


def _to_nchw(x: Any, height: int, width: int) -> Any:
    return x.reshape(-1, height, width, x.shape[-1]).permute(0, 3, 1, 2)


def _from_numpy(array: np.ndarray) -> Any:
    """A torch tensor sharing ``array``'s memory (a copy when it is read-only)."""
    import torch

    if not array.flags.writeable:
        array = array.copy()
    return torch.from_numpy(np.ascontiguousarray(array))
