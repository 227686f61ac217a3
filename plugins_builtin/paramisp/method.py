"""ParamISP as an sRGB-to-RAW method and as a RAW-to-sRGB method (both named ``paramisp``).

Both are thin wrappers of one :class:`~plugins_builtin.paramisp.model.ParamISPModel`
(settings, networks, weights) trained by :mod:`plugins_builtin.paramisp.training`:

* :class:`ParamISP` (sRGB → RAW) trains the inverse network by default
  (``directions = "inverse"``; ``"both"`` also trains the forward one, and
  allows joint fine-tuning). ``convert`` needs the target camera's white
  balance and colour matrix (``wb_gains`` and ``camera_to_srgb``, or
  ``xyz_to_camera``, in ``metadata``: ``--like RAW`` on the command line), as
  CanoNet⁻¹ does; the capture parameters come from ``capture`` (the sRGB
  file's EXIF), then from ``metadata``; a missing one is ParamNet's dropped
  encoding. The RAW it returns carries the white balance and matrix used.
* :class:`ParamISPRender` (RAW → sRGB) trains the forward network
  (``directions = "forward"`` by default) and renders a RAW with its own
  metadata (pattern, levels, white balance, matrix, capture parameters).

Settings (ranges inclusive; both methods):

* ``config``: ``published`` (≈0.71M parameters per direction) or ``small``.
* ``directions``: ``inverse`` | ``forward`` | ``both``.
* ``crop`` (even, [8, 2048], default 128: smaller inputs than GlobalNet's
  ~96 px are padded by the network) and ``batch_size`` ([1, 256], default 4);
  the paper uses 448 and 8.
* ``lr`` ([1e-7, 0.1], default 2e-4, the paper's) and ``decay_every`` (steps
  between ×0.8 decays, default 2000).
* ``mask``: over-exposure mask ``paper`` 10·max(x − 0.9, 0) or ``code``
  20·max(x − 0.95, 0); ``use_paramnet``, ``equalise``, ``dropout`` ([0, 1],
  default 0.2, at most 0.99), ``optical`` (comma-separated subset of focal_length,
  f_number, exposure_time, iso): ParamNet and its ablations.
* ``fine_tune_camera`` (empty: none), ``fine_tune_fraction`` ([0, 1], default
  0.2), ``joint_steps`` (≥ 0; needs ``directions = "both"``).
* ``device``: ``auto`` | ``cpu`` | ``cuda``; ``checkpoint_every`` (steps).

Source: W. Kim, G. Kim, J. Lee, S. Lee, S.-H. Baek, S. Cho, "ParamISP: Learned
Forward and Inverse ISPs using Camera Parameters", CVPR 2024, §3–4.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ispengine.core.errors import InputError
from ispengine.io.raw.image import CaptureParams, RawImage, camera_to_srgb_from_xyz
from ispengine.learning.raw_to_srgb import RawToSrgbMethod
from ispengine.learning.srgb_to_raw import (
    Budget,
    FitReport,
    SrgbToRawMethod,
    TargetCamera,
    Unprocessed,
    as_srgb,
)
from plugins_builtin.paramisp.model import ParamISPModel, settings_for

SUMMARY = "ParamISP (Kim et al. 2024): {what} conditioned on camera parameters (EXIF + colour)"


class _ParamISPMethod:
    """What both methods share: the model, fit and persistence."""

    name = "paramisp"
    learned = True
    config: dict[str, Any]

    def _build_model(self) -> None:
        self.model = ParamISPModel(self.config)

    def fit(
        self,
        dataset: Any,
        budget: Budget,
        *,
        seed: int = 0,
        checkpoint: str | Path | None = None,
        resume: bool = False,
        progress: bool = True,
    ) -> FitReport:
        """Train the held directions on ``dataset``'s train split within ``budget``
        (:func:`plugins_builtin.paramisp.training.train`)."""
        from plugins_builtin.paramisp.training import train

        return train(
            self.model,
            dataset,
            budget,
            seed=seed,
            checkpoint=checkpoint,
            resume=resume,
            progress=progress,
        )

    def num_parameters(self) -> int:
        """Learned parameters of the held directions."""
        return self.model.num_parameters()

    def state(self) -> dict[str, Any]:
        """The weights of the held directions (``forward.…`` / ``inverse.…``)."""
        return self.model.state()

    def load_state(self, state: Mapping[str, Any]) -> None:
        self.model.load_state(state)


class ParamISP(_ParamISPMethod, SrgbToRawMethod):
    """ParamISP's inverse network as an sRGB-to-RAW method (see the module docstring)."""

    summary = SUMMARY.format(what="learned inverse ISP")
    one_to_many = False
    settings = settings_for("inverse")

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self._build_model()

    def convert(
        self,
        srgb: Any,
        *,
        capture: CaptureParams | None = None,
        metadata: Mapping[str, Any] | None = None,
        seed: int | None = None,
    ) -> Unprocessed:
        """The inverse network and CanoNet⁻¹ on the whole image (deterministic: ``seed``
        is ignored), clipped to [0, 1], for the target camera of ``metadata``.

        The returned metadata holds the target camera, its colour data and the
        capture parameters used (``RawImage.metadata`` keys); given back as
        ``metadata`` it reproduces the RAW."""
        image = as_srgb(srgb)
        metadata = dict(metadata or {})
        target = TargetCamera.from_metadata(metadata)
        wb_gains, matrix = colour_of(target)
        capture = (capture or CaptureParams()).merged(CaptureParams.from_dict(metadata))
        mosaic = self.model.unprocess(image, target.cfa_pattern, wb_gains, matrix, capture)
        raw = target.make_raw(mosaic, capture=capture, wb_gains=wb_gains, camera_to_srgb=matrix)
        drawn = {
            "method": self.name,
            "config": self.config["config"],
            **target.as_metadata(),
            "wb_gains": wb_gains.tolist(),
            "camera_to_srgb": matrix.tolist(),
            **{k: v for k, v in capture.as_dict().items() if v is not None},
        }
        return Unprocessed(raw, drawn)


class ParamISPRender(_ParamISPMethod, RawToSrgbMethod):
    """ParamISP's forward network as a RAW-to-sRGB method (see the module docstring)."""

    summary = SUMMARY.format(what="learned forward ISP")
    settings = settings_for("forward")

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self._build_model()

    def render(self, raw: RawImage, *, capture: CaptureParams | None = None) -> np.ndarray:
        """CanoNet and the forward network on the normalised mosaic: float32 ``(H, W, 3)``
        in [0, 1]. ``capture`` overrides the RAW's own capture parameters."""
        from ispengine.io.raw.levels import normalize

        if not isinstance(raw, RawImage):
            raise InputError(f"paramisp: render takes a RawImage, got {type(raw).__name__}")
        capture = (capture or CaptureParams()).merged(raw.capture)
        return self.model.render(
            normalize(raw), raw.cfa_pattern, raw.wb_gains, raw.camera_to_srgb, capture
        )


def colour_of(target: TargetCamera) -> tuple[np.ndarray, np.ndarray]:
    """The target's white-balance gains and camera → sRGB matrix (derived from
    ``xyz_to_camera`` when only that is given); one-line :class:`InputError` naming
    the missing key otherwise."""
    if target.wb_gains is None:
        raise InputError(
            "paramisp: the target camera's metadata has no 'wb_gains' (CanoNet needs the "
            "white balance: give --like RAW of the target camera, or wb_gains in the metadata)"
        )
    matrix = target.camera_to_srgb
    if matrix is None and target.xyz_to_camera is not None:
        matrix = camera_to_srgb_from_xyz(target.xyz_to_camera)
    if matrix is None:
        raise InputError(
            "paramisp: the target camera's metadata has no 'camera_to_srgb' (nor "
            "'xyz_to_camera'): give --like RAW of the target camera, or the matrix"
        )
    return np.asarray(target.wb_gains, dtype=np.float64), np.asarray(matrix, dtype=np.float64)
