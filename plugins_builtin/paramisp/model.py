"""One ParamISP model: its settings, its forward and/or inverse network, and running them.

:class:`ParamISPModel` holds what the sRGB-to-RAW method, the RAW-to-sRGB
method and the learned stages share: the checked settings, the networks of
the directions it has (``forward``: RAW → sRGB, ``inverse``: sRGB → RAW), the
torch device, the weights (``forward.<name>`` / ``inverse.<name>``), and the
two end-to-end maps

* forward: normalised mosaic → CanoNet (demosaic, white balance, clip,
  camera → sRGB matrix) → LocalNet → GlobalNet → sRGB;
* inverse: sRGB → GlobalNet⁻¹ → LocalNet⁻¹ → CanoNet⁻¹ (matrix⁻¹, 1/WB,
  mosaic) → normalised mosaic,

both conditioned on the capture (focal length, f-number, exposure time, ISO;
a missing EXIF field is the network's dropped-out encoding) and on the
camera's white balance and colour matrix. A saved model (from either method)
is read back by :func:`load_saved`.

Source: W. Kim, G. Kim, J. Lee, S. Lee, S.-H. Baek, S. Cho, "ParamISP: Learned
Forward and Inverse ISPs using Camera Parameters", CVPR 2024, §3 (Fig. 2).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ispengine.core.errors import InputError, ParamError
from ispengine.core.settings import (
    BooleanSetting,
    FloatSetting,
    IntegerSetting,
    OptionSpec,
    SettingBase,
    StringSetting,
)
from ispengine.io.raw.image import CaptureParams
from ispengine.learning.torch_runtime import CHECKPOINT_EVERY_SETTING, LEARNING_SETTINGS
from ispengine.learning.weights import checked_state, load_arrays

#: The optical parameters ParamNet reads, in the network's order.
OPTICAL = ("focal_length", "f_number", "exposure_time", "iso")
DIRECTIONS = ("forward", "inverse")
#: The "format" tags of files the two methods save.
SAVED_FORMATS = ("ispengine-srgb2raw", "ispengine-raw2srgb")


def settings_for(directions: str) -> tuple[SettingBase, ...]:
    """The declared settings of a ParamISP method whose ``directions`` default is given."""
    return (
        OptionSpec(
            "config",
            ("published", "small"),
            "small",
            "network size: 'published' (the paper's, ~0.71M per direction) or 'small' (CPU)",
        ),
        OptionSpec(
            "directions",
            ("inverse", "forward", "both"),
            directions,
            "which networks to hold and train: inverse (sRGB→RAW), forward (RAW→sRGB), both",
        ),
        IntegerSetting("crop", 128, "training crop side in pixels (even)", low=8, high=2048),
        IntegerSetting("batch_size", 4, "training crops per step", low=1, high=256),
        FloatSetting("lr", 2e-4, "AdamW learning rate (pre-training)", low=1e-7, high=1e-1),
        IntegerSetting(
            "decay_every", 2000, "steps between learning-rate decays (x0.8)", low=1, high=1e9
        ),
        OptionSpec(
            "mask",
            ("paper", "code"),
            "paper",
            "over-exposure mask: paper 10·max(x−0.9,0) or the authors' code 20·max(x−0.95,0)",
        ),
        BooleanSetting("use_paramnet", True, "condition the networks on ParamNet's z"),
        BooleanSetting("equalise", True, "ParamNet's 15-d non-linear equalisation of each value"),
        FloatSetting(
            "dropout", 0.2, "probability of dropping each optical parameter in training", 0.0, 0.99
        ),
        StringSetting(
            "optical",
            ",".join(OPTICAL),
            "the optical parameters ParamNet reads, comma-separated "
            "(focal_length, f_number, exposure_time, iso); empty: none",
        ),
        StringSetting(
            "train_cameras",
            "",
            "train only on these cameras (comma-separated SynthCam names, models or "
            "'make model'); empty: every camera of the train split",
        ),
        StringSetting(
            "fine_tune_camera",
            "",
            "fine-tune on this camera (SynthCam name, model or 'make model'); empty: none",
        ),
        FloatSetting(
            "fine_tune_fraction",
            0.2,
            "share of the step budget spent fine-tuning on fine_tune_camera (lr x0.1)",
            low=0.0,
            high=1.0,
        ),
        IntegerSetting(
            "joint_steps",
            0,
            "last steps of the budget spent fine-tuning both directions jointly (needs both)",
            low=0,
            high=1e9,
        ),
        *LEARNING_SETTINGS,
        CHECKPOINT_EVERY_SETTING,
    )


def parse_optical(text: str) -> tuple[str, ...]:
    """``"iso, f_number"`` → ``("f_number", "iso")`` (the network's order); checked."""
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in OPTICAL]
    if unknown:
        raise ParamError(
            key="optical", message=f"unknown parameter {unknown[0]!r} (known: {', '.join(OPTICAL)})"
        )
    if len(set(names)) != len(names):
        raise ParamError(key="optical", message=f"a parameter is named twice in {text!r}")
    return tuple(name for name in OPTICAL if name in names)


def check_config(config: Mapping[str, Any]) -> None:
    """Cross-setting checks: even crop, known optical names, joint steps need both nets."""
    if config["crop"] % 2:
        raise ParamError(key="crop", message=f"must be even, got {config['crop']}")
    parse_optical(config["optical"])
    if config["joint_steps"] and config["directions"] != "both":
        raise ParamError(key="joint_steps", message="joint fine-tuning needs directions = 'both'")


class ParamISPModel:
    """The networks of one ParamISP model and what runs them (see the module docstring)."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        check_config(config)
        self.config = dict(config)
        self.directions: tuple[str, ...] = (
            DIRECTIONS if config["directions"] == "both" else (config["directions"],)
        )
        self._networks: dict[str, Any] | None = None  # built on first use

    # -- networks -------------------------------------------------------------
    def networks(self, seed: int | None = None) -> dict[str, Any]:
        """The network (``torch.nn.Module``) of each held direction, by direction (built
        on first use; initialised from ``seed`` when given, else from torch's global RNG)."""
        if self._networks is None:
            import torch

            from plugins_builtin.paramisp.networks import ParamISPNet

            config = self.config
            with torch.random.fork_rng(enabled=seed is not None):
                if seed is not None:
                    torch.manual_seed(seed)
                self._networks = {
                    direction: ParamISPNet(
                        direction,
                        config["config"],
                        mask=config["mask"],
                        use_paramnet=config["use_paramnet"],
                        equalise=config["equalise"],
                        dropout=config["dropout"],
                        optical=parse_optical(config["optical"]),
                    ).eval()
                    for direction in self.directions
                }
        return self._networks

    def parameters(self) -> list[Any]:
        """Every learned tensor of the held directions."""
        return [p for network in self.networks().values() for p in network.parameters()]

    def to(self, device: Any, *, training: bool) -> dict[str, Any]:
        """The networks, moved to ``device`` and in training or evaluation mode."""
        networks = self.networks()
        for network in networks.values():
            network.to(device).train(training)
        return networks

    def network(self, direction: str) -> Any:
        """The network of ``direction``; :class:`ParamError` when this model lacks it."""
        if direction not in self.directions:
            raise ParamError(
                key="directions",
                message=f"this ParamISP model has no {direction} network "
                f"(it holds {', '.join(self.directions)}); train it with directions = "
                f"'{direction}' or 'both'",
            )
        return self.networks()[direction]

    def device(self) -> Any:
        """The torch device of the ``device`` setting."""
        return self.runtime().device

    def runtime(self) -> Any:
        """The :class:`~ispengine.learning.torch_runtime.TorchRuntime` of the settings."""
        from ispengine.learning.torch_runtime import TorchRuntime

        return TorchRuntime.from_config(self.config)

    # -- running --------------------------------------------------------------
    def render(
        self,
        mosaic: np.ndarray,
        pattern: str,
        wb_gains: Any,
        camera_to_srgb: Any,
        capture: CaptureParams | None = None,
    ) -> np.ndarray:
        """Forward: a normalised mosaic ``(H, W)`` → sRGB float32 ``(H, W, 3)`` in [0, 1]."""
        import torch

        from plugins_builtin.paramisp.canonet import canonical_forward

        runtime = self.runtime()
        device = runtime.device
        network = self.network("forward").to(device).eval()
        with torch.no_grad(), runtime.autocast():
            camera = camera_tensors([capture], wb_gains, camera_to_srgb, device)
            tensor = torch.as_tensor(np.asarray(mosaic, dtype=np.float32), device=device)[None]
            linear = canonical_forward(tensor, pattern, camera.wb, camera.ccm)
            srgb = network(linear, camera).clamp(0.0, 1.0)
        return runtime.output(srgb[0].permute(1, 2, 0))

    def unprocess(
        self,
        srgb: np.ndarray,
        pattern: str,
        wb_gains: Any,
        camera_to_srgb: Any,
        capture: CaptureParams | None = None,
    ) -> np.ndarray:
        """Inverse: sRGB ``(H, W, 3)`` in [0, 1] → normalised mosaic float32 ``(H, W)``,
        clipped to [0, 1]."""
        import torch

        from plugins_builtin.paramisp.canonet import canonical_inverse

        runtime = self.runtime()
        device = runtime.device
        network = self.network("inverse").to(device).eval()
        with torch.no_grad(), runtime.autocast():
            camera = camera_tensors([capture], wb_gains, camera_to_srgb, device)
            tensor = torch.as_tensor(np.asarray(srgb, dtype=np.float32), device=device)
            linear = network(tensor.permute(2, 0, 1)[None], camera)
            mosaic = canonical_inverse(linear, pattern, camera.wb, camera.ccm).clamp(0.0, 1.0)
        return runtime.output(mosaic[0])

    # -- weights --------------------------------------------------------------
    def num_parameters(self) -> int:
        """Learned parameters of the held directions."""
        return sum(p.numel() for p in self.parameters())

    def state(self) -> dict[str, Any]:
        """Every weight, named ``DIRECTION.PATH`` (e.g. ``inverse.paramnet.…``)."""
        return {
            f"{direction}.{name}": tensor.detach().cpu()
            for direction, network in self.networks().items()
            for name, tensor in network.state_dict().items()
        }

    def load_state(self, state: Mapping[str, Any], source: str = "paramisp weights") -> None:
        """Load weights named as :meth:`state` names them; :class:`InputError` naming the
        first missing, unexpected or mis-shaped array."""
        import torch

        expected = self.state()
        held = sorted({name.split(".", 1)[0] for name in state})
        arrays = checked_state(
            state,
            expected,
            source,
            missing_detail=f"the file holds {', '.join(held) or 'nothing'}, "
            f"this model needs {', '.join(self.directions)}",
        )
        loaded = {
            name: torch.from_numpy(arrays[name]).to(reference.dtype)
            for name, reference in expected.items()
        }
        for direction, network in self.networks().items():
            prefix = f"{direction}."
            network.load_state_dict(
                {k[len(prefix) :]: v for k, v in loaded.items() if k.startswith(prefix)}
            )


def camera_tensors(
    captures: Sequence[CaptureParams | None], wb_gains: Any, camera_to_srgb: Any, device: Any
) -> Any:
    """The networks' :class:`~plugins_builtin.paramisp.networks.CameraTensors` of a batch:
    capture parameters (unknown ones NaN), white-balance gains ``(N, 3)`` and
    camera → linear sRGB matrices ``(N, 3, 3)`` (one row or matrix is repeated)."""
    from plugins_builtin.paramisp.networks import CameraTensors

    count = len(captures)
    wb = np.broadcast_to(np.asarray(wb_gains, dtype=np.float32).reshape(-1, 3), (count, 3))
    ccm = np.broadcast_to(
        np.asarray(camera_to_srgb, dtype=np.float32).reshape(-1, 3, 3), (count, 3, 3)
    )
    return CameraTensors.from_values(
        [c or CaptureParams() for c in captures], wb.copy(), ccm.copy(), device=device
    )


def load_saved(path: str | Path) -> ParamISPModel:
    """The model of a ParamISP method saved by either method (give its ``.json`` or its
    weights file). Another method's file, or a file without weights, is an
    :class:`InputError` saying so."""
    path = Path(path)
    settings_path = path if path.suffix == ".json" else path.with_suffix(".json")
    try:
        document = json.loads(settings_path.read_text())
    except (OSError, ValueError) as error:
        raise InputError(
            f"{path}: not a saved ParamISP model (cannot read {settings_path.name}: {error})"
        ) from None
    if not isinstance(document, dict) or document.get("format") not in SAVED_FORMATS:
        raise InputError(f"{settings_path}: not a saved ispengine method")
    if document.get("method") != "paramisp":
        raise InputError(
            f"{settings_path}: holds method '{document.get('method')}', not 'paramisp'"
        )
    if not document.get("weights"):
        raise InputError(f"{settings_path}: a ParamISP model saved without weights")
    from ispengine.core.settings import coerce_table

    settings = dict(document.get("settings") or {})
    declared = settings_for(settings.get("directions", "inverse"))
    model = ParamISPModel(coerce_table(declared, settings, "saved ParamISP model"))
    weights = settings_path.parent / document["weights"]
    model.load_state(load_arrays(weights), source=str(weights))
    return model
