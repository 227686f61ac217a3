"""What every head-to-head benchmark shares: data, the method loop and the results document.

A bench (``ispengine bench srgb2raw``, ``ispengine bench raw2srgb``) reads a
:class:`~ispengine.bench.spec.BenchSpec`, prepares its dataset
(:func:`prepare_dataset`: a folder, or SynthCam generated once under
``OUT/data``), resolves the spec's methods in one registry kind
(:func:`resolve_methods`), and runs :func:`evaluate_method` on each: build,
``fit`` on the train split under the protocol's budget and seed, then a
bench-specific measurement of every test image. A method that fails is
recorded with its error and the others still run. :func:`results_document`
assembles the JSON document both benches write.
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
from attrs import define, field

from ispengine.bench.spec import BenchSpec, MethodEntry, Protocol
from ispengine.core.errors import InputError, ISPEngineError
from ispengine.learning.datasets import PairedDataset, Sample, open_dataset


@define
class MethodResult:
    """Everything measured for one method: ``metric_keys`` are averaged (and their spread
    reported); ``summary_extra`` are averaged too, without a spread; ``flags`` are
    properties of the method written beside its parameter count."""

    entry: MethodEntry
    metric_keys: tuple[str, ...] = ()
    summary_extra: tuple[str, ...] = ()
    parameters: int | None = None
    flags: dict[str, Any] = field(factory=dict)
    fit: dict[str, Any] = field(factory=dict)
    per_image: list[dict[str, Any]] = field(factory=list)
    error: str | None = None
    maps: list[np.ndarray] = field(factory=list)  # predictions shown in the error maps

    def summary(self) -> dict[str, float]:
        """Means over the test images; the median ``seconds_per_mp`` (so the first call's
        warm-up does not count)."""
        out = {}
        for key in [*self.metric_keys, "seconds_per_mp", *self.summary_extra]:
            values = [image[key] for image in self.per_image if key in image]
            average = np.median if key == "seconds_per_mp" else np.mean  # timing: no warm-up
            out[key] = float(average(values)) if values else math.nan
        return out

    def spread(self) -> dict[str, float]:
        return {
            key: float(np.std([image[key] for image in self.per_image]))
            for key in self.metric_keys
            if self.per_image and key in self.per_image[0]
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.entry.label,
            "method": self.entry.name,
            "settings": self.entry.settings,
            "parameters": self.parameters,
            **self.flags,
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


def prepare_splits(
    spec: BenchSpec, out: Path, progress: bool
) -> tuple[PairedDataset, dict[str, Any], list[Sample]]:
    """The dataset, its description (with the split sizes and test ids) and the test
    samples evaluated (at most ``test_limit``); both splits must be non-empty."""
    dataset, data_info = prepare_dataset(spec, out, progress)
    train, test_split = dataset.split("train"), dataset.split("test")
    if not len(train) or not len(test_split):
        raise InputError(
            f"{data_info['folder']}: need train and test samples "
            f"(train {len(train)}, test {len(test_split)})"
        )
    limit, cameras = spec.protocol.test_limit or None, spec.protocol.test_cameras
    if cameras:
        test = [s for s in map(test_split.load, test_split.ids) if camera_of(s) in cameras]
        if not test:
            raise InputError(
                f"{data_info['folder']}: no test sample of the cameras {', '.join(cameras)}"
            )
        test = test[:limit]
    else:
        test = [test_split.load(i) for i in test_split.ids[:limit]]
    test_ids = [sample.id for sample in test]
    data_info.update(train=len(train), test=len(test), test_ids=test_ids)
    return dataset, data_info, test


def camera_of(sample: Sample) -> str:
    """A sample's camera for ``test_cameras``: SynthCam's camera name, else ``make model``."""
    name = sample.info.get("camera")
    if name:
        return str(name)
    return " ".join(part for part in (sample.capture.make, sample.capture.model) if part)


# -- methods -----------------------------------------------------------------------
def resolve_methods(spec: BenchSpec, only: Sequence[str] | None, kind: str) -> list[MethodEntry]:
    """The spec's methods (every method registered as ``kind`` when it names none),
    optionally filtered by label or name; an unknown name among those that will run
    fails before any work."""
    from ispengine.core.plugins import get_registry

    registry = get_registry()
    entries = list(spec.methods) or [MethodEntry(n, n) for n in registry.names(kind)]
    if only:
        wanted = set(only)
        unknown = wanted - {e.label for e in entries} - {e.name for e in entries}
        if unknown:
            raise InputError(
                f"--only: {sorted(unknown)[0]!r} is not in the spec "
                f"(labels: {', '.join(e.label for e in entries)})"
            )
        entries = [e for e in entries if e.label in wanted or e.name in wanted]
    for entry in entries:
        registry.get(kind, entry.name)  # unknown names fail before any work
    return entries


def evaluate_method(
    result: MethodResult,
    build: Callable[[MethodEntry, MethodResult], Any],
    measure: Callable[[Any, Any, int], tuple[dict[str, Any], np.ndarray]],
    dataset: PairedDataset,
    test: Sequence[Any],
    protocol: Protocol,
    progress: bool,
    log: Callable[[str], None],
) -> MethodResult:
    """Fit and evaluate one method into ``result``; errors are caught and recorded.

    ``build(entry, result)`` makes the method (and may record flags in ``result``);
    ``measure(method, image, index)`` gives one test image's values and the prediction
    kept for the error maps (the first ``protocol.error_map_images``)."""
    from tqdm import tqdm

    entry = result.entry
    try:
        method = build(entry, result)
        started = time.perf_counter()
        report = method.fit(dataset, protocol.budget, seed=protocol.seed, progress=progress)
        result.fit = {**report.as_dict(), "wall_seconds": time.perf_counter() - started}
        result.parameters = int(method.num_parameters())
        for index, image in enumerate(
            tqdm(test, desc=entry.label, disable=not progress, unit="image", leave=False)
        ):
            measured, shown = measure(method, image, index)
            result.per_image.append(measured)
            if index < protocol.error_map_images:
                result.maps.append(shown)
    except Exception as error:  # one failing method must not stop the others
        result.error = f"{type(error).__name__}: {error}"
        if not isinstance(error, ISPEngineError):
            result.error += " | " + traceback.format_exc(limit=-1).strip().splitlines()[-2].strip()
        log(f"warning: method '{entry.label}' failed: {result.error}")
    return result


# -- the results document ----------------------------------------------------------------
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


def bench_runner(
    kind: str,
    file_format: str,
    evaluate: Callable[..., MethodResult],
    write: Callable[[Path, BenchSpec, dict[str, Any], list[MethodResult], list[Any]], None],
    *,
    prepare: Callable[[list[Sample]], list[Any]] = list,
    context: Callable[[BenchSpec, list[Any]], tuple[dict, dict]] = lambda spec, test: ({}, {}),
) -> Callable[..., dict[str, Any]]:
    """A bench's ``run_benchmark``: methods registered as ``kind``; ``prepare`` turns the
    test samples into what ``evaluate(entry, dataset, test, spec, progress, log)`` measures;
    ``context(spec, test)`` gives the document's extra context and protocol keys
    (:func:`results_document`); ``write(out, spec, document, results, test)`` writes the
    outputs."""

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
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        entries = resolve_methods(spec, only, kind)
        dataset, data_info, samples = prepare_splits(spec, out, progress)
        test = prepare(samples)
        results = [evaluate(e, dataset, test, spec, progress, log) for e in entries]
        extra, protocol = context(spec, test)
        document = results_document(
            file_format,
            spec,
            quick=quick,
            command=command,
            data=data_info,
            extra=extra,
            protocol=protocol,
            results=results,
        )
        write(out, spec, document, results, test)
        return document

    return run_benchmark


def results_document(
    file_format: str,
    spec: BenchSpec,
    *,
    quick: bool,
    command: str | None,
    data: dict[str, Any],
    extra: dict[str, Any],
    protocol: dict[str, Any],
    results: Sequence[MethodResult],
) -> dict[str, Any]:
    """The JSON document of a bench run: what ran, on what, how, and every method's
    results. ``extra`` (bench-specific context) stands between the data and the
    protocol, ``protocol`` extends the shared seed, budget and test limit."""
    return {
        "format": file_format,
        "version": 1,
        "spec": spec.name,
        "spec_file": spec.source,
        "description": spec.description,
        "quick": quick,
        "command": command,
        "data": data,
        **extra,
        "protocol": {
            "seed": spec.protocol.seed,
            "budget": spec.protocol.budget.as_dict(),
            "test_limit": spec.protocol.test_limit,
            **(
                {"test_cameras": list(spec.protocol.test_cameras)}
                if spec.protocol.test_cameras
                else {}
            ),
            **protocol,
        },
        "environment": environment(),
        "methods": [r.as_dict() for r in results],
    }
