"""The ``upi`` sRGB-to-RAW method: UPI unprocessing, faithful or exactly invertible.

Modes (setting ``mode``):

* ``faithful``: the published inverse exactly (:mod:`.reference`): inverse
  smoothstep, gamma 2.2, random CCM from the camera bank, safe inverse gains
  with the highlight mask, clip to [0, 1], mosaic. The values it drew
  (``cam2rgb``, ``rgb_gain``, ``red_gain``, ``blue_gain``, ``seed``) come back
  as metadata; passing them back as ``metadata`` reproduces the RAW bit for bit.
* ``exact``: the automatic inverse of ``upi_forward.toml`` (white balance with
  ``[red, 1, blue]·rgb_gain`` → bilinear demosaic → cam2rgb → gamma 2.2 →
  smoothstep), the same draws, without the highlight mask and the clip, so
  ``upi_forward`` maps its RAW back to the sRGB image wherever no value leaves
  [0, 1] (the RAW → sRGB → RAW round trip is the identity; demosaicing cannot
  restore the two colours a mosaic drops, so sRGB → RAW → sRGB is the identity
  only on images bilinear demosaicing reproduces, e.g. flat colours).

:meth:`UPI.forward` develops a RAW with the mode's forward: the reference's
own (not UPI's inverse; see :mod:`.reference`) or the exact twin.

Colour data (settings ``bank`` and ``gains``): the camera bank is
``"published"`` (the four reference matrices), ``"dataset"`` (the distinct
colour matrices of the training RAWs, gathered by ``fit``), ``"target"`` (the
target camera's own ``xyz_to_camera`` from the metadata), or an explicit list of
XYZ→camera matrices (e.g. from :func:`.bank.bank_from_raws`). ``gains =
"target"`` takes the red and blue gains from the target's as-shot white
balance (with ``rgb_gain = 1``) instead of drawing them.

Noise (setting ``noise``): ``none``, or a model of :mod:`plugins_builtin.noise`
(``upi``, ``cycleisp``, ``semiisp``) drawn after the colour values from the
same generator and added to the mosaic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ispengine.core.errors import InputError
from ispengine.core.settings import ArraySetting, OptionSpec
from ispengine.io.raw.image import CaptureParams, RawImage
from ispengine.learning.srgb_to_raw import (
    Budget,
    FitReport,
    SrgbToRawMethod,
    TargetCamera,
    Unprocessed,
    as_srgb,
    check_seed,
    train_split,
)
from plugins_builtin.upi import reference
from plugins_builtin.upi.bank import MAX_CONDITION, check_bank, unique_matrices

NOISE_CHOICES = ("none", "upi", "cycleisp", "semiisp")
BANK_NAMES = ("published", "dataset", "target")
DRAW_KEYS = ("cam2rgb", "rgb_gain", "red_gain", "blue_gain")


class UPI(SrgbToRawMethod):
    """UPI unprocessing (Brooks et al., CVPR 2019); see the module docstring."""

    name = "upi"
    summary = "UPI unprocessing: inverse tone, gamma, random CCM and gains, mosaic"
    one_to_many = True
    settings = (
        OptionSpec(
            "mode",
            ("faithful", "exact"),
            "faithful",
            "faithful: the published inverse; exact: the inverse of upi_forward.toml",
        ),
        ArraySetting(
            "bank",
            (None, 3, 3),
            "published",
            "camera bank: published | dataset | target | a list of XYZ->camera 3x3 matrices",
            names=BANK_NAMES,
        ),
        OptionSpec(
            "gains",
            ("published", "target"),
            "published",
            "published: draw red/blue/rgb gains; target: the target's as-shot white balance",
        ),
        OptionSpec(
            "noise", NOISE_CHOICES, "none", "noise model added to the RAW (plugins_builtin.noise)"
        ),
    )

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        bank = self.config["bank"]
        if isinstance(bank, str):  # one of BANK_NAMES
            self._bank = reference.PUBLISHED_XYZ_TO_CAMERA if bank == "published" else None
        else:
            self._bank = check_bank(bank, "setting 'bank'")
        self._forward_spec = None

    # -- fitting: only the dataset bank needs data -----------------------------
    def fit(
        self, dataset, budget: Budget, *, seed=0, checkpoint=None, resume=False, progress=True
    ) -> FitReport:
        """With ``bank = "dataset"``, gather the training RAWs' colour matrices; else nothing."""
        if self.config["bank"] != "dataset":
            return FitReport(note="analytic: nothing to fit")
        train = train_split(dataset)
        matrices = [s.raw.xyz_to_camera for s in train if s.raw.xyz_to_camera is not None]
        if not matrices:
            raise InputError("bank 'dataset': no training RAW has a colour matrix")
        self._bank = check_bank(unique_matrices(matrices), "dataset bank")
        count = len(self._bank)
        matrices = "1 matrix" if count == 1 else f"{count} matrices"
        return FitReport(note=f"camera bank of {matrices} from the train split")

    def state(self) -> dict[str, Any]:
        if self.config["bank"] == "dataset" and self._bank is not None:
            return {"bank": self._bank}
        return {}

    def load_state(self, state: Mapping[str, Any]) -> None:
        if set(state) - {"bank"} or (state and self.config["bank"] != "dataset"):
            super().load_state(state)
        if "bank" in state:
            self._bank = check_bank(state["bank"], "saved bank")

    # -- conversion -----------------------------------------------------------
    def _bank_for(self, target: TargetCamera) -> np.ndarray:
        if self.config["bank"] == "target":
            if target.xyz_to_camera is None:
                raise InputError("bank 'target': the metadata has no xyz_to_camera matrix")
            return check_bank(target.xyz_to_camera, "target xyz_to_camera")
        if self._bank is None:
            raise InputError("bank 'dataset': call fit() on a dataset (or load a saved method)")
        return self._bank

    def draw(
        self, rng: np.random.Generator, target: TargetCamera, given: Mapping[str, Any]
    ) -> reference.UnprocessDraw:
        """The colour values of one conversion: drawn in the reference's order, then any
        given in ``given`` (metadata) replace the drawn ones."""
        drawn = reference.random_draw(rng, self._bank_for(target))
        values = {
            "cam2rgb": drawn.cam2rgb,
            "rgb_gain": drawn.rgb_gain,
            "red_gain": drawn.red_gain,
            "blue_gain": drawn.blue_gain,
        }
        if self.config["gains"] == "target":
            if target.wb_gains is None:
                raise InputError("gains 'target': the metadata has no wb_gains")
            values.update(
                rgb_gain=1.0,
                red_gain=float(target.wb_gains[0] / target.wb_gains[1]),
                blue_gain=float(target.wb_gains[2] / target.wb_gains[1]),
            )
        for key in DRAW_KEYS:
            if key in given:
                values[key] = given[key]
        return _checked_draw(values)

    def convert(
        self,
        srgb: Any,
        *,
        capture: CaptureParams | None = None,
        metadata: Mapping[str, Any] | None = None,
        seed: int | None = None,
    ) -> Unprocessed:
        image = as_srgb(srgb)
        given = dict(metadata or {})
        target = TargetCamera.from_metadata(given)
        if seed is None:
            seed = given.get("seed", np.random.SeedSequence().entropy % 2**63)
        seed = check_seed(seed)
        rng = np.random.default_rng(seed)
        draw = self.draw(rng, target, given)
        if self.config["mode"] == "faithful":
            mosaic = reference.unprocess(image, draw, target.cfa_pattern)
        else:
            mosaic = self._exact_inverse(image, draw, target.cfa_pattern)
        drawn = {
            "method": self.name,
            "mode": self.config["mode"],
            "seed": seed,
            **target.as_metadata(),
            **draw.as_metadata(),
        }
        if self.config["noise"] != "none":
            mosaic, levels = _add_noise(mosaic, self.config["noise"], rng, given)
            drawn.update(levels)
        raw = target.make_raw(
            mosaic,
            capture=capture,
            wb_gains=[draw.red_gain, 1.0, draw.blue_gain],
            camera_to_srgb=draw.cam2rgb,
        )
        return Unprocessed(raw, drawn)

    # -- the forward twin -------------------------------------------------------
    def _forward_pipeline(self):  # noqa: ANN202
        if self._forward_spec is None:
            from ispengine.core.pipeline import Pipeline
            from ispengine.specs import resolve_spec

            self._forward_spec = Pipeline.from_toml(resolve_spec("upi_forward"))
        return self._forward_spec

    def _bound(self, draw: reference.UnprocessDraw, pattern: str):  # noqa: ANN202
        gains = np.array([draw.red_gain, 1.0, draw.blue_gain]) * draw.rgb_gain
        return self._forward_pipeline().bind(
            {"cfa_pattern": pattern, "wb_gains": gains, "camera_to_srgb": draw.cam2rgb}
        )

    def _exact_inverse(
        self, image: np.ndarray, draw: reference.UnprocessDraw, pattern: str
    ) -> np.ndarray:
        return np.asarray(self._bound(draw, pattern).inverse()(image), dtype=np.float64)

    def forward(
        self, raw: RawImage | Unprocessed, metadata: Mapping[str, Any] | None = None
    ) -> np.ndarray:
        """Develop a RAW made by this method with the mode's forward ISP: the
        reference's ``process`` (faithful) or ``upi_forward.toml`` (exact).
        ``metadata`` (default: the :class:`Unprocessed`'s) supplies the draw."""
        if isinstance(raw, Unprocessed):
            metadata = {**raw.metadata, **(metadata or {})}
            raw = raw.raw
        values = dict(metadata or {})
        missing = [k for k in DRAW_KEYS if k not in values]
        if missing:
            raise InputError(f"upi forward: metadata lacks {', '.join(missing)}")
        draw = _checked_draw(values)
        mosaic = np.asarray(raw.mosaic, dtype=np.float64)
        if self.config["mode"] == "faithful":
            return reference.process(mosaic, draw, raw.cfa_pattern)
        return np.asarray(self._bound(draw, raw.cfa_pattern)(mosaic), dtype=np.float64)


def _checked_draw(values: Mapping[str, Any]) -> reference.UnprocessDraw:
    try:
        cam2rgb = np.asarray(values["cam2rgb"], dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"cam2rgb: expected a 3x3 matrix, got {values['cam2rgb']!r}") from None
    if cam2rgb.shape != (3, 3) or not np.all(np.isfinite(cam2rgb)):
        raise InputError(f"cam2rgb: expected a finite 3x3 matrix, got shape {cam2rgb.shape}")
    condition = np.linalg.cond(cam2rgb)
    if not condition <= MAX_CONDITION:
        raise InputError(f"cam2rgb: condition number {condition:.3g} exceeds {MAX_CONDITION:g}")
    gains = {}
    for key in ("rgb_gain", "red_gain", "blue_gain"):
        value = values[key]
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float, np.number))
            or not (np.isfinite(value) and value > 0)
        ):
            raise InputError(f"{key}: must be a positive number, got {value!r}")
        gains[key] = float(value)
    return reference.UnprocessDraw(cam2rgb, **gains)


def _add_noise(
    mosaic: np.ndarray, model: str, rng: np.random.Generator, given: Mapping[str, Any]
) -> tuple[np.ndarray, dict[str, float]]:
    from plugins_builtin.noise.models import NOISE_MODELS, NoiseLevels, add_noise

    levels = NOISE_MODELS[model](rng)
    if "shot_noise" in given or "read_noise" in given:
        try:
            levels = NoiseLevels(
                given.get("shot_noise", levels.shot), given.get("read_noise", levels.read)
            )
        except (TypeError, ValueError) as error:
            raise InputError(f"noise levels from metadata: {error}") from None
    noisy = add_noise(mosaic, levels, rng)
    return noisy, {"noise": model, "shot_noise": levels.shot, "read_noise": levels.read}
