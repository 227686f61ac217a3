"""The sRGB-to-RAW head-to-head benchmark (benchmarks.md, "Head-to-head protocol").

For each method of a :class:`~ispengine.bench.spec.BenchSpec`, on the same data
and under the same budget: fit on the train split, then on each test image
convert the camera's sRGB to a RAW for that camera (its pattern and levels)
and measure (:mod:`ispengine.learning.metrics`):

* RAW fidelity on the normalised mosaic (PSNR, SSIM, MAE) and on the packed
  4-channel RAW (mean per-channel PSNR, SSIM), and the symmetric histogram KL;
* cycle PSNR: the predicted RAW developed by the *camera's* forward ISP against
  the camera's sRGB (SynthCam: its hidden ISP with the sample's parameters; a
  folder of real RAWs: the ``camera_default`` pipeline, compared with the same
  pipeline on the true RAW);
* diversity of one-to-many methods (mean per-pixel standard deviation over
  ``samples`` draws of one image);
* parameters, fit steps and time, and conversion time per megapixel.

Seeds: every method fits with the protocol seed, test image ``j`` converts
with ``seed + j``, and its diversity draws use ``seed + 1000·(j + 1) + k``, so
every number is reproducible from the spec. A method that fails is reported (with its error) and the
others still run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from attrs import frozen

from ispengine.bench import common
from ispengine.bench.common import MethodResult, environment, prepare_dataset
from ispengine.bench.spec import BenchSpec, MethodEntry
from ispengine.core.errors import InputError
from ispengine.io.raw.image import RawImage
from ispengine.io.raw.levels import denormalize, normalize
from ispengine.learning.datasets import PairedDataset, Sample
from ispengine.learning.metrics import aim_psnr, diversity, psnr, raw_metrics

__all__ = [
    "MethodResult",
    "environment",
    "evaluate_image",
    "evaluate_method",
    "prepare_dataset",
    "prepare_test_images",
    "resolve_methods",
    "run_benchmark",
]

DIVERSITY_SEED_STRIDE = 1000
METRIC_KEYS = (
    "psnr",
    "ssim",
    "mae",
    "psnr_packed",
    "ssim_packed",
    "psnr_aim",
    "kl",
    "cycle_psnr",
)
NO_FLAGS = {"one_to_many": False, "needs_srgb_for_forward": False}


# -- the camera's forward ISP for the cycle metric --------------------------------
@frozen(eq=False)
class TestImage:
    """A test sample with what every method is measured against: the normalised true
    mosaic, the camera's forward ISP (``develop``: a RAW in digital numbers → sRGB) and
    the sRGB the true RAW develops to."""

    sample: Sample
    truth: np.ndarray
    develop: Callable[[RawImage], np.ndarray]
    reference: np.ndarray

    def cycle(self, predicted: RawImage) -> np.ndarray:
        """The predicted mosaic developed as the camera would develop its own RAW: inside
        the true RAW, so the camera's white balance and colour matrix apply, not any the
        method drew."""
        mosaic = denormalize(predicted).astype(np.float32)
        return np.clip(self.develop(self.sample.raw.evolve(mosaic=mosaic)), 0.0, 1.0)


def cycle_forward(sample: Sample) -> tuple[Callable[[RawImage], np.ndarray], np.ndarray, str]:
    """``(develop, reference, description)``: develops a RAW (in digital numbers) like the
    sample's camera did, and the sRGB the true RAW develops to."""
    isp = sample.info.get("isp")
    if isp is not None:
        from ispengine.synthcam.camera_isp import run_isp

        return (lambda raw: run_isp(raw, isp)), sample.srgb, "SynthCam camera ISP"
    from ispengine.core.pipeline import Pipeline
    from ispengine.specs import resolve_spec

    pipeline = Pipeline.from_toml(resolve_spec("camera_default"))

    def develop(raw: RawImage) -> np.ndarray:
        return np.clip(np.asarray(pipeline(raw), dtype=np.float64), 0.0, 1.0)

    return develop, develop(sample.raw), "camera_default pipeline"


def prepare_test_images(test: Sequence[Sample]) -> list[TestImage]:
    """Each test sample with its truth and the camera's forward ISP, built once."""
    images = []
    for sample in test:
        develop, reference, _ = cycle_forward(sample)
        images.append(TestImage(sample, normalize(sample.raw), develop, reference))
    return images


# -- one method -------------------------------------------------------------------
def _build(entry: MethodEntry, result: MethodResult) -> Any:
    method = entry.build()
    result.flags = {
        "one_to_many": bool(method.one_to_many),
        "needs_srgb_for_forward": bool(method.needs_srgb_for_forward),
    }
    if method.one_to_many:
        result.summary_extra = ("diversity",)
    return method


def evaluate_method(
    entry: MethodEntry,
    dataset: PairedDataset,
    test: Sequence[TestImage],
    spec: BenchSpec,
    progress: bool,
    log: Callable[[str], None],
) -> MethodResult:
    """Fit and evaluate one method; errors are caught and recorded in the result."""
    protocol = spec.protocol
    return common.evaluate_method(
        MethodResult(entry, METRIC_KEYS, flags=dict(NO_FLAGS)),
        _build,
        lambda method, image, index: evaluate_image(method, image, index, protocol),
        dataset,
        test,
        protocol,
        progress,
        log,
    )


def evaluate_image(
    method: Any, image: TestImage, index: int, protocol: Any
) -> tuple[dict[str, Any], np.ndarray]:
    """One method on one test image: the metrics, and the predicted normalised mosaic."""
    sample, truth = image.sample, image.truth
    metadata = sample.raw.metadata()
    seed = protocol.seed + index
    started = time.perf_counter()
    made = method.convert(sample.srgb, capture=sample.capture, metadata=metadata, seed=seed)
    seconds = time.perf_counter() - started
    predicted = np.asarray(made.raw.mosaic, dtype=np.float64)
    if predicted.shape != truth.shape:
        raise InputError(f"{sample.id}: RAW of shape {predicted.shape}, expected {truth.shape}")
    measured: dict[str, Any] = {
        "id": sample.id,
        **raw_metrics(predicted, truth, sample.raw.cfa_pattern),
    }
    measured["psnr_aim"] = aim_psnr(
        predicted, truth, sample.raw.cfa_pattern, sample.raw.black_level, sample.raw.white_level
    )
    measured["cycle_psnr"] = psnr(image.cycle(made.raw), image.reference)
    measured["seconds"] = seconds
    measured["seconds_per_mp"] = seconds / (truth.size / 1e6)
    if method.one_to_many:
        base = protocol.seed + DIVERSITY_SEED_STRIDE * (index + 1)
        draws = method.sample(
            sample.srgb, protocol.samples, capture=sample.capture, metadata=metadata, seed=base
        )
        measured["diversity"] = diversity([np.asarray(d.raw.mosaic, np.float64) for d in draws])
    return measured, predicted


# -- the whole benchmark --------------------------------------------------------------
def resolve_methods(spec: BenchSpec, only: Sequence[str] | None) -> list[MethodEntry]:
    """The spec's methods (every registered one when it names none), optionally filtered
    by label or name."""
    return common.resolve_methods(spec, only, "srgb_to_raw")


def _context(spec: BenchSpec, test: list[TestImage]) -> tuple[dict, dict]:
    return {"cycle_forward": cycle_forward(test[0].sample)[2]}, {"samples": spec.protocol.samples}


def _write(
    out: Path,
    spec: BenchSpec,
    document: dict[str, Any],
    results: list[MethodResult],
    test: list[TestImage],
) -> None:
    from ispengine.bench.report import write_outputs

    write_outputs(
        out, document, results, [t.sample for t in test[: spec.protocol.error_map_images]]
    )


run_benchmark = common.bench_runner(
    "srgb_to_raw",
    "ispengine-bench-srgb2raw",
    evaluate_method,
    _write,
    prepare=prepare_test_images,
    context=_context,
)
