"""The SemiISP experiment on SynthCam (``ispengine bench semiisp``).

Claim reproduced in kind (SemiISP Tables 1–2): with a small paired set plus unpaired sRGB images
from another source, semi-supervised training (pseudo pairs from the
one-to-many inverse, USQ, OPF, Eq. 13, then fine-tuning on real pairs) beats
supervised-only training of the same target model on the test split.

Protocol (all seeds derive from ``protocol.seed``):

1. Paired data: SynthCam of one camera; the first ``paired_limit`` train-split
   pairs train, the test split evaluates. Unpaired data: the sRGB images of
   another SynthCam camera's train split (their RAWs are never read).
2. The function ISP (``semiisp`` method, its settings in ``[function_isp]``)
   trains on the paired set and fills the parameter bank.
3. Two pseudo pools from the unpaired images, ``samples`` pairs each: with USQ
   and without (one-to-many inverse only).
4. Each target model trains under each condition from the same initial
   weights: ``supervised`` (real pairs only, as many steps as the semi run and
   its fine-tuning together, same batch size), ``semi`` (OPF + USQ),
   ``semi_no_opf``, ``semi_no_usq``, ``semi_no_opf_no_usq``.
5. Test PSNR and SSIM of the whole test images (model input: the bilinear
   front end's camera RGB; target: the camera's sRGB).

Source: Yoshimura, Otsuka, Berdan, Ohashi, "SemiISP/SemiIE: Semi-Supervised Image Signal
Processor and Image Enhancement Leveraging One-to-Many Mapping sRGB-to-RAW",
arXiv:2504.02345, 2025 (SemiISP), §4 (Tables 1–2).
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from attrs import field, frozen

from ispengine.core.errors import ParamError, SpecError
from ispengine.core.settings import (
    ArraySetting,
    BooleanSetting,
    FloatSetting,
    IntegerSetting,
    StringSetting,
    TableSetting,
    coerce_table,
    load_toml,
    reject_unknown_keys,
    resolve_paths,
    spec_folder,
    table_error,
)
from ispengine.learning.torch_runtime import LEARNING_SETTINGS

CONDITIONS = ("supervised", "semi", "semi_no_opf", "semi_no_usq", "semi_no_opf_no_usq")
TARGETS = ("function_isp", "unet")


@frozen
class DataSpec:
    """A SynthCam set: ``n`` images of ``size`` from ``seed`` with one camera."""

    n: int
    size: tuple[int, int] = field(converter=tuple)
    seed: int
    camera: str


@frozen
class ExperimentSpec:
    """A parsed experiment spec (see ``benchmarks/semiisp_synthcam.toml``)."""

    paired: DataSpec
    unpaired: DataSpec
    paired_limit: int
    seed: int
    function_isp_steps: int
    function_isp: dict[str, Any]
    samples: int
    noise: bool
    steps: int
    crop: int
    lr: float
    beta: float
    targets: dict[str, dict[str, Any]]
    conditions: tuple[str, ...]
    test_limit: int
    source: str
    device: str = "auto"
    precision: str = "float32"
    prefetch: int = 2


DATA_SET_SETTINGS = (
    IntegerSetting("n", None, "SynthCam images generated", low=3),
    ArraySetting("size", (2,), None, "[height, width] in pixels", low=32, integer=True),
    IntegerSetting("seed", 0, "generation seed", low=0),
    StringSetting("camera", None, "SynthCam camera name"),
)
SECTIONS = {
    "data": (
        TableSetting("paired", DATA_SET_SETTINGS, {}, "the paired SynthCam set"),
        TableSetting("unpaired", DATA_SET_SETTINGS, {}, "the unpaired set (its sRGB only)"),
        IntegerSetting("paired_limit", 100, "paired training images (0: all)", low=0),
    ),
    "protocol": (
        IntegerSetting("seed", 0, "every seed derives from it", low=0),
        StringSetting("conditions", CONDITIONS, "conditions trained", multiple=True),
        IntegerSetting("test_limit", 0, "test images evaluated (0: all)", low=0),
    ),
    "pseudo": (
        IntegerSetting("samples", 2, "pseudo pairs per unpaired image and pool", low=1),
        BooleanSetting("noise", False, "add SemiISP noise to the pseudo RAWs"),
    ),
    "train": (
        IntegerSetting("steps", 1000, "mixed real+pseudo steps", low=1),
        IntegerSetting("crop", 64, "training crop side", low=8),
        FloatSetting("lr", 1e-3, "learning rate", low=1e-8, high=1.0),
        FloatSetting("beta", 1.1, "OPF threshold", low=0.0),
        *LEARNING_SETTINGS,
    ),
}
TOP_KEYS = (
    "schema",
    "name",
    "description",
    "data",
    "protocol",
    "function_isp",
    "pseudo",
    "train",
    "targets",
    "quick",
)
QUICK_SECTIONS = ("data", "protocol", "function_isp", "pseudo", "train", "targets")


def _section(document: Mapping[str, Any], section: str, source: str) -> dict[str, Any]:
    table = document.get(section, {})
    if not isinstance(table, Mapping):
        raise SpecError(f"expected a table, got {table!r}", source=source, key=section)
    try:
        return coerce_table(SECTIONS[section], table, f"[{section}]")
    except ParamError as error:
        raise table_error(error, source, f"{section}.") from None


def _free_table(document: Mapping[str, Any], key: str, source: str) -> dict[str, Any]:
    table = document.get(key, {})
    if not isinstance(table, Mapping):
        raise SpecError(f"expected a table, got {table!r}", source=source, key=key)
    return dict(table)


def parse_experiment(document: Mapping[str, Any], source: str, quick: bool) -> ExperimentSpec:
    """An :class:`ExperimentSpec` from a TOML document (``quick``: apply ``[quick]``).

    Relative paths among the ``[function_isp]`` settings (e.g. ``vgg_weights``)
    resolve against the folder of the spec file ``source``."""
    from plugins_builtin.semiisp.method import SemiISP
    from plugins_builtin.semiisp.unet import DEPTH, WIDTH

    document = dict(document)
    reject_unknown_keys(document, TOP_KEYS, source=source)
    if quick:
        for section, values in dict(document.get("quick", {})).items():
            if section not in QUICK_SECTIONS or not isinstance(values, Mapping):
                raise SpecError("unknown section", source=source, key=f"quick.{section}")
            merged = dict(document.get(section, {}))
            for key, value in values.items():
                if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
                    merged[key] = {**merged[key], **value}
                else:
                    merged[key] = value
            document[section] = merged
    data, protocol = _section(document, "data", source), _section(document, "protocol", source)
    pseudo, train = _section(document, "pseudo", source), _section(document, "train", source)
    function_isp = resolve_paths(
        SemiISP.settings, _free_table(document, "function_isp", source), spec_folder(source)
    )
    steps = function_isp.pop("steps", 1000)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise SpecError(
            f"expected a whole number >= 0, got {steps!r}", source=source, key="function_isp.steps"
        )
    targets = {
        name: dict(settings) for name, settings in _free_table(document, "targets", source).items()
    }
    for name, settings in targets.items():
        if name not in TARGETS:
            raise SpecError(
                f"unknown target model (known: {', '.join(TARGETS)})",
                source=source,
                key=f"targets.{name}",
            )
        if name == "unet":
            try:
                targets[name] = coerce_table((WIDTH, DEPTH), settings, "target 'unet'")
            except ParamError as error:
                raise table_error(error, source, "targets.unet.") from None
    for condition in protocol["conditions"]:
        if condition not in CONDITIONS:
            raise SpecError(
                f"unknown condition {condition!r} (known: {', '.join(CONDITIONS)})",
                source=source,
                key="protocol.conditions",
            )
    return ExperimentSpec(
        paired=DataSpec(**data["paired"]),
        unpaired=DataSpec(**data["unpaired"]),
        paired_limit=data["paired_limit"],
        seed=protocol["seed"],
        function_isp_steps=steps,
        function_isp=function_isp,
        samples=pseudo["samples"],
        noise=pseudo["noise"],
        steps=train["steps"],
        crop=train["crop"],
        lr=train["lr"],
        beta=train["beta"],
        device=train["device"],
        precision=train["precision"],
        prefetch=train["prefetch"],
        targets=targets or {"function_isp": {}, "unet": {}},
        conditions=tuple(protocol["conditions"]),
        test_limit=protocol["test_limit"],
        source=source,
    )


def load_experiment(path: str | Path, quick: bool = False) -> ExperimentSpec:
    """Read and check an experiment spec file (:func:`ispengine.core.settings.load_toml`)."""
    return parse_experiment(load_toml(path, "experiment spec"), str(path), quick)


# -- data ---------------------------------------------------------------------------
def _dataset(spec: DataSpec, folder: Path, progress: bool):
    from ispengine.learning.datasets import open_dataset
    from ispengine.synthcam.generate import generate_dataset

    marker = folder / "experiment-data.json"
    wanted = json.dumps(
        {"n": spec.n, "size": list(spec.size), "seed": spec.seed, "camera": spec.camera}
    )
    if not (marker.is_file() and marker.read_text() == wanted):
        generate_dataset(folder, spec.n, spec.size, spec.seed, [spec.camera], progress=progress)
        marker.write_text(wanted)
    return open_dataset(folder)


def _limit(items: list, limit: int) -> list:
    return items[:limit] if limit > 0 else items


# -- target models ------------------------------------------------------------------
def build_target(name: str, settings: Mapping[str, Any], seed: int):
    """A fresh target model (weights from ``seed``, without touching the global RNG)."""
    import torch

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        if name == "unet":
            from plugins_builtin.semiisp.unet import build_unet

            return build_unet(**settings)
        from plugins_builtin.semiisp.function_isp import FunctionISP

        return FunctionISP(**settings).module()


def _train_config(spec: ExperimentSpec, condition: str, n_pairs: int):
    from plugins_builtin.semiisp.semi_trainer import TrainConfig, paper_batch_sizes

    n_real, n_pseudo = paper_batch_sizes(n_pairs)
    finetune = spec.steps // 2
    if condition == "supervised":
        return TrainConfig(
            steps=spec.steps + finetune,
            batch_real=n_real + n_pseudo,
            batch_pseudo=0,
            crop=spec.crop,
            lr=spec.lr,
        )
    beta = None if "no_opf" in condition else spec.beta
    return TrainConfig(
        steps=spec.steps,
        batch_real=n_real,
        batch_pseudo=n_pseudo,
        crop=spec.crop,
        lr=spec.lr,
        beta=beta,
        finetune_steps=finetune,
    )


# -- the run ------------------------------------------------------------------------
def run_experiment(
    spec: ExperimentSpec,
    out: str | Path,
    *,
    progress: bool = True,
    command: str = "",
    quick: bool = False,
) -> dict[str, Any]:
    """Run every target × condition; write ``results.md``, ``results.json`` and
    ``psnr_bar.png`` under ``out``; return the JSON document (``quick`` marks a
    spec read with its ``[quick]`` overrides, so the report says so)."""
    from ispengine.learning.srgb_to_raw import Budget
    from ispengine.learning.torch_runtime import TorchRuntime
    from plugins_builtin.semiisp.method import SemiISP, load_raw_pairs
    from plugins_builtin.semiisp.pairs import ImagePairs
    from plugins_builtin.semiisp.pseudo import pseudo_pairs
    from plugins_builtin.semiisp.semi_trainer import evaluate, train_model

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    begin = time.perf_counter()
    paired = _dataset(spec.paired, out / "data" / "paired", progress)
    unpaired = _dataset(spec.unpaired, out / "data" / "unpaired", progress)
    train = _limit(list(paired.split("train")), spec.paired_limit)
    real = load_raw_pairs(train)
    test = load_raw_pairs(_limit(list(paired.split("test")), spec.test_limit))
    unpaired_srgb = [np.asarray(s.srgb, dtype=np.float32) for s in unpaired.split("train")]

    method = SemiISP(**spec.function_isp)
    fit = method.fit(
        train, Budget(steps=spec.function_isp_steps), seed=spec.seed, progress=progress
    )
    method.save(out / "function_isp.safetensors")
    pools = {}
    for usq in (True, False):
        pairs = pseudo_pairs(
            method.isp,
            method.bank,
            unpaired_srgb,
            samples=spec.samples,
            seed=spec.seed,
            usq=usq,
            noise=spec.noise,
            sampling=method.sampling,
            progress=progress,
        )
        pools[usq] = ImagePairs(pairs)

    results: dict[str, dict[str, Any]] = {}
    for target_index, (target, settings) in enumerate(spec.targets.items()):
        results[target] = {}
        for condition in spec.conditions:
            model = build_target(target, settings, spec.seed + target_index)
            config = _train_config(spec, condition, len(real))
            pool = None if condition == "supervised" else pools["no_usq" not in condition]
            report = train_model(
                model,
                real,
                pool,
                config,
                seed=spec.seed,
                progress=progress,
                label=f"{target}/{condition}",
                runtime=TorchRuntime(spec.device, spec.precision, spec.prefetch),
            )
            scores = evaluate(model, test)
            scores.pop("count")
            kept = report.kept_fraction
            results[target][condition] = {
                **scores,
                "steps": report.steps,
                "finetune_steps": report.finetune_steps,
                "seconds": report.seconds,
                "final_loss": report.losses[-1] if report.losses else None,
                "kept_fraction": float(np.mean(kept)) if kept else None,
                "parameters": sum(p.numel() for p in model.parameters()),
            }
    document = {
        "experiment": "semiisp-synthcam",
        "spec": spec.source,
        "command": command,
        "quick": quick,
        "seed": spec.seed,
        "data": {
            "paired": {**_data_dict(spec.paired), "train_pairs": len(real), "test": len(test)},
            "unpaired": {**_data_dict(spec.unpaired), "images": len(unpaired_srgb)},
        },
        "function_isp": {
            "settings": method.config,
            "steps": fit.steps,
            "seconds": fit.seconds,
            "final_loss": fit.final_loss,
            "note": fit.note,
            "test_psnr": evaluate(method.isp.module(), test)["psnr"],
        },
        "pseudo": {
            "samples_per_image": spec.samples,
            "pairs": len(pools[True]),
            "noise": spec.noise,
        },
        "train": {
            "steps": spec.steps,
            "finetune_steps": spec.steps // 2,
            "crop": spec.crop,
            "lr": spec.lr,
            "beta": spec.beta,
        },
        "results": results,
        "seconds": time.perf_counter() - begin,
        "environment": {"python": platform.python_version(), "platform": platform.platform()},
    }
    (out / "results.json").write_text(json.dumps(document, indent=2) + "\n")
    (out / "results.md").write_text(markdown(document))
    _bar_chart(document, out / "psnr_bar.png")
    return document


def _data_dict(spec: DataSpec) -> dict[str, Any]:
    return {"camera": spec.camera, "n": spec.n, "size": list(spec.size), "seed": spec.seed}


LABELS = {
    "supervised": "supervised only",
    "semi": "SemiISP (OPF + USQ)",
    "semi_no_opf": "SemiISP without OPF",
    "semi_no_usq": "SemiISP without USQ",
    "semi_no_opf_no_usq": "SemiISP without OPF and USQ",
}


def markdown(document: Mapping[str, Any]) -> str:
    """The results table (PSNR/SSIM per target model and condition)."""
    from ispengine.bench.report import QUICK_NOTE

    data, train = document["data"], document["train"]
    lines = [
        "# SemiISP on SynthCam: supervised vs semi-supervised"
        + (" (quick)" if document.get("quick") else ""),
        "",
        QUICK_NOTE if document.get("quick") else "",
        "",
        f"Command: `{document['command']}`" if document["command"] else "",
        "",
        f"- Paired: SynthCam {data['paired']['camera']}, {data['paired']['train_pairs']} train "
        f"pairs, {data['paired']['test']} test images of {data['paired']['size'][0]}×"
        f"{data['paired']['size'][1]} (seed {data['paired']['seed']}).",
        f"- Unpaired sRGB: SynthCam {data['unpaired']['camera']}, "
        f"{data['unpaired']['images']} images (seed {data['unpaired']['seed']}); "
        f"{document['pseudo']['pairs']} pseudo pairs per pool.",
        f"- Function ISP (pseudo-data generator): {document['function_isp']['steps']} steps, "
        f"test PSNR {document['function_isp']['test_psnr']:.2f} dB; "
        f"{document['function_isp']['note']}.",
        f"- Target training: {train['steps']} mixed steps + {train['finetune_steps']} "
        f"fine-tuning steps (supervised: {train['steps'] + train['finetune_steps']} steps on "
        f"real pairs, same batch size); crop {train['crop']}, lr {train['lr']:g}, "
        f"β {train['beta']:g}; seed {document['seed']}.",
        "",
        "| Target model | Condition | test PSNR (dB) | SSIM | Δ PSNR vs supervised | OPF kept |",
        "|---|---|---|---|---|---|",
    ]
    for target, rows in document["results"].items():
        base = rows.get("supervised", {}).get("psnr")
        for condition, row in rows.items():
            delta = (
                "—" if base is None or condition == "supervised" else (f"{row['psnr'] - base:+.2f}")
            )
            kept = (
                "—"
                if row["kept_fraction"] is None or "no_opf" in condition
                else (f"{100 * row['kept_fraction']:.0f}%")
            )
            lines.append(
                f"| {target} ({_count(row['parameters'])}) | {LABELS[condition]} | "
                f"{row['psnr']:.2f} | {row['ssim']:.4f} | {delta} | {kept} |"
            )
    lines += ["", f"Total time: {document['seconds']:.0f} s.", ""]
    return "\n".join(lines) + "\n"


def _count(n: int) -> str:
    return f"{n / 1000:.1f} k params" if n >= 1000 else f"{n} params"


def _bar_chart(document: Mapping[str, Any], path: Path) -> None:
    """Δ test PSNR of each semi-supervised condition over supervised-only, per target."""
    from ispengine.bench.figures import bar_chart

    labels, values = [], []
    for target, rows in document["results"].items():
        base = rows.get("supervised", {}).get("psnr")
        for condition, row in rows.items():
            if base is None or condition == "supervised":
                continue
            labels.append(f"{target}: {condition.replace('semi_', '').replace('semi', 'full')}")
            values.append(row["psnr"] - base)
    if labels:
        bar_chart(
            path,
            labels,
            values,
            ylabel="Δ test PSNR vs supervised (dB)",
            title="SemiISP on SynthCam: gain over supervised-only training",
        )
