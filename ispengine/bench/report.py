"""Writing an sRGB-to-RAW benchmark's outputs: ``results.json``, ``results.md`` and figures.

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
from collections.abc import Sequence
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


def markdown(document: dict[str, Any]) -> str:
    """The results table and its context as Markdown."""
    data = document["data"]
    protocol = document["protocol"]
    lines = [
        f"# sRGB → RAW head to head: {document['spec']}"
        + (" (quick)" if document["quick"] else ""),
        "",
    ]
    if document.get("description"):
        lines += [document["description"], ""]
    if document.get("command"):
        lines += ["Reproduce with:", "", "```", document["command"], "```", ""]
    budget = ", ".join(f"{k} {v}" for k, v in protocol["budget"].items() if v is not None)
    source = (
        f"SynthCam, {data['n']} images of {data['size'][0]}×{data['size'][1]}, seed {data['seed']}"
        + (f", cameras {', '.join(data['cameras'])}" if data.get("cameras") else "")
        if data["kind"] == "synthcam"
        else f"{data['kind']} at `{data['folder']}`"
    )
    lines += [
        f"- Data: {source}; {data['train']} train and {data['test']} test images.",
        f"- Budget (same for every method): {budget}; seed {protocol['seed']} "
        f"(test image j converts with seed {protocol['seed']} + j).",
        f"- Cycle PSNR develops each predicted RAW with the {document['cycle_forward']}.",
        f"- Diversity: mean per-pixel standard deviation of {protocol['samples']} draws "
        "(one-to-many methods only).",
        f"- Machine: {document['environment']['platform']}, "
        f"{document['environment']['cpus']} CPUs, Python {document['environment']['python']}.",
        "",
    ]
    header = ["Method", *(title for _, title, _ in COLUMNS), "params", "fit", "s / MP"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for method in document["methods"]:
        if method["error"]:
            lines.append(f"| {method['label']} | failed: {method['error']} |")
            continue
        mean = method["mean"]
        cells = [_cell(mean.get(key), fmt) for key, _, fmt in COLUMNS]
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
    notes = _notes(document)
    if notes:
        lines += ["", "Notes:", "", *notes]
    lines += [
        "",
        "Figures: `psnr_bar.png`, `error_maps.png`. Per-image values: `results.json`.",
        "",
    ]
    return "\n".join(lines)


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


def write_outputs(
    out: Path, document: dict[str, Any], results: Sequence[Any], shown: Sequence[Sample]
) -> None:
    """Write the JSON, the Markdown table and the figures into ``out`` (atomically)."""
    from ispengine.bench.figures import bar_chart, error_maps

    with atomic_output(out / "results.json") as temporary:
        temporary.write_text(json.dumps(json_ready(document), indent=2) + "\n")
    with atomic_output(out / "results.md") as temporary:
        temporary.write_text(markdown(document))
    ok = [r for r in results if r.error is None and r.per_image]
    if not ok:
        return
    bar_chart(
        out / "psnr_bar.png",
        [r.entry.label for r in ok],
        [r.summary()["psnr"] for r in ok],
        errors=[r.spread().get("psnr", 0.0) for r in ok],
        ylabel="RAW PSNR (dB), mean over test images",
        title=f"sRGB → RAW: {document['spec']}",
    )
    rows = [
        {
            "id": sample.id,
            "srgb": sample.srgb,
            "truth": normalize(sample.raw),
            "predictions": [r.maps[i] for r in ok],
        }
        for i, sample in enumerate(shown)
        if all(len(r.maps) > i for r in ok)
    ]
    if rows:
        error_maps(
            out / "error_maps.png",
            rows,
            [r.entry.label for r in ok],
            title="absolute error of the predicted RAW",
        )
