"""Global calibrations between two cameras: one 3×3 matrix, or one polynomial.

Both map camera A's RGB ``c = (R, G, B)`` (G the mean of the two greens of the
packed RAW) to camera B's, the same map for every pixel of every image:

* ``calibration_3x3``: ``c_B = M c_A``, M 3×3;
* ``calibration_polynomial``: ``c_B = Wᵀ φ(c_A)`` with the nine second-order
  terms ``φ(c) = (R², G², B², RG, RB, GB, R, G, B)`` (no constant: black stays
  black), W 9×3 — the three-channel counterpart of CSTPP's fourteen terms.

Fitted by least squares (ridge ``λ‖W‖²`` for the polynomial, whose terms are
strongly correlated) in each direction separately, on one of two sources:

* ``chart`` (default, SynthCam cameras only): the patches of a colour chart
  rendered for both cameras (:mod:`.chart`) under every illuminant SynthCam's
  spectral scenes draw from (``illuminants = "all"``: a truly global
  calibration that does not know the scene's light), or under the test scene's own
  illuminant(s) only (``illuminants = "scene"``: one calibration per light, an
  upper bound for global calibrations). The polynomial is not homogeneous, so its
  patches are repeated at the exposures ``exposures`` (relative to a perfect white
  at G = 1) to cover the range RAW values take;
* ``anchors``: the pixels of the paired anchor images (every ``stride``-th
  pixel; pixels with a value ≥ 0.95 in either camera left out), as a calibration
  from a few paired shots of real cameras would be.

Baselines of "Generalizing ISP Model by Unsupervised Raw-to-raw Mapping" (ACM MM
2024, Table 1: global 3×3 calibration, global polynomial).

Settings: ``source`` (chart | anchors), ``chart`` (a ColorChecker of
:data:`~.chart.CHARTS`), ``illuminants`` (all | scene; chart only), ``exposures``
(each in (0, 4]), ``ridge`` (≥ 0, polynomial only), ``stride`` ([1, 64], anchors).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ispengine.core.errors import InputError
from ispengine.core.settings import (
    ArraySetting,
    FloatSetting,
    IntegerSetting,
    OptionSpec,
    StringSetting,
)
from ispengine.learning.raw_to_raw import (
    DIRECTIONS,
    NEUTRAL_FIT_CEILING,
    RawToRawMethod,
    check_direction,
    packed_raw,
    rgb_of_packed,
)
from ispengine.learning.srgb_to_raw import Budget, FitReport
from plugins_builtin.calibration.chart import (
    ALL_ILLUMINANTS,
    CHARTS,
    chart_patches,
    scene_illuminants,
)

DEFAULT_EXPOSURES = (0.0625, 0.125, 0.25, 0.5, 1.0)


def polynomial_terms(rgb: np.ndarray) -> np.ndarray:
    """``(..., 3)`` → the nine second-order terms ``(..., 9)`` (module docstring)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return np.stack([r * r, g * g, b * b, r * g, r * b, g * b, r, g, b], axis=-1)


class GlobalCalibration(RawToRawMethod):
    """Shared by the two calibrations: sources, fitting, applying (module docstring)."""

    #: "matrix" or "polynomial".
    model: ClassVar[str] = "matrix"
    settings = (
        OptionSpec("source", ("chart", "anchors"), "chart", "what the calibration is fitted on"),
        OptionSpec("chart", CHARTS, "colorchecker_babelcolor", "the chart (source = chart)"),
        OptionSpec(
            "illuminants",
            ("all", "scene"),
            "all",
            "chart lights: every SynthCam illuminant, or the test scene's own",
        ),
        ArraySetting(
            "exposures",
            (None,),
            list(DEFAULT_EXPOSURES),
            "chart exposures (perfect white G = 1) the patches are repeated at",
            low=1e-4,
            high=4.0,
        ),
        FloatSetting("ridge", 1e-6, "ridge weight of the polynomial fit", low=0.0, high=1.0),
        IntegerSetting("stride", 4, "pixel stride of the anchor fit", low=1, high=64),
        StringSetting(
            "cameras",
            None,
            "cameras A and B (set by fit from the dataset; saved with the weights)",
            multiple=True,
        ),
    )

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self.weights: dict[str, np.ndarray] = {}
        self._per_light: dict[tuple[str, tuple[str, ...]], np.ndarray] = {}

    @property
    def cameras(self) -> tuple[str, ...] | None:
        return self.config["cameras"]

    # -- fitting -----------------------------------------------------------------
    def features(self, rgb: np.ndarray) -> np.ndarray:
        return rgb if self.model == "matrix" else polynomial_terms(rgb)

    def solve(self, source: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Least-squares weights ``(k, 3)`` with ``features(source) @ W ≈ target``."""
        x = self.features(np.asarray(source, dtype=np.float64))
        y = np.asarray(target, dtype=np.float64)
        ridge = self.config["ridge"] if self.model == "polynomial" else 0.0
        gram = x.T @ x + ridge * len(x) * np.eye(x.shape[1])
        try:
            return np.linalg.solve(gram, x.T @ y)
        except np.linalg.LinAlgError:
            raise InputError(
                f"method '{self.name}': the fitting colours do not span camera RGB (all "
                "grey or all one colour?); fit on a chart or on more varied anchors"
            ) from None

    def chart_pair(self, illuminants: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        if self.cameras is None:
            raise InputError(f"method '{self.name}': not fitted (no cameras)")
        a, b = (chart_patches(c, self.config["chart"], illuminants) for c in self.cameras)
        scales = np.asarray(self.config["exposures"] if self.model == "polynomial" else [1.0])
        return (
            np.concatenate([a * s for s in scales]),
            np.concatenate([b * s for s in scales]),
        )

    def anchor_pair(self, pairs: Any) -> tuple[np.ndarray, np.ndarray]:
        stride = self.config["stride"]
        sources, targets = [], []
        for sample_a, sample_b in pairs.anchor_pairs(*self.cameras):
            a = rgb_of_packed(packed_raw(sample_a.raw))[::stride, ::stride].reshape(-1, 3)
            b = rgb_of_packed(packed_raw(sample_b.raw))[::stride, ::stride].reshape(-1, 3)
            keep = (a.max(axis=1) < NEUTRAL_FIT_CEILING) & (b.max(axis=1) < NEUTRAL_FIT_CEILING)
            sources.append(a[keep])
            targets.append(b[keep])
        if not sources or sum(len(s) for s in sources) < 16:
            raise InputError(
                f"method '{self.name}': source = 'anchors' needs paired anchor images "
                "with unclipped pixels, and the dataset has none"
            )
        return np.concatenate(sources), np.concatenate(targets)

    def fit_directions(self, a: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
        return {"a_to_b": self.solve(a, b), "b_to_a": self.solve(b, a)}

    def fit(
        self,
        pairs: Any,
        budget: Budget,
        *,
        seed: int = 0,
        checkpoint: str | Path | None = None,
        resume: bool = False,
        progress: bool = True,
    ) -> FitReport:
        """Fit both directions between ``pairs``' first two cameras (module docstring)."""
        cameras = tuple(pairs.cameras[:2])
        self.config["cameras"] = cameras
        self._per_light.clear()
        source, lights = self.config["source"], self.config["illuminants"]
        if source == "anchors":
            a, b = self.anchor_pair(pairs)
            self.weights = self.fit_directions(a, b)
            return FitReport(note=f"least squares on {len(a)} anchor pixels")
        if lights == "scene":
            self.weights = {}
            chart_patches(cameras[0], self.config["chart"], ALL_ILLUMINANTS[:1])  # checks
            chart_patches(cameras[1], self.config["chart"], ALL_ILLUMINANTS[:1])
            return FitReport(note="fitted per test scene on its illuminant(s)")
        a, b = self.chart_pair(tuple(ALL_ILLUMINANTS))
        self.weights = self.fit_directions(a, b)
        return FitReport(note=f"least squares on {len(a)} chart patches")

    def weights_for(self, direction: str, scene: Mapping[str, Any] | None) -> np.ndarray:
        if self.config["source"] == "chart" and self.config["illuminants"] == "scene":
            lights = scene_illuminants(dict(scene) if scene else None)
            key = (direction, lights)
            if key not in self._per_light:
                a, b = self.chart_pair(lights)
                self._per_light.update(
                    {(d, lights): w for d, w in self.fit_directions(a, b).items()}
                )
            return self._per_light[key]
        if direction not in self.weights:
            raise InputError(f"method '{self.name}': not fitted (call fit first)")
        return self.weights[direction]

    # -- mapping ------------------------------------------------------------------
    def map_packed(
        self,
        packed: np.ndarray,
        direction: str,
        *,
        scene: Mapping[str, Any] | None = None,
        downsample: int | None = None,
    ) -> np.ndarray:
        """``c_B = Wᵀ φ(c_A)`` per pixel, clipped to [0, 1] (the target's RAW range); both
        greens of the output take the mapped G."""
        check_direction(direction)
        self.check_downsample(downsample)
        weights = self.weights_for(direction, scene)
        packed = np.asarray(packed, dtype=np.float64)
        mapped = self.features(rgb_of_packed(packed)) @ weights
        out = np.stack([mapped[..., 0], mapped[..., 1], mapped[..., 1], mapped[..., 2]], axis=-1)
        return np.clip(out, 0.0, 1.0).astype(np.float32)

    # -- saving --------------------------------------------------------------------
    def num_parameters(self) -> int:
        return int(sum(w.size for w in self.weights.values()))

    def state(self) -> dict[str, Any]:
        return dict(self.weights)

    def load_state(self, state: Mapping[str, Any]) -> None:
        unknown = sorted(set(state) - set(DIRECTIONS))
        if unknown:
            raise InputError(f"method '{self.name}': unexpected weights {unknown[0]!r}")
        size = 3 if self.model == "matrix" else 9
        weights = {}
        for direction, value in state.items():
            array = np.asarray(value, dtype=np.float64)
            if array.shape != (size, 3):
                raise InputError(
                    f"method '{self.name}': '{direction}' has shape {array.shape}, "
                    f"expected {(size, 3)}"
                )
            weights[direction] = array
        self.weights = weights


class Calibration3x3(GlobalCalibration):
    """One global 3×3 matrix per direction (module docstring)."""

    name = "calibration_3x3"
    summary = "global 3×3 calibration fitted on chart patches or paired anchors"
    model = "matrix"


class CalibrationPolynomial(GlobalCalibration):
    """One global second-order polynomial per direction (module docstring)."""

    name = "calibration_polynomial"
    summary = "global second-order polynomial calibration on chart patches or anchors"
    model = "polynomial"
