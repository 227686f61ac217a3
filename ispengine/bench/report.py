"""Writing a head-to-head benchmark's outputs (the parts both benches share) and the
sRGB-to-RAW bench's: ``results.json``, ``results.md`` and figures.

``results.md`` has one table row per method (means over the test images;
higher is better for PSNR, SSIM, cycle PSNR and diversity, lower for MAE and
KL), the data, protocol, seeds and command that made it, and a note per
method where the protocol limits what is measured. Figures:
``psnr_bar.png`` (RAW PSNR per method) and ``error_maps.png`` (absolute RAW
error of each method on the first test images).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ispengine.core.json_values import json_ready
from ispengine.io.atomic import atomic_output
from ispengine.io.raw.levels import normalize
from ispengine.learning.datasets import Sample

COLUMNS = (
    ("psnr", "RAW PSNR (dB) ↑", "{:.2f}"),
    ("ssim", "RAW SSIM ↑", "{:.4f}"),
    ("mae", "RAW MAE ↓", "{:.4f}"),
    ("psnr_packed", "packed PSNR (dB) ↑", "{:.2f}"),
    ("ssim_packed", "packed SSIM ↑", "{:.4f}"),
    ("psnr_aim", "AIM PSNR (dB) ↑", "{:.2f}"),
    ("kl", "hist. KL ↓", "{:.4f}"),
    ("cycle_psnr", "cycle PSNR (dB) ↑", "{:.2f}"),
    ("diversity", "diversity", "{:.4f}"),
)


def _cell(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float) and math.isinf(value):
        return "∞"
    return fmt.format(value)


def _parameters(count: int | None) -> str:
    if count is None:
        return "—"
    if count >= 1e6:
        return f"{count / 1e6:.2f} M"
    if count >= 1e3:
        return f"{count / 1e3:.1f} k"
    return str(count)


def _fit_cell(fit: dict[str, Any]) -> str:
    if not fit:
        return "—"
    if not fit.get("steps"):
        return "none"
    return f"{fit['steps']} steps, {fit['wall_seconds']:.0f} s"


QUICK_NOTE = (
    "**Quick run** (the spec's `[quick]` sizes, made for CI): these figures show that the "
    "bench runs end to end; they do not rank methods or conditions. Run without `--quick` for "
    "comparable figures."
)


def intro_lines(document: dict[str, Any], title: str) -> list[str]:
    """The heading (``title: spec``, marked quick), the description and the command."""
    lines = [f"# {title}: {document['spec']}" + (" (quick)" if document["quick"] else ""), ""]
    if document["quick"]:
        lines += [QUICK_NOTE, ""]
    if document.get("description"):
        lines += [document["description"], ""]
    if document.get("command"):
        lines += ["Reproduce with:", "", "```", document["command"], "```", ""]
    return lines


def data_line(document: dict[str, Any]) -> str:
    """The data the bench ran on, with its split sizes."""
    data = document["data"]
    source = (
        f"SynthCam, {data['n']} images of {data['size'][0]}×{data['size'][1]}, seed {data['seed']}"
        + (f", cameras {', '.join(data['cameras'])}" if data.get("cameras") else "")
        if data["kind"] == "synthcam"
        else f"{data['kind']} at `{data['folder']}`"
    )
    cameras = document.get("protocol", {}).get("test_cameras")
    only = f" (only {', '.join(cameras)})" if cameras else ""
    return f"- Data: {source}; {data['train']} train and {data['test']} test images{only}."


def budget_line(document: dict[str, Any], seeds: str = "") -> str:
    """The shared budget and seed (``seeds``: how per-image seeds derive, if any)."""
    protocol = document["protocol"]
    budget = ", ".join(f"{k} {v}" for k, v in protocol["budget"].items() if v is not None)
    return (
        f"- Budget (same for every method): {budget}; seed {protocol['seed']}"
        + (f" ({seeds})" if seeds else "")
        + "."
    )


def machine_line(document: dict[str, Any]) -> str:
    environment = document["environment"]
    return (
        f"- Machine: {environment['platform']}, "
        f"{environment['cpus']} CPUs, Python {environment['python']}."
    )


def table_lines(document: dict[str, Any], columns: Sequence[tuple[str, str, str]]) -> list[str]:
    """One row per method: ``columns`` (key, title, format) of its means, then its
    parameters, fit and seconds per megapixel; a failed method shows its error."""
    header = ["Method", *(title for _, title, _ in columns), "params", "fit", "s / MP"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for method in document["methods"]:
        if method["error"]:
            lines.append(f"| {method['label']} | failed: {method['error']} |")
            continue
        mean = method["mean"]
        cells = [_cell(mean.get(key), fmt) for key, _, fmt in columns]
        lines.append(
            "| "
            + " | ".join(
                [
                    method["label"],
                    *cells,
                    _parameters(method["parameters"]),
                    _fit_cell(method["fit"]),
                    _cell(mean.get("seconds_per_mp"), "{:.3f}"),
                ]
            )
            + " |"
        )
    return lines


def fit_notes(document: dict[str, Any]) -> list[str]:
    """A line for each method whose fit left a note."""
    return [
        f"- {method['label']}: fit: {method['fit']['note']}."
        for method in document["methods"]
        if method["fit"].get("note")
    ]


def outro_lines(notes: Sequence[str]) -> list[str]:
    """The notes (if any) and the list of figures and files."""
    lines = ["", "Notes:", "", *notes] if notes else []
    return [
        *lines,
        "",
        "Figures: `psnr_bar.png`, `error_maps.png`. Per-image values: `results.json`.",
        "",
    ]


def markdown(document: dict[str, Any]) -> str:
    """The results table and its context as Markdown."""
    protocol = document["protocol"]
    lines = intro_lines(document, "sRGB → RAW head to head")
    lines += [
        data_line(document),
        budget_line(document, f"test image j converts with seed {protocol['seed']} + j"),
        "- AIM PSNR: the packed RAW in digital numbers divided by 2^bits (1024 for 10 bits), "
        "black level kept, PSNR over all four channels (the AIM 2022 reverse-ISP challenge's "
        "scoring).",
        f"- Cycle PSNR develops each predicted RAW with the {document['cycle_forward']}.",
        f"- Diversity: mean per-pixel standard deviation of {protocol['samples']} draws "
        "(one-to-many methods only).",
        machine_line(document),
        "",
    ]
    lines += table_lines(document, COLUMNS)
    return "\n".join(lines + outro_lines(_notes(document)))


def _notes(document: dict[str, Any]) -> list[str]:
    notes = []
    for method in document["methods"]:
        label = method["label"]
        if method["needs_srgb_for_forward"]:
            notes.append(
                f"- {label}: its RAW→sRGB branch needs the sRGB image itself (colour-correction "
                "branch), so it has no standalone forward ISP; only its sRGB→RAW direction is "
                "benchmarked, and the cycle column uses the camera's ISP."
            )
        if method["fit"].get("note"):
            notes.append(f"- {label}: fit: {method['fit']['note']}.")
    return notes


def write_documents(out: Path, document: dict[str, Any], text: str) -> None:
    """``results.json`` and ``results.md`` (``text``) in ``out``, atomically."""
    with atomic_output(out / "results.json") as temporary:
        temporary.write_text(json.dumps(json_ready(document), indent=2) + "\n")
    with atomic_output(out / "results.md") as temporary:
        temporary.write_text(text)


def write_figures(
    out: Path,
    results: Sequence[Any],
    shown: Sequence[Sample],
    row: Callable[[Sample], dict[str, Any]],
    *,
    ylabel: str,
    title: str,
    maps_title: str,
    **panels: str,
) -> None:
    """``psnr_bar.png`` (mean PSNR of each method that ran) and ``error_maps.png`` (the
    ``shown`` samples: ``row(sample)`` gives the id, input and truth; each method's kept
    predictions are added; ``panels`` are :func:`~ispengine.bench.figures.error_maps`'
    titles)."""
    from ispengine.bench.figures import bar_chart, error_maps

    ok = [r for r in results if r.error is None and r.per_image]
    if not ok:
        return
    bar_chart(
        out / "psnr_bar.png",
        [r.entry.label for r in ok],
        [r.summary()["psnr"] for r in ok],
        errors=[r.spread().get("psnr", 0.0) for r in ok],
        ylabel=ylabel,
        title=title,
    )
    rows = [
        {**row(sample), "predictions": [r.maps[i] for r in ok]}
        for i, sample in enumerate(shown)
        if all(len(r.maps) > i for r in ok)
    ]
    if rows:
        error_maps(
            out / "error_maps.png", rows, [r.entry.label for r in ok], title=maps_title, **panels
        )


def write_outputs(
    out: Path, document: dict[str, Any], results: Sequence[Any], shown: Sequence[Sample]
) -> None:
    """Write the JSON, the Markdown table and the figures into ``out`` (atomically)."""
    write_documents(out, document, markdown(document))
    write_figures(
        out,
        results,
        shown,
        lambda sample: {"id": sample.id, "srgb": sample.srgb, "truth": normalize(sample.raw)},
        ylabel="RAW PSNR (dB), mean over test images",
        title=f"sRGB → RAW: {document['spec']}",
        maps_title="absolute error of the predicted RAW",
    )
