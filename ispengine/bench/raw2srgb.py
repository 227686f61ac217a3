"""The RAW-to-sRGB head-to-head benchmark: forward ISPs on the same data and budget.

The twin of :mod:`ispengine.bench.srgb2raw`, with the same spec
(:mod:`ispengine.bench.spec`), data, splits and fit budget. For each
RAW-to-sRGB method (:mod:`ispengine.learning.raw_to_srgb`) of the spec: fit on
the train split under the protocol's budget and seed, then render each test
RAW (with its capture parameters) and compare with the camera's sRGB
(:mod:`ispengine.learning.metrics`):

* PSNR and SSIM (data range 1; SSIM averaged over the channels) and the mean
  CIEDE2000 colour difference (ΔE00, :func:`~ispengine.learning.metrics.delta_e2000`);
* parameters, fit steps and time, and rendering time per megapixel (median
  over the test images, after one untimed warm-up render of the first: a
  pipeline's kernels compile on their first call).

Rendering is deterministic, so every number is reproducible from the spec. A
method that fails is reported (with its error) and the others still run.
Outputs: ``results.json``, ``results.md`` (the table), ``psnr_bar.png`` and
``error_maps.png`` (absolute sRGB error, averaged over the channels).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ispengine.bench import common
from ispengine.bench.common import MethodResult
from ispengine.bench.report import (
    budget_line,
    data_line,
    fit_notes,
    intro_lines,
    machine_line,
    outro_lines,
    table_lines,
    write_documents,
    write_figures,
)
from ispengine.bench.spec import BenchSpec, MethodEntry
from ispengine.core.errors import InputError
from ispengine.io.raw.levels import normalize
from ispengine.learning.datasets import PairedDataset, Sample
from ispengine.learning.metrics import delta_e2000, psnr, ssim

FORMAT = "ispengine-bench-raw2srgb"
KIND = "raw_to_srgb"
METRIC_KEYS = ("psnr", "ssim", "delta_e")
COLUMNS = (
    ("psnr", "sRGB PSNR (dB) ↑", "{:.2f}"),
    ("ssim", "sRGB SSIM ↑", "{:.4f}"),
    ("delta_e", "ΔE2000 ↓", "{:.3f}"),
)


def _build(entry: MethodEntry, result: MethodResult) -> Any:
    from ispengine.learning.raw_to_srgb import raw_to_srgb_class

    return entry.build(raw_to_srgb_class)


def evaluate_image(method: Any, sample: Sample, index: int) -> tuple[dict[str, Any], np.ndarray]:
    """One method on one test sample (``index`` in the test list): the metrics, and the
    rendered sRGB."""
    truth = np.asarray(sample.srgb, dtype=np.float64)
    if index == 0:  # warm-up, not timed: compilation, lazy loading, first allocations
        method.render(sample.raw, capture=sample.capture)
    started = time.perf_counter()
    rendered = method.render(sample.raw, capture=sample.capture)
    seconds = time.perf_counter() - started
    predicted = np.asarray(rendered, dtype=np.float64)
    if predicted.shape != truth.shape:
        raise InputError(f"{sample.id}: sRGB of shape {predicted.shape}, expected {truth.shape}")
    measured: dict[str, Any] = {
        "id": sample.id,
        "psnr": psnr(predicted, truth),
        "ssim": ssim(predicted, truth),
        "delta_e": delta_e2000(predicted, truth),
        "seconds": seconds,
        "seconds_per_mp": seconds / (truth.shape[0] * truth.shape[1] / 1e6),
    }
    return measured, predicted


def markdown(document: dict[str, Any]) -> str:
    """The results table and its context as Markdown."""
    lines = intro_lines(document, "RAW → sRGB head to head")
    lines += [
        data_line(document),
        budget_line(document),
        "- Each method renders the test RAW (with its capture parameters); PSNR, SSIM and "
        "the mean CIEDE2000 ΔE compare it with the camera's sRGB.",
        machine_line(document),
        "",
    ]
    lines += table_lines(document, COLUMNS)
    return "\n".join(lines + outro_lines(fit_notes(document)))


def evaluate_method(
    entry: MethodEntry,
    dataset: PairedDataset,
    test: Sequence[Sample],
    spec: BenchSpec,
    progress: bool,
    log: Callable[[str], None],
) -> MethodResult:
    """Fit and evaluate one method; errors are caught and recorded in the result."""
    return common.evaluate_method(
        MethodResult(entry, METRIC_KEYS),
        _build,
        evaluate_image,
        dataset,
        test,
        spec.protocol,
        progress,
        log,
    )


def _write(
    out: Path,
    spec: BenchSpec,
    document: dict[str, Any],
    results: list[MethodResult],
    test: list[Sample],
) -> None:
    write_documents(out, document, markdown(document))
    write_figures(
        out,
        results,
        test[: spec.protocol.error_map_images],
        lambda sample: {"id": sample.id, "input": normalize(sample.raw), "truth": sample.srgb},
        ylabel="sRGB PSNR (dB), mean over test images",
        title=f"RAW → sRGB: {document['spec']}",
        maps_title="absolute error of the rendered sRGB",
        input_title="RAW input (γ 1/2.2)",
        truth_title="camera sRGB",
        error_label="absolute error (sRGB, mean of channels)",
    )


run_benchmark = common.bench_runner(KIND, FORMAT, evaluate_method, _write)
