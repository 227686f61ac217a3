"""Learned inverse stages: a torch model, with weights from a declared file, undoes a stage.

A plugin subclasses :class:`LearnedInverseStage`, names the forward stage it
inverts, and builds the model's architecture in :meth:`~LearnedInverseStage.build_model`;
the weights come from the ``weights`` setting, a local ``.safetensors`` file or
a torch file of tensors (loaded with ``torch.load(weights_only=True)``, so no
code runs). A pipeline chooses it like any other inverse::

    [inverse.srgb_oetf]
    method = "learned"
    weights = "models/oetf_inverse.safetensors"   # relative to the spec's folder

The weights load on the first call, so building or listing pipelines never
imports torch. The stage runs on numpy arrays (numpy out, no gradients) and on
torch tensors (torch out, on the input's device, differentiable). The model
sees NCHW float tensors: ``(N, 3, H, W)`` for RGB, ``(N, 4, H/2, W/2)`` for
packed RAW, ``(N, 1, H, W)`` for a mosaic, every leading dimension of the input
folded into ``N``; it runs in its weights' dtype and the result is cast back to
the input's dtype. Unlike exact inverses a learned one is approximate:
:mod:`ispengine.testing` reports its measured round-trip error.

Minimal example (the tests build a per-pixel MLP this way)::

    class OetfLearnedInverse(LearnedInverseStage):
        name = "srgb_oetf_learned_inverse"
        forward = SRGBOETF

        def build_model(self):
            import torch

            return torch.nn.Sequential(
                torch.nn.Conv2d(3, 16, 1), torch.nn.Tanh(), torch.nn.Conv2d(16, 3, 1)
            )
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from ispengine.core.errors import ParamError
from ispengine.core.stage import InverseStage
from ispengine.learning.model_stage import CHANNELS, WEIGHTS, TorchModelStage

__all__ = ["CHANNELS", "WEIGHTS", "LearnedInverseStage"]


class LearnedInverseStage(TorchModelStage, InverseStage):
    """An inverse stage computed by a torch model whose weights come from a file.

    Subclasses set ``name`` and ``forward`` and implement :meth:`build_model`;
    they may override :meth:`run_model` to feed the stage's parameters to the
    model. Further settings may be declared after :data:`WEIGHTS` in
    ``inverse_settings``.
    """

    method: ClassVar[str] = "learned"
    inverse_settings: ClassVar[tuple[Any, ...]] = (WEIGHTS,)

    def weights_path(self) -> Path:
        path = self.inverse_config.get("weights")
        if path is None:
            raise ParamError(
                key="weights",
                message=f"the learned inverse '{self.name}' needs a weights file "
                '(weights = "..." in its [inverse.<label>] table)',
            )
        return Path(path)
