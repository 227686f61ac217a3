"""The sRGB-to-RAW head-to-head benchmark (benchmarks.md, "Head-to-head protocol").

For each method of a :class:`~ispengine.bench.spec.BenchSpec`, on the same data
and under the same budget: fit on the train split, then on each test image
convert the camera's sRGB to a RAW for that camera (its pattern and levels)
and measure (:mod:`ispengine.metrics`):

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

import math
import platform
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from attrs import define, field, frozen

from ispengine.bench.spec import BenchSpec, MethodEntry
from ispengine.datasets import PairedDataset, Sample, open_dataset
from ispengine.errors import InputError, ISPEngineError
from ispengine.metrics import diversity, psnr, raw_metrics
from ispengine.raw.image import RawImage
from ispengine.raw.levels import denormalize, normalize

DIVERSITY_SEED_STRIDE = 1000
METRIC_KEYS = ("psnr", "ssim", "mae", "psnr_packed", "ssim_packed", "kl", "cycle_psnr")


@define
class MethodResult:
    """Everything measured for one method."""

    entry: MethodEntry
    parameters: int | None = None
    one_to_many: bool = False
    needs_srgb_for_forward: bool = False
    fit: dict[str, Any] = field(factory=dict)
    per_image: list[dict[str, Any]] = field(factory=list)
    error: str | None = None
    maps: list[np.ndarray] = field(factory=list)  # predicted mosaics for the error maps

    def summary(self) -> dict[str, float]:
        """Means over the test images (``diversity`` too); the median ``seconds_per_mp``
        (so the first call's warm-up does not count)."""
        keys = [*METRIC_KEYS, "seconds_per_mp"] + (["diversity"] if self.one_to_many else [])
        out = {}
        for key in keys:
            values = [image[key] for image in self.per_image if key in image]
            average = np.median if key == "seconds_per_mp" else np.mean  # timing: no warm-up
            out[key] = float(average(values)) if values else math.nan
        return out

    def spread(self) -> dict[str, float]:
        return {
            key: float(np.std([image[key] for image in self.per_image]))
            for key in METRIC_KEYS
            if self.per_image and key in self.per_image[0]
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.entry.label,
            "method": self.entry.name,
            "settings": self.entry.settings,
            "parameters": self.parameters,
            "one_to_many": self.one_to_many,
            "needs_srgb_for_forward": self.needs_srgb_for_forward,
            "fit": self.fit,
            "mean": self.summary(),
            "std": self.spread(),
            "per_image": self.per_image,
            "error": self.error,
        }


# -- data ------------------------------------------------------------------------
def prepare_dataset(spec: BenchSpec, out_dir: Path, progress: bool) -> tuple[PairedDataset, dict]:
    """The spec's dataset: a folder, or SynthCam generated under ``out_dir/data`` (reused
    when an earlier run made the same one)."""
    if spec.folder is not None:
        dataset = open_dataset(spec.folder)
        return dataset, {"kind": type(dataset).__name__, "folder": str(spec.folder)}
    from ispengine.synthcam.generate import generate_dataset

    params = spec.synthcam
    folder = out_dir / "data"
    if not _same_synthcam(folder, params.as_dict()):
        generate_dataset(
            folder, params.n, params.size, params.seed, params.cameras, progress=progress
        )
    return open_dataset(folder), {"kind": "synthcam", "folder": str(folder), **params.as_dict()}


def _same_synthcam(folder: Path, params: dict[str, Any]) -> bool:
    import json

    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    cameras = params["cameras"]
    return (
        manifest.get("seed") == params["seed"]
        and manifest.get("size") == params["size"]
        and len(manifest.get("samples", [])) == params["n"]
        and (cameras is None or manifest.get("cameras") == cameras)
    )


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
    from ispengine.pipeline import Pipeline
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
def _build(entry: MethodEntry) -> Any:
    from ispengine.srgb_to_raw import method_class

    return method_class(entry.name)(**entry.settings)


def evaluate_method(
    entry: MethodEntry,
    dataset: PairedDataset,
    test: Sequence[TestImage],
    spec: BenchSpec,
    progress: bool,
    log: Callable[[str], None],
) -> MethodResult:
    """Fit and evaluate one method; errors are caught and recorded in the result."""
    from tqdm import tqdm

    result = MethodResult(entry)
    protocol = spec.protocol
    try:
        method = _build(entry)
        result.one_to_many = bool(method.one_to_many)
        result.needs_srgb_for_forward = bool(method.needs_srgb_for_forward)
        started = time.perf_counter()
        report = method.fit(dataset, protocol.budget, seed=protocol.seed, progress=progress)
        result.fit = {**report.as_dict(), "wall_seconds": time.perf_counter() - started}
        result.parameters = int(method.num_parameters())
        for index, image in enumerate(
            tqdm(test, desc=entry.label, disable=not progress, unit="image", leave=False)
        ):
            measured, mosaic = evaluate_image(method, image, index, protocol)
            result.per_image.append(measured)
            if index < protocol.error_map_images:
                result.maps.append(mosaic)
    except Exception as error:  # one failing method must not stop the others
        result.error = f"{type(error).__name__}: {error}"
        if not isinstance(error, ISPEngineError):
            result.error += " | " + traceback.format_exc(limit=-1).strip().splitlines()[-2].strip()
        log(f"warning: method '{entry.label}' failed: {result.error}")
    return result


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
    from ispengine.plugins import get_registry

    registry = get_registry()
    entries = list(spec.methods) or [MethodEntry(n, n) for n in registry.names("srgb_to_raw")]
    for entry in entries:
        registry.get("srgb_to_raw", entry.name)  # unknown names fail before any work
    if only:
        wanted = set(only)
        unknown = wanted - {e.label for e in entries} - {e.name for e in entries}
        if unknown:
            raise InputError(
                f"--only: {sorted(unknown)[0]!r} is not in the spec "
                f"(labels: {', '.join(e.label for e in entries)})"
            )
        entries = [e for e in entries if e.label in wanted or e.name in wanted]
    return entries


def environment() -> dict[str, Any]:
    import os

    info = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    if "torch" in sys.modules:
        info["torch"] = sys.modules["torch"].__version__
    return info


def run_benchmark(
    spec: BenchSpec,
    out_dir: str | Path,
    *,
    quick: bool = False,
    only: Sequence[str] | None = None,
    progress: bool = True,
    command: str | None = None,
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
) -> dict[str, Any]:
    """Run the benchmark, write ``results.json``, ``results.md`` and the figures under
    ``out_dir``, and return the results document."""
    from ispengine.bench.report import write_outputs

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    entries = resolve_methods(spec, only)
    dataset, data_info = prepare_dataset(spec, out, progress)
    train, test_split = dataset.split("train"), dataset.split("test")
    if not len(train) or not len(test_split):
        raise InputError(
            f"{data_info['folder']}: need train and test samples "
            f"(train {len(train)}, test {len(test_split)})"
        )
    test_ids = test_split.ids[: spec.protocol.test_limit or None]
    test = prepare_test_images([test_split.load(i) for i in test_ids])
    data_info.update(train=len(train), test=len(test), test_ids=test_ids)
    results = [evaluate_method(e, dataset, test, spec, progress, log) for e in entries]
    document = {
        "format": "ispengine-bench-srgb2raw",
        "version": 1,
        "spec": spec.name,
        "spec_file": spec.source,
        "description": spec.description,
        "quick": quick,
        "command": command,
        "data": data_info,
        "cycle_forward": cycle_forward(test[0].sample)[2],
        "protocol": {
            "seed": spec.protocol.seed,
            "budget": spec.protocol.budget.as_dict(),
            "test_limit": spec.protocol.test_limit,
            "samples": spec.protocol.samples,
        },
        "environment": environment(),
        "methods": [r.as_dict() for r in results],
    }
    write_outputs(
        out, document, results, [t.sample for t in test[: spec.protocol.error_map_images]]
    )
    return document
