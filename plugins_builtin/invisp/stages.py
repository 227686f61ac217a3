"""Invertible-ISP as a pipeline stage, ``invisp_forward``, and its learned inverse.

``invisp_forward`` maps demosaiced, white-balanced camera RGB ``(..., H, W, 3)``
to sRGB ``(..., H, W, 3)`` with the invertible network; its inverse
(``[inverse.<label>] method = "learned"``) runs the same network backward, so
``Pipeline.inverse()`` of a pipeline using it recovers camera RGB from sRGB to
float32 precision (about 1e-6 on the network alone; the round-trip test
reports it). The shipped spec ``invisp_camera`` puts it after the Malvar
demosaic and the white balance.

Options:

* ``weights``: a model saved by the ``invisp`` method (``ispengine train
  --method invisp``: the ``.json`` or the weights file beside it) or a state
  dict in the authors' layout (``.safetensors``, or a torch file of tensors).
  The network's size (blocks, growth) is read from the weights.

The inverse uses its own ``weights`` (in its ``[inverse.<label>]`` table) or
else the forward stage's. numpy inputs run without gradients and come back
as numpy in the input's dtype; torch inputs stay on the autograd graph.

Source: Y. Xing, Z. Qian, Q. Chen, "Invertible Image Signal Processing", CVPR 2021, §3.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ispengine.core.errors import InputError, ParamError
from ispengine.core.settings import PathSetting
from ispengine.core.stage import Stage
from ispengine.learning.learned_inverse import LearnedInverseStage
from ispengine.learning.model_stage import weights_file


@functools.lru_cache(maxsize=4)
def _cached_network(path: str, stamp: tuple[int, int]) -> Any:
    from ispengine.learning.weights import load_checkpoint_state
    from plugins_builtin.invisp.networks import network_from_arrays

    return network_from_arrays(load_checkpoint_state(path), f"{path}: Invertible-ISP weights")


def saved_network(path: str | Path) -> Any:
    """The :class:`~plugins_builtin.invisp.networks.InvISPNetwork` stored at ``path``
    (cached while the file is unchanged)."""
    weights = weights_file(path)
    try:
        status = weights.stat()
    except OSError:
        raise InputError(f"{path}: no Invertible-ISP weights ({weights.name} missing)") from None
    return _cached_network(str(weights.resolve()), (status.st_mtime_ns, status.st_size))


class InvISPForward(Stage):
    """Invertible-ISP's forward direction as a stage (see the module docstring)."""

    name = "invisp_forward"
    options = (
        PathSetting(
            "weights",
            None,
            "a model saved by the invisp method, or the authors' state dict; "
            "relative to the spec file's folder",
        ),
    )
    input_layout = "rgb"
    output_layout = "rgb"
    learned: ClassVar[bool] = True
    runs_in_torch: ClassVar[bool] = True  # CuPy inputs reach the model through DLPack

    def network(self) -> Any:
        if self.config["weights"] is None:
            raise ParamError(
                key="weights",
                message=f"'{self.name}' needs Invertible-ISP weights "
                '(params = { weights = "invisp.json" })',
            )
        return saved_network(self.config["weights"])

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        return run_network(self.network(), x, reverse=False)


class InvISPForwardInverse(LearnedInverseStage):
    """sRGB → camera RGB: the network run backward (weights: its own, else the stage's)."""

    name = "invisp_forward_learned_inverse"
    forward = InvISPForward

    def model(self) -> Any:
        path = self.inverse_config.get("weights") or self.config["weights"]
        if path is None:
            raise ParamError(
                key="weights",
                message=f"the learned inverse '{self.name}' needs Invertible-ISP weights "
                "(in its [inverse.<label>] table or in the stage's params)",
            )
        return saved_network(path)

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        return run_network(self.model(), x, reverse=True)


def run_network(network: Any, x: Any, *, reverse: bool) -> Any:
    """The network on channel-last images ``(..., H, W, 3)``, leading dimensions folded
    into one batch: numpy in → numpy out (no gradients), torch in → torch out."""
    import torch

    from_numpy = isinstance(x, np.ndarray)
    if not (from_numpy or isinstance(x, torch.Tensor)):
        raise InputError(f"invisp: expected a numpy array or a torch tensor, got {type(x)}")
    if x.ndim < 3 or x.shape[-1] != 3:
        raise InputError(f"invisp: expected images (..., H, W, 3), got shape {tuple(x.shape)}")
    tensor = torch.from_numpy(np.array(x, dtype=np.float32)) if from_numpy else x
    weight = next(network.parameters())
    if weight.device != tensor.device:
        network.to(tensor.device)
    lead, (height, width) = tuple(x.shape[:-3]), tuple(x.shape[-3:-1])
    nchw = tensor.reshape(-1, height, width, 3).permute(0, 3, 1, 2).to(weight.dtype)
    with torch.no_grad() if from_numpy else nullcontext():
        out = network(nchw, reverse=reverse)
    out = out.permute(0, 2, 3, 1).reshape(*lead, height, width, 3)
    return out.cpu().numpy().astype(x.dtype, copy=False) if from_numpy else out.to(x.dtype)
