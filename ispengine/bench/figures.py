"""Figures for the head-to-head benchmarks: a bar chart and an error-map grid.

matplotlib is imported inside the functions (with the non-interactive Agg
canvas; no pyplot state is touched), so importing this module is cheap and
safe on machines without a display. PNGs are written atomically through
:func:`ispengine.io.atomic.atomic_output`: a failed plot leaves no file behind
and never replaces an existing good one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ispengine.core.errors import InputError
from ispengine.io.atomic import atomic_output
from ispengine.learning.metrics import _as_image, psnr

__all__ = ["bar_chart", "error_maps"]

_DPI = 100
_ERROR_LABEL = "absolute error (normalised RAW)"
_DISPLAY_GAMMA = 1 / 2.2
# The error colour scale ends at this percentile of all errors pooled (extended
# beyond it), so that a few hot pixels do not wash out every panel.
_ERROR_PERCENTILE = 99.5


def _new_figure(width_in: float, height_in: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width_in, height_in), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Any, path: str | Path) -> None:
    with atomic_output(path) as temporary:
        figure.savefig(temporary, format="png", dpi=_DPI)


def _format_value(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def bar_chart(
    path: str | Path,
    labels: Sequence[str],
    values: Sequence[float],
    *,
    ylabel: str,
    title: str,
    errors: Sequence[float] | None = None,
) -> None:
    """Write an 800×450 px PNG bar chart with one bar per method.

    Each bar carries its value printed above it (below it for negative
    values). ``errors``, when given, are drawn as symmetric error bars.
    Non-finite values (e.g. an infinite PSNR) are drawn as an empty bar with
    their label ("∞", "n/a"). Long or many labels are slanted.
    """
    labels = [str(label) for label in labels]
    heights = [float(v) for v in values]
    if not labels:
        raise InputError("bar_chart needs at least one bar")
    if len(heights) != len(labels):
        raise InputError(f"bar_chart got {len(labels)} labels but {len(heights)} values")
    spread = None
    if errors is not None:
        spread = [float(e) if math.isfinite(float(e)) else 0.0 for e in errors]
        if len(spread) != len(labels):
            raise InputError(f"bar_chart got {len(labels)} labels but {len(spread)} errors")

    figure = _new_figure(800 / _DPI, 450 / _DPI)
    axes = figure.add_subplot()
    positions = np.arange(len(labels))
    drawn = [h if math.isfinite(h) else 0.0 for h in heights]
    colours = [f"C{i % 10}" for i in range(len(labels))]
    axes.bar(
        positions,
        drawn,
        yerr=spread,
        capsize=4 if spread is not None else 0,
        color=colours,
        edgecolor="black",
        linewidth=0.6,
        error_kw={"elinewidth": 1.0, "ecolor": "black"},
    )
    for x, height, value in zip(positions, drawn, heights, strict=True):
        extra = spread[x] if spread is not None else 0.0
        up = height >= 0
        axes.annotate(
            _format_value(value),
            xy=(x, height + extra if up else height - extra),
            xytext=(0, 3 if up else -3),
            textcoords="offset points",
            ha="center",
            va="bottom" if up else "top",
            fontsize=10,
            fontweight="bold",
        )
    axes.set_xticks(positions)
    slanted = len(labels) > 6 or sum(len(label) for label in labels) > 70
    axes.set_xticklabels(
        labels, rotation=25 if slanted else 0, ha="right" if slanted else "center", fontsize=10
    )
    axes.set_ylabel(ylabel, fontsize=11)
    axes.set_title(title, fontsize=12)
    axes.margins(y=0.15)
    axes.axhline(0.0, color="black", linewidth=0.8)
    axes.grid(axis="y", alpha=0.3)
    axes.set_axisbelow(True)
    _save(figure, path)


def _row_arrays(
    row: Mapping[str, Any], index: int, methods: int
) -> tuple[str, np.ndarray, np.ndarray, list[np.ndarray]]:
    try:
        identifier = str(row["id"])
        shown = _as_image(row["input"] if "input" in row else row["srgb"], f"row {index} input")
        truth = _as_image(row["truth"], f"row {index} truth")
        predictions = [
            _as_image(p, f"row {index} prediction {k}") for k, p in enumerate(row["predictions"])
        ]
    except KeyError as missing:
        raise InputError(f"row {index} has no key {missing}") from None
    for name, image in (("input", shown), ("truth", truth)):
        if not _displayable(image):
            raise InputError(
                f"row {index} {name} must be a mosaic (H, W) or an image (H, W, 3), "
                f"got shape {image.shape}"
            )
    if len(predictions) != methods:
        raise InputError(
            f"row {index} has {len(predictions)} predictions for {methods} method labels"
        )
    for k, prediction in enumerate(predictions):
        if prediction.shape != truth.shape:
            raise InputError(
                f"row {index} prediction {k} shape {prediction.shape} "
                f"differs from truth {truth.shape}"
            )
    return identifier, shown, truth, predictions


def _displayable(image: np.ndarray) -> bool:
    return image.ndim == 2 or (image.ndim == 3 and image.shape[-1] == 3)


def _show(axes: Any, image: np.ndarray, title: str) -> None:
    """A colour image clipped to [0, 1], or a mosaic as grey with display gamma 1/2.2."""
    if image.ndim == 3:
        axes.imshow(np.clip(image, 0.0, 1.0))
    else:
        axes.imshow(np.clip(image, 0.0, 1.0) ** _DISPLAY_GAMMA, cmap="gray", vmin=0.0, vmax=1.0)
    axes.set_title(title, fontsize=9)


def _error(prediction: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """``|prediction − truth|``, averaged over the colour channels of an image."""
    error = np.abs(prediction - truth)
    return error.mean(axis=-1) if error.ndim == 3 else error


def error_maps(
    path: str | Path,
    rows: Sequence[Mapping[str, Any]],
    method_labels: Sequence[str],
    *,
    title: str = "",
    input_title: str = "sRGB input",
    truth_title: str = "true RAW (γ 1/2.2)",
    error_label: str = _ERROR_LABEL,
) -> None:
    """Write a PNG grid: one row per image, one error-map column per method.

    Each row dict holds ``id`` (str), ``input`` (or ``srgb``) what the methods
    were given, ``truth`` what they should produce and ``predictions`` one array
    of the truth's shape per method, in the order of ``method_labels``. Images
    ``(H, W, 3)`` in [0, 1] are shown as they are; mosaics ``(H, W)`` (normalised
    RAW) as grey images with display gamma 1/2.2 (values clipped to [0, 1]).
    Columns: the input (``input_title``); the truth (``truth_title``); then
    ``|prediction − truth|`` per method (averaged over the channels of an image),
    titled with the method and its PSNR in dB. All error panels share one colour
    scale, from 0 to the 99.5th percentile of all errors pooled (the colour bar
    is extended when larger errors exist), with a colour bar labelled
    ``error_label``. The row id labels the first column.
    """
    labels = [str(label) for label in method_labels]
    if not labels:
        raise InputError("error_maps needs at least one method")
    if not rows:
        raise InputError("error_maps needs at least one row")
    parsed = [_row_arrays(row, i, len(labels)) for i, row in enumerate(rows)]
    errors = [[_error(p, truth) for p in preds] for _, _, truth, preds in parsed]

    pooled = np.concatenate([e.ravel() for row in errors for e in row])
    largest = float(pooled.max())
    vmax = float(np.percentile(pooled, _ERROR_PERCENTILE))
    if vmax <= 0.0:
        vmax = largest if largest > 0.0 else 1e-3

    columns = 2 + len(labels)
    panel = 2.4
    figure = _new_figure(panel * columns + 1.0, panel * len(parsed) + (0.5 if title else 0.1))
    grid = figure.subplots(len(parsed), columns, squeeze=False)
    image = None
    for r, (identifier, shown, truth, predictions) in enumerate(parsed):
        axes = grid[r]
        _show(axes[0], shown, input_title)
        axes[0].set_ylabel(identifier, fontsize=10, fontweight="bold")
        _show(axes[1], truth, truth_title)
        for k, (label, prediction) in enumerate(zip(labels, predictions, strict=True)):
            image = axes[2 + k].imshow(errors[r][k], cmap="magma", vmin=0.0, vmax=vmax)
            score = psnr(prediction, truth)
            text = "∞" if math.isinf(score) else f"{score:.2f}"
            axes[2 + k].set_title(f"{label}\nPSNR {text} dB", fontsize=9)
        for ax in axes:
            ax.set_xticks([])
            ax.set_yticks([])
    figure.colorbar(
        image,
        ax=grid[:, 2:].ravel().tolist(),
        label=error_label,
        extend="max" if largest > vmax else "neither",
        shrink=0.9,
    )
    if title:
        figure.suptitle(title, fontsize=12)
    _save(figure, path)
