"""``paramnet``: ParamNet as a parameter predictor, from the camera parameters, not the image.

ParamNet embeds a photo's camera parameters, the optical ones from its EXIF
(focal length, f-number, exposure time, ISO; each through the 15-d
equalisation) and the canonical ones from its RAW metadata (white-balance
gains and camera → sRGB matrix), into a 64-d vector
``z = MLP(Σ_p L_p(e(x_p)) + L_c([wb, 1/wb, vec M, vec M⁻¹]))``
(:class:`plugins_builtin.paramisp.networks.ParamNet`). ParamISP's own
networks read z inside the ``paramisp_forward`` stage and the ``paramisp``
methods; this predictor serves any other pipeline: one linear layer maps z to
every parameter the pipeline leaves free, squashed into its declared range
(:func:`ispengine.core.predictor.split_vector`), one set per image. So a
function ISP can be conditioned on EXIF (e.g. its tone curve on ISO and
exposure time).

It reads the input's metadata (``reads_metadata``): a pipeline called on a
:class:`~ispengine.io.raw.RawImage`, or with ``metadata=``, passes the keys
``iso``, ``exposure_time``, ``f_number``, ``focal_length``, ``wb_gains`` and
``camera_to_srgb``; an absent capture value is ParamNet's dropped-out
encoding, absent colour data is neutral (gains 1, identity matrix). The image
itself only gives the batch size. The output layer starts at zero weights
with biases at the pipeline's current values, so an untrained predictor
reproduces the pipeline's defaults; trained weights (this predictor's
``state_dict``: ``paramnet.…`` and ``head.…``) load from ``weights``.

Settings (``[predictor]`` table or keywords):
    weights: a local ``.safetensors``/``.pt`` file of this predictor (optional).
    channels: size of z, [1, 1024] (default 64, the paper's).
    equalise: ParamNet's equalisation (default true).
    optical: the optical parameters read, comma-separated (default all four).

Source: W. Kim, G. Kim, J. Lee, S. Lee, S.-H. Baek, S. Cho, "ParamISP: Learned
Forward and Inverse ISPs using Camera Parameters", CVPR 2024, §3.2 (ParamNet);
the linear head to a pipeline's declared parameters is this project's.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ispengine.core.errors import InputError
from ispengine.core.predictor import ParamPredictor, default_vector, split_vector
from ispengine.core.settings import BooleanSetting, IntegerSetting, PathSetting, StringSetting
from ispengine.io.raw.image import CaptureParams
from ispengine.learning.torch_runtime import DEVICE_SETTING, PRECISION_SETTING, TorchRuntime
from ispengine.learning.weights import load_arrays, save_arrays
from plugins_builtin.paramisp.model import OPTICAL, parse_optical


class ParamNetPredictor(ParamPredictor):
    """ParamNet and a linear head: camera parameters → a pipeline's free parameters."""

    name = "paramnet"
    summary = "ParamISP's ParamNet: EXIF + colour metadata -> z -> every free stage parameter"
    reads_metadata = True
    settings = (
        PathSetting("weights", None, "a local weights file of this predictor (optional)"),
        IntegerSetting("channels", 64, "size of ParamNet's embedding z", low=1, high=1024),
        BooleanSetting("equalise", True, "ParamNet's 15-d equalisation of each optical value"),
        StringSetting("optical", ",".join(OPTICAL), "the optical parameters read, comma-separated"),
        DEVICE_SETTING,
        PRECISION_SETTING,
    )

    def __init__(self, pipeline: Any, **settings: Any) -> None:
        super().__init__(pipeline, **settings)
        import torch

        from plugins_builtin.paramisp.networks import ParamNet

        config = self.config
        network = torch.nn.ModuleDict(
            {
                "paramnet": ParamNet(
                    config["channels"],
                    equalise=config["equalise"],
                    dropout=0.0,
                    optical=parse_optical(config["optical"]),
                ),
                "head": torch.nn.Linear(config["channels"], self.size),
            }
        )
        with torch.no_grad():
            network["head"].weight.zero_()
            network["head"].bias.copy_(torch.as_tensor(default_vector(self.params, pipeline)))
        self.network = network.eval()
        if config["weights"]:
            self.load_weights(config["weights"])

    def __call__(
        self, image: Any, *, mode: str | None = None, metadata: Mapping[str, Any] | None = None
    ) -> dict[str, dict[str, Any]]:
        """Parameters for ``image`` (``(H, W, C)`` or ``(B, H, W, C)``, numpy or torch) from
        ``metadata`` (one set, repeated over a batch); numpy in → numpy out."""
        import torch

        from plugins_builtin.paramisp.model import camera_tensors

        if mode not in (None, "global"):
            raise InputError(f"paramnet: predicts one set per image (global), not {mode!r}")
        metadata = dict(metadata or {})
        is_torch = isinstance(image, torch.Tensor)
        shape = tuple(image.shape)
        batch = shape[:-3] if len(shape) > 3 else ()
        count = int(np.prod(batch)) if batch else 1
        capture = CaptureParams.from_dict({k: metadata.get(k) for k in OPTICAL})
        # torch in: on the input's device; numpy in: on the ``device`` setting's
        runtime = None if is_torch else TorchRuntime.from_config(self.config)
        device = image.device if is_torch else runtime.device
        camera = camera_tensors(
            [capture] * count,
            metadata.get("wb_gains", np.ones(3)),
            metadata.get("camera_to_srgb", np.eye(3)),
            device,
        )
        network = self.network.to(device)
        if is_torch:
            raw = network["head"](network["paramnet"](camera))
        else:
            with torch.no_grad(), runtime.autocast():
                raw = network["head"](network["paramnet"](camera))
        raw = raw.reshape(*batch, self.size) if batch else raw[0]
        if not is_torch:
            raw = runtime.output(raw).astype(np.float64)
        return split_vector(raw, self.params, torch if is_torch else np)

    def state(self) -> dict[str, Any]:
        """The weights (``paramnet.…``, ``head.…``) as tensors."""
        return {k: v.detach().cpu() for k, v in self.network.state_dict().items()}

    def save_weights(self, path: str | Path) -> Path:
        """Write :meth:`state` to ``path`` (``.safetensors``/``.pt``)."""
        return save_arrays(path, self.state())

    def load_weights(self, path: str | Path) -> None:
        """Load weights written by :meth:`save_weights`; :class:`InputError` when they do
        not fit this pipeline's parameters or this ``channels``."""
        import torch

        arrays = load_arrays(path)
        expected = self.network.state_dict()
        missing = sorted(set(expected) - set(arrays))
        unexpected = sorted(set(arrays) - set(expected))
        wrong = [k for k in expected if k in arrays and arrays[k].shape != tuple(expected[k].shape)]
        if missing or unexpected or wrong:
            what = (
                f"no '{missing[0]}'"
                if missing
                else f"unexpected '{unexpected[0]}'"
                if unexpected
                else f"'{wrong[0]}' has shape {arrays[wrong[0]].shape}"
            )
            raise InputError(
                f"{path}: weights do not fit a paramnet predictor of this pipeline ({what})"
            )
        self.network.load_state_dict(
            {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in arrays.items()}
        )
