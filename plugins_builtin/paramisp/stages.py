"""ParamISP as pipeline stages: ``paramisp_forward`` and its learned inverse.

``paramisp_forward`` is a learned forward stage, normalised RAW mosaic
``(..., H, W)`` → sRGB ``(..., H, W, 3)``: CanoNet (demosaic, white balance,
clip, camera → sRGB matrix) then the forward network, conditioned on the
capture. Its inverse (``[inverse.<label>] method = "learned"``) is sRGB →
inverse network → CanoNet⁻¹ → mosaic. The weights are a model saved by the
``paramisp`` methods (``ispengine train --method paramisp``, or ``save``): the
settings file (``.json``) or the weights file beside it. The inverse uses its
own ``weights`` (in its ``[inverse.<label>]`` table) or else the stage's, so one
model saved with ``directions = "both"`` serves both.

Parameters and options (bind them to the RAW's metadata with ``from_metadata``)::

    [[stage]]
    type = "paramisp_forward"
    params = { weights = "paramisp.json" }
    from_metadata = { gains = "wb_gains", matrix = "camera_to_srgb", pattern = "cfa_pattern",
                      iso = "iso", exposure_time = "exposure_time", f_number = "f_number",
                      focal_length = "focal_length" }

* ``gains``: white-balance gains (R, G, B), [0.05, 20], default 1 (per image);
* ``matrix``: camera RGB → linear sRGB, [−8, 8] per element, default identity;
* ``pattern``: the Bayer pattern; ``weights``: the saved model;
* ``iso``, ``exposure_time`` (s), ``f_number``, ``focal_length`` (mm): optional,
  > 0; unknown ones (absent from the file's EXIF) are ParamNet's dropped-out
  encoding.

numpy inputs run without gradients and come back as numpy (float32 maths, the
input's dtype); torch inputs stay on the autograd graph.

Source: W. Kim, G. Kim, J. Lee, S. Lee, S.-H. Baek, S. Cho, "ParamISP: Learned
Forward and Inverse ISPs using Camera Parameters", CVPR 2024, §3 (Fig. 2).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ispengine.core.cfa import PATTERNS
from ispengine.core.errors import InputError, ParamError
from ispengine.core.params import MATRIX_3X3, PER_CHANNEL, ParamSpec
from ispengine.core.settings import FloatSetting, OptionSpec, PathSetting
from ispengine.core.stage import Stage
from ispengine.io.raw.image import CaptureParams
from ispengine.learning.learned_inverse import LearnedInverseStage

CAPTURE_OPTIONS = tuple(
    FloatSetting(name, None, f"{what} (EXIF); absent: unknown", low=1e-12, optional=True)
    for name, what in (
        ("iso", "ISO speed"),
        ("exposure_time", "exposure time in s"),
        ("f_number", "aperture f-number"),
        ("focal_length", "focal length in mm"),
    )
)


@functools.lru_cache(maxsize=4)
def _cached_model(path: str, stamp: tuple[int, int]) -> Any:
    from plugins_builtin.paramisp.model import load_saved

    return load_saved(path)


def saved_model(path: str | Path) -> Any:
    """The :class:`~plugins_builtin.paramisp.model.ParamISPModel` saved at ``path``
    (cached while the file is unchanged)."""
    path = Path(path)
    settings = path if path.suffix == ".json" else path.with_suffix(".json")
    try:
        status = settings.stat()
    except OSError:
        raise InputError(f"{path}: no saved ParamISP model ({settings.name} missing)") from None
    return _cached_model(str(settings.resolve()), (status.st_mtime_ns, status.st_size))


class ParamISPForward(Stage):
    """ParamISP's forward ISP as a stage (see the module docstring)."""

    name = "paramisp_forward"
    params = (
        ParamSpec(
            "gains",
            PER_CHANNEL,
            0.05,
            20.0,
            default=1.0,
            local=False,
            description="white-balance gains (R, G, B) of the camera",
        ),
        ParamSpec(
            "matrix",
            MATRIX_3X3,
            -8.0,
            8.0,
            default=np.eye(3),
            local=False,
            description="camera RGB to linear sRGB (D65)",
        ),
    )
    options = (
        PathSetting("weights", None, "a ParamISP model saved by the paramisp methods"),
        OptionSpec("pattern", PATTERNS, "rggb", "Bayer pattern of the top-left 2x2 cell"),
        *CAPTURE_OPTIONS,
    )
    input_layout = "mosaic"
    output_layout = "rgb"
    needs_even_size = True
    learned: ClassVar[bool] = True
    runs_in_torch: ClassVar[bool] = True  # CuPy inputs reach the model through DLPack

    @property
    def capture(self) -> CaptureParams:
        """The capture parameters of the options (unknown ones ``None``)."""
        return CaptureParams(**{o.name: self.config[o.name] for o in CAPTURE_OPTIONS})

    def saved(self) -> Any:
        if self.config["weights"] is None:
            raise ParamError(
                key="weights",
                message=f"'{self.name}' needs a saved ParamISP model "
                '(params = { weights = "model.json" })',
            )
        return saved_model(self.config["weights"])

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        from plugins_builtin.paramisp.canonet import canonical_forward

        network = self.saved().network("forward")

        def run(mosaic: Any, camera: Any) -> Any:
            linear = canonical_forward(mosaic, self.config["pattern"], camera.wb, camera.ccm)
            return network(linear, camera).permute(0, 2, 3, 1)

        return _run_torch(x, p, self.capture, network, run, lead=tuple(x.shape[:-2]))


class ParamISPForwardInverse(LearnedInverseStage):
    """ParamISP's inverse ISP: sRGB ``(..., H, W, 3)`` → normalised mosaic ``(..., H, W)``.

    Weights: this inverse's own ``weights`` setting, or else the forward stage's."""

    name = "paramisp_forward_learned_inverse"
    forward = ParamISPForward

    def model(self) -> Any:
        path = self.inverse_config.get("weights") or self.config["weights"]
        if path is None:
            raise ParamError(
                key="weights",
                message=f"the learned inverse '{self.name}' needs a saved ParamISP model "
                "(weights in its [inverse.<label>] table or in the stage's params)",
            )
        return saved_model(path).network("inverse")

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        from plugins_builtin.paramisp.canonet import canonical_inverse

        network = self.model()

        def run(srgb: Any, camera: Any) -> Any:
            linear = network(srgb.permute(0, 3, 1, 2), camera)
            return canonical_inverse(linear, self.config["pattern"], camera.wb, camera.ccm)

        return _run_torch(x, p, self.forward_stage.capture, network, run, lead=tuple(x.shape[:-3]))


def _run_torch(
    x: Any, p: Mapping[str, Any], capture: CaptureParams, network: Any, run: Any, lead: tuple
) -> Any:
    """``run(images, camera)`` on ``x`` with every leading dimension folded into one batch:
    numpy in → numpy out (no gradients), torch in → torch out (on ``x``'s device)."""
    import torch

    from plugins_builtin.paramisp.model import camera_tensors

    from_numpy = isinstance(x, np.ndarray)
    if not (from_numpy or isinstance(x, torch.Tensor)):
        raise InputError(f"paramisp: expected a numpy array or a torch tensor, got {type(x)}")
    tensor = torch.from_numpy(np.array(x, dtype=np.float32)) if from_numpy else x
    weight = next(network.parameters())
    if weight.device != tensor.device:
        network.to(tensor.device)
    count = int(np.prod(lead)) if lead else 1
    images = tensor.reshape(count, *tensor.shape[len(lead) :]).to(weight.dtype)

    def per_image(value: Any, size: int) -> np.ndarray:
        value = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
        rows = value.reshape(-1, size)
        return np.broadcast_to(rows, (count, size)) if len(rows) == 1 else rows

    camera = camera_tensors(
        [capture] * count, per_image(p["gains"], 3), per_image(p["matrix"], 9), tensor.device
    )
    with torch.no_grad() if from_numpy else nullcontext():
        out = run(images, camera)
    out = out.reshape(*lead, *out.shape[1:])
    return out.cpu().numpy().astype(x.dtype, copy=False) if from_numpy else out.to(x.dtype)
