"""The raw-to-raw head-to-head benchmark: mapping camera A's RAW into camera B's space.

For each raw-to-raw method (:mod:`ispengine.learning.raw_to_raw`) of the spec:
fit on a two-camera dataset (unpaired images per camera, paired anchors;
:mod:`ispengine.synthcam.pairs`) under the protocol's budget and seed, then map
every paired test RAW A → B and B → A and compare the result with the other
camera's RAW of the same scene, as packed normalised planes (R, Gr, Gb, B in
[0, 1]; :mod:`ispengine.learning.metrics`):

* PSNR, SSIM (data range 1, averaged over the four planes) and MAE;
* the symmetric KL divergence of the per-plane 256-bin value histograms
  (ε = 1e-7), the measure of "Generalizing ISP Model by Unsupervised
  Raw-to-raw Mapping" (ACM MM 2024) for scene-level pairs;
* parameters, fit steps and time, and mapping time per megapixel (median over
  the test images, after one untimed warm-up).

Two optional protocol parts:

* ``downsample = [1, 2, 4, 8, 16]``: a method with test-time downsampling
  (CSTPP predicts its transforms on the image shrunk by M) is scored once per
  factor, from the same fit (the paper's Table 4 in kind); one extra row each.
* ``[protocol.isp]``: the cross-camera ISP experiment. A RAW-to-sRGB method
  (:mod:`ispengine.learning.raw_to_srgb`) is trained on camera B's unpaired
  images and then renders camera A's test RAWs, unmapped (``identity``) or mapped
  A → B by each method; sRGB PSNR and ΔE00 against camera B's sRGB of the same
  scene. The ISP on camera B's own test RAWs is the bound reported beside.

Outputs: ``results.json``, ``results.md``, ``psnr_bar.png`` (A → B PSNR) and
``error_maps.png`` (A → B, shown as camera B's mosaic).

Spec (TOML)::

    schema = 1
    name = "raw2raw-synthcam"
    [data]
    synthcam_pairs = { cameras = ["nikon_5100", "sigma_sdmerrill"], unpaired = 48,
                       anchors = 4, test = 12, size = [128, 192], seed = 0 }
    # folder = "pairs/"          # or a two-camera folder (ispengine synthcam pairs)
    [protocol]
    seed = 0
    budget = { steps = 2000 }
    test_limit = 0               # at most this many test pairs (0: all)
    error_map_images = 3
    downsample = [1, 4, 16]      # optional
    isp = { name = "unet_isp", steps = 1500, settings = {} }   # optional
    [[method]]
    name = "cstpp"
    label = "CSTPP"
    settings = { config = "small" }
    [quick]                      # --quick: any synthcam_pairs or protocol key
    synthcam_pairs = { unpaired = 4, test = 2, size = [64, 96] }
    budget = { steps = 3 }
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from attrs import field, frozen

from ispengine.bench import common
from ispengine.bench.common import MethodResult
from ispengine.bench.report import (
    budget_line,
    fit_notes,
    intro_lines,
    machine_line,
    table_lines,
    write_documents,
    write_figures,
)
from ispengine.bench.spec import (
    BUDGET_SETTINGS,
    MethodEntry,
    _methods,
    _table,
    check_top_level,
)
from ispengine.core.cfa import merge_cfa
from ispengine.core.errors import InputError, ParamError, SpecError
from ispengine.core.settings import (
    ArraySetting,
    IntegerSetting,
    PathSetting,
    StringSetting,
    TableSetting,
    load_toml,
    reject_unknown_keys,
    resolve_paths,
    spec_folder,
)
from ispengine.learning.metrics import delta_e2000, histogram_kl, mae, psnr, ssim
from ispengine.learning.srgb_to_raw import Budget

FORMAT = "ispengine-bench-raw2raw"
#: The spec field ``--data FOLDER`` clears (the generated dataset's parameters).
GENERATED_DATA = "pairs"
KIND = "raw_to_raw"
DIRECTION_KEYS = ("psnr", "ssim", "mae", "kl")
METRIC_KEYS = ("psnr", *(f"{k}_{d}" for d in ("ab", "ba") for k in DIRECTION_KEYS))
ISP_KEYS = ("isp_psnr", "isp_delta_e")
DOWNSAMPLE_FACTORS = (1, 2, 4, 8, 16)

PAIRS_SETTINGS = (
    StringSetting("cameras", ("nikon_5100", "sigma_sdmerrill"), "cameras A, B", multiple=True),
    IntegerSetting("unpaired", 48, "unpaired training images per camera", low=1),
    IntegerSetting("anchors", 4, "paired anchor images", low=0),
    IntegerSetting("test", 12, "paired test images", low=1),
    ArraySetting("size", (2,), [128, 192], "[height, width] in pixels", low=16, integer=True),
    IntegerSetting("seed", 0, "generation seed", low=0),
    StringSetting("kinds", ("spectral",), "SynthCam scene kinds", multiple=True),
)
DATA_SETTINGS = (
    TableSetting("synthcam_pairs", PAIRS_SETTINGS, None, "generate a two-camera SynthCam"),
    PathSetting("folder", None, "a two-camera folder (ispengine synthcam pairs)"),
)
PROTOCOL_SETTINGS = (
    IntegerSetting("seed", 0, "fit seeds derive from it", low=0),
    TableSetting("budget", BUDGET_SETTINGS, {"steps": 1000}, "training budget of every method"),
    IntegerSetting("test_limit", 0, "evaluate at most this many test pairs (0: all)", low=0),
    IntegerSetting("error_map_images", 3, "test pairs shown in error_maps.png", low=0),
    ArraySetting(
        "downsample",
        (None,),
        [],
        "test-time downsampling factors scored for methods that have them",
        low=1,
        high=16,
        integer=True,
    ),
)
ISP_KEYS_SPEC = ("name", "steps", "settings")
COLUMNS = (
    ("psnr_ab", "A→B PSNR (dB) ↑", "{:.2f}"),
    ("ssim_ab", "A→B SSIM ↑", "{:.4f}"),
    ("mae_ab", "A→B MAE ↓", "{:.4f}"),
    ("kl_ab", "A→B KL ↓", "{:.4f}"),
    ("psnr_ba", "B→A PSNR (dB) ↑", "{:.2f}"),
    ("ssim_ba", "B→A SSIM ↑", "{:.4f}"),
    ("mae_ba", "B→A MAE ↓", "{:.4f}"),
    ("kl_ba", "B→A KL ↓", "{:.4f}"),
)
ISP_COLUMNS = (
    ("isp_psnr", "ISP_B(A) sRGB PSNR (dB) ↑", "{:.2f}"),
    ("isp_delta_e", "ISP_B(A) ΔE2000 ↓", "{:.3f}"),
)


# -- the spec ------------------------------------------------------------------------
@frozen
class IspExperiment:
    """The cross-camera ISP experiment: a RAW-to-sRGB method ``name`` trained for
    ``steps`` on camera B's unpaired images."""

    name: str
    steps: int
    settings: dict[str, Any] = field(factory=dict)
    folder: Path | None = None

    def build(self) -> Any:
        return MethodEntry(self.name, self.name, self.settings, self.folder).build(
            _raw_to_srgb_class
        )


@frozen
class Raw2RawProtocol:
    seed: int = 0
    budget: Budget = field(factory=lambda: Budget(steps=1000))
    test_limit: int = 0
    error_map_images: int = 3
    downsample: tuple[int, ...] = ()
    isp: IspExperiment | None = None
    test_cameras: None = None  # the shared results document reads it; pairs name cameras


@frozen
class Raw2RawSpec:
    name: str
    description: str
    pairs: dict[str, Any] | None
    folder: Path | None
    protocol: Raw2RawProtocol
    methods: tuple[MethodEntry, ...]
    source: str = "<spec>"


def _raw_to_srgb_class(name: str) -> type:
    from ispengine.learning.raw_to_srgb import raw_to_srgb_class

    return raw_to_srgb_class(name)


def _isp(table: Any, source: str) -> IspExperiment | None:
    if table is None:
        return None
    if not isinstance(table, Mapping) or not isinstance(table.get("name"), str):
        raise SpecError("expected a table with a name", source=source, key="protocol.isp")
    reject_unknown_keys(table, ISP_KEYS_SPEC, "protocol.isp.", source=source)
    steps = table.get("steps", 1000)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise SpecError(f"expected steps >= 0, got {steps!r}", source=source, key="protocol.isp")
    settings = table.get("settings", {})
    if not isinstance(settings, Mapping):
        raise SpecError("expected a table", source=source, key="protocol.isp.settings")
    return IspExperiment(table["name"], steps, dict(settings), spec_folder(source))


def parse_spec(
    document: Mapping[str, Any], source: str = "<spec>", quick: bool = False
) -> Raw2RawSpec:
    """Validate a raw2raw spec (module docstring); with ``quick``, apply ``[quick]``."""
    check_top_level(document, source)
    data = dict(document.get("data", {"synthcam_pairs": {}}))
    reject_unknown_keys(data, ("synthcam_pairs", "folder"), "data.", source=source)
    if ("synthcam_pairs" in data) == ("folder" in data):
        raise SpecError(
            "give exactly one of data.synthcam_pairs or data.folder", source=source, key="data"
        )
    protocol = dict(document.get("protocol", {}))
    if quick:
        overrides = dict(document.get("quick", {}))
        keys = (*(s.name for s in PROTOCOL_SETTINGS), "isp")
        reject_unknown_keys(overrides, ("synthcam_pairs", *keys), "quick.", source=source)
        pairs_override = overrides.pop("synthcam_pairs", {})
        if "synthcam_pairs" in data:
            data["synthcam_pairs"] = {**data["synthcam_pairs"], **pairs_override}
        protocol.update(overrides)
    values = _table(
        DATA_SETTINGS,
        resolve_paths(DATA_SETTINGS, data, spec_folder(source)),
        source,
        "data.",
        "[data]",
    )
    isp = _isp(protocol.pop("isp", None), source)
    checked = _table(PROTOCOL_SETTINGS, protocol, source, "protocol.", "[protocol]")
    try:
        budget = Budget(**checked.pop("budget"))
    except ParamError as error:
        raise SpecError(str(error), source=source, key="protocol.budget") from None
    for factor in checked["downsample"]:
        if factor not in DOWNSAMPLE_FACTORS:
            raise SpecError(
                f"downsample factors are {', '.join(map(str, DOWNSAMPLE_FACTORS))}, got {factor}",
                source=source,
                key="protocol.downsample",
            )
    pairs = values["synthcam_pairs"]
    if pairs is not None and len(set(pairs["cameras"])) < 2:
        raise SpecError(
            "synthcam_pairs needs two different cameras", source=source, key="data.synthcam_pairs"
        )
    return Raw2RawSpec(
        name=str(document.get("name", Path(source).stem)),
        description=str(document.get("description", "")),
        pairs=None if pairs is None else {**pairs, "size": list(pairs["size"])},
        folder=None if values["folder"] is None else Path(values["folder"]),
        protocol=Raw2RawProtocol(
            budget=budget,
            downsample=tuple(checked.pop("downsample")),
            isp=isp,
            **checked,
        ),
        methods=_methods(document.get("method", []), source),
        source=source,
    )


def load_spec(path: str | Path, quick: bool = False) -> Raw2RawSpec:
    """Read and validate a raw2raw benchmark spec file."""
    return parse_spec(load_toml(path, "benchmark spec"), str(path), quick=quick)


# -- data ----------------------------------------------------------------------------
def prepare_pairs(spec: Raw2RawSpec, out: Path, progress: bool) -> tuple[Any, dict[str, Any]]:
    """The spec's two-camera dataset: a folder, or SynthCam pairs generated under
    ``out/data`` (reused when an earlier run made the same one)."""
    from ispengine.synthcam.pairs import generate_pairs, open_pairs

    if spec.folder is not None:
        pairs = open_pairs(spec.folder)
        return pairs, {"kind": "folder", "folder": str(spec.folder)}
    params = spec.pairs
    folder = out / "data"
    if not _same_pairs(folder, params):
        generate_pairs(
            folder,
            params["cameras"],
            params["unpaired"],
            params["anchors"],
            params["test"],
            tuple(params["size"]),
            params["seed"],
            kinds=params["kinds"],
            progress=progress,
        )
    pairs = open_pairs(folder)
    return pairs, {"kind": "synthcam_pairs", "folder": str(folder), **_json(params)}


def _json(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}


def _same_pairs(folder: Path, params: Mapping[str, Any]) -> bool:
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    return (
        manifest.get("seed") == params["seed"]
        and manifest.get("size") == list(params["size"])
        and manifest.get("cameras") == list(params["cameras"])
        and manifest.get("kinds") == list(params["kinds"])
        and len(manifest.get("anchor", [])) == params["anchors"]
        and len(manifest.get("test", [])) == params["test"]
        and all(len(ids) == params["unpaired"] for ids in manifest.get("unpaired", {}).values())
    )


@frozen(eq=False)
class TestPair:
    """One paired test scene, loaded: both samples and their packed planes."""

    a: Any
    b: Any
    packed_a: np.ndarray
    packed_b: np.ndarray

    @property
    def id(self) -> str:
        return str(self.a.id)

    @property
    def scene(self) -> dict[str, Any] | None:
        return self.a.info.get("scene")


def load_test_pairs(pairs: Any, limit: int) -> list[TestPair]:
    from ispengine.learning.raw_to_raw import packed_raw

    a, b = pairs.cameras[:2]
    found = pairs.test_pairs(a, b)
    if not found:
        raise InputError(f"{pairs.root}: no paired test images of {a} and {b}")
    chosen = found[: limit or None]
    return [TestPair(x, y, packed_raw(x.raw), packed_raw(y.raw)) for x, y in chosen]


# -- measuring -----------------------------------------------------------------------
def direction_metrics(predicted: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """PSNR, SSIM, MAE and the symmetric histogram KL of packed planes (module docstring)."""
    predicted = np.asarray(predicted, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    return {
        "psnr": psnr(predicted, truth),
        "ssim": ssim(predicted, truth),
        "mae": mae(predicted, truth),
        "kl": float(np.mean([histogram_kl(predicted[..., k], truth[..., k]) for k in range(4)])),
    }


def measure_pair(
    method: Any,
    pair: TestPair,
    index: int,
    *,
    downsample: int | None = None,
    isp: Any = None,
) -> tuple[dict[str, Any], np.ndarray]:
    """One method on one test pair, both directions: the metrics, and the A → B result
    as camera B's mosaic (for the error maps)."""
    if pair.packed_a.shape != pair.packed_b.shape:
        raise InputError(
            f"{pair.id}: the two RAWs differ in size ({pair.packed_a.shape[:2]} vs "
            f"{pair.packed_b.shape[:2]} packed): not a pixel-aligned pair"
        )
    measured: dict[str, Any] = {"id": pair.id}
    seconds = 0.0
    mapped_ab = None
    for direction, source, truth, suffix in (
        ("a_to_b", pair.packed_a, pair.packed_b, "ab"),
        ("b_to_a", pair.packed_b, pair.packed_a, "ba"),
    ):
        scene = pair.scene
        if index == 0:  # warm-up, not timed
            method.map_packed(source, direction, scene=scene, downsample=downsample)
        started = time.perf_counter()
        mapped = np.asarray(
            method.map_packed(source, direction, scene=scene, downsample=downsample)
        )
        seconds += time.perf_counter() - started
        if mapped.shape != truth.shape:
            raise InputError(f"{pair.id}: mapped to {mapped.shape}, expected {truth.shape}")
        for key, value in direction_metrics(mapped, truth).items():
            measured[f"{key}_{suffix}"] = value
        if direction == "a_to_b":
            mapped_ab = mapped
    measured["psnr"] = 0.5 * (measured["psnr_ab"] + measured["psnr_ba"])
    pixels = 2 * pair.packed_a.shape[0] * pair.packed_a.shape[1] * 4  # both directions
    measured["seconds"] = seconds
    measured["seconds_per_mp"] = seconds / (pixels / 1e6)
    if isp is not None:
        measured.update(isp_metrics(pair, mapped_ab, isp))
    shown = merge_cfa([mapped_ab[..., k] for k in range(4)], pair.b.raw.cfa_pattern, np).astype(
        np.float64
    )
    return measured, shown


def isp_metrics(pair: TestPair, mapped_ab: np.ndarray, isp: Any) -> dict[str, float]:
    """Camera B's ISP on camera A's RAW mapped A → B (``mapped_ab``), against camera B's
    sRGB."""
    from ispengine.learning.raw_to_raw import mapped_raw

    raw = mapped_raw(pair.a.raw, pair.packed_a, mapped_ab, pair.b.raw)
    rendered = np.asarray(isp.render(raw, capture=pair.a.capture), dtype=np.float64)
    truth = np.asarray(pair.b.srgb, dtype=np.float64)
    return {"isp_psnr": psnr(rendered, truth), "isp_delta_e": delta_e2000(rendered, truth)}


def fit_isp(
    experiment: IspExperiment, pairs: Any, test: Sequence[TestPair], seed: int, progress: bool
) -> tuple[Any, dict[str, Any]]:
    """Train the cross-camera experiment's ISP on camera B's unpaired images; its scores
    on camera B's own test RAWs (the bound)."""
    camera_b = pairs.cameras[1]
    isp = experiment.build()
    started = time.perf_counter()
    report = isp.fit(
        pairs.dataset(camera_b), Budget(steps=experiment.steps), seed=seed, progress=progress
    )
    fit = {**report.as_dict(), "wall_seconds": time.perf_counter() - started}
    scores = []
    for pair in test:
        rendered = np.asarray(isp.render(pair.b.raw, capture=pair.b.capture), dtype=np.float64)
        truth = np.asarray(pair.b.srgb, dtype=np.float64)
        scores.append((psnr(rendered, truth), delta_e2000(rendered, truth)))
    values = np.asarray(scores)
    info = {
        "name": experiment.name,
        "settings": experiment.settings,
        "steps": experiment.steps,
        "trained_on": camera_b,
        "fit": fit,
        "parameters": int(isp.num_parameters()),
        "on_target_raw": {
            "isp_psnr": float(values[:, 0].mean()),
            "isp_delta_e": float(values[:, 1].mean()),
        },
    }
    return isp, info


def evaluate_method(
    entry: MethodEntry,
    pairs: Any,
    test: Sequence[TestPair],
    spec: Raw2RawSpec,
    progress: bool,
    log: Callable[[str], None],
    isp: Any = None,
) -> list[MethodResult]:
    """Fit and evaluate one method, then its downsampling variants from the same fit;
    errors are caught and recorded."""
    from ispengine.learning.raw_to_raw import raw_to_raw_class

    keys = METRIC_KEYS + (ISP_KEYS if isp is not None else ())
    built: dict[str, Any] = {}

    def build(item: MethodEntry, result: MethodResult) -> Any:
        built["method"] = item.build(raw_to_raw_class)
        return built["method"]

    def measure(method: Any, pair: TestPair, index: int) -> tuple[dict[str, Any], np.ndarray]:
        return measure_pair(method, pair, index, isp=isp)

    first = common.evaluate_method(
        MethodResult(entry, keys), build, measure, pairs, test, spec.protocol, progress, log
    )
    results = [first]
    method = built.get("method")
    factors = getattr(method, "downsample_factors", ())
    if first.error is not None or not factors:
        return results
    for factor in spec.protocol.downsample:
        variant = MethodResult(
            MethodEntry(entry.name, f"{entry.label}, M = {factor}", entry.settings, entry.folder),
            keys,
        )
        variant.fit, variant.parameters = first.fit, first.parameters
        variant.flags["downsample"] = factor
        try:
            for index, pair in enumerate(test):
                measured, shown = measure_pair(method, pair, index, downsample=factor, isp=isp)
                variant.per_image.append(measured)
                if index < spec.protocol.error_map_images:
                    variant.maps.append(shown)
        except Exception as error:  # one failing variant must not stop the others
            variant.error = f"{type(error).__name__}: {error}"
            log(f"warning: method '{variant.entry.label}' failed: {variant.error}")
        results.append(variant)
    return results


# -- the report -----------------------------------------------------------------------
def data_line(document: dict[str, Any]) -> str:
    data = document["data"]
    if data["kind"] == "synthcam_pairs":
        source = (
            f"two-camera SynthCam ({', '.join(data['kinds'])} scenes), "
            f"{data['size'][0]}×{data['size'][1]}, seed {data['seed']}"
        )
    else:
        source = f"the two-camera folder `{data['folder']}`"
    return (
        f"- Data: {source}; camera A {data['cameras'][0]}, camera B {data['cameras'][1]}; "
        f"{data['unpaired_a']} + {data['unpaired_b']} unpaired training images, "
        f"{data['anchors']} paired anchors, {data['test_pairs']} paired test scenes."
    )


def markdown(document: dict[str, Any]) -> str:
    """The results table and its context as Markdown."""
    lines = intro_lines(document, "Raw-to-raw head to head")
    lines += [
        data_line(document),
        budget_line(document),
        "- Each method maps every test RAW A → B and B → A; PSNR, SSIM, MAE and the "
        "symmetric KL of the 256-bin histograms compare the result with the other camera's "
        "RAW of the same scene, as packed normalised planes (R, Gr, Gb, B). s / MP counts "
        "both directions.",
    ]
    isp = document.get("isp")
    if isp:
        bound = isp["on_target_raw"]
        lines.append(
            f"- Cross-camera ISP: `{isp['name']}` trained {isp['steps']} steps on camera B's "
            f"unpaired images renders camera A's test RAWs mapped A → B; scored against camera "
            f"B's sRGB. On camera B's own test RAWs it reaches {bound['isp_psnr']:.2f} dB, "
            f"ΔE2000 {bound['isp_delta_e']:.3f}."
        )
    lines += [machine_line(document), ""]
    columns = COLUMNS + (ISP_COLUMNS if isp else ())
    lines += table_lines(document, columns)
    notes = fit_notes(document)
    lines += ["", "Notes:", "", *notes] if notes else []
    lines += [
        "",
        "Figures: `psnr_bar.png` (A → B), `error_maps.png` (A → B, camera B's mosaic). "
        "Per-image values: `results.json`.",
        "",
    ]
    return "\n".join(lines)


def _write(
    out: Path,
    spec: Raw2RawSpec,
    document: dict[str, Any],
    results: list[MethodResult],
    test: list[TestPair],
) -> None:
    write_documents(out, document, markdown(document))

    def row(pair: TestPair) -> dict[str, Any]:
        pattern = pair.b.raw.cfa_pattern
        planes_a = [pair.packed_a[..., k] for k in range(4)]
        planes_b = [pair.packed_b[..., k] for k in range(4)]
        return {
            "id": pair.id,
            "input": merge_cfa(planes_a, pair.a.raw.cfa_pattern, np).astype(np.float64),
            "truth": merge_cfa(planes_b, pattern, np).astype(np.float64),
        }

    shown = [_AtoB(r) for r in results]
    write_figures(
        out,
        shown,
        test[: spec.protocol.error_map_images],
        row,
        ylabel="A → B RAW PSNR (dB), mean over test pairs",
        title=f"Raw to raw: {document['spec']}",
        maps_title="absolute error of the RAW mapped A → B",
        input_title="camera A RAW (γ 1/2.2)",
        truth_title="camera B RAW (γ 1/2.2)",
        error_label="absolute error (normalised RAW)",
    )


class _AtoB:
    """A result seen through its A → B PSNR (what the bar chart plots as ``psnr``)."""

    def __init__(self, result: MethodResult) -> None:
        self._result = result
        self.entry, self.error, self.per_image, self.maps = (
            result.entry,
            result.error,
            result.per_image,
            result.maps,
        )

    def summary(self) -> dict[str, float]:
        return {"psnr": self._result.summary()["psnr_ab"]}

    def spread(self) -> dict[str, float]:
        return {"psnr": self._result.spread().get("psnr_ab", 0.0)}


def run_benchmark(
    spec: Raw2RawSpec,
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
    entries = common.resolve_methods(spec, only, KIND)
    pairs, data_info = prepare_pairs(spec, out, progress)
    if len(pairs.cameras) < 2:
        raise InputError(f"{data_info['folder']}: needs two cameras")
    camera_a, camera_b = pairs.cameras[:2]
    test = load_test_pairs(pairs, spec.protocol.test_limit)
    data_info.update(
        cameras=[camera_a, camera_b],
        unpaired_a=len(pairs.unpaired(camera_a)),
        unpaired_b=len(pairs.unpaired(camera_b)),
        anchors=len(pairs.anchor_pairs(camera_a, camera_b)),
        test_pairs=len(test),
        test_ids=[pair.id for pair in test],
    )
    isp, isp_info = None, None
    if spec.protocol.isp is not None:
        isp, isp_info = fit_isp(spec.protocol.isp, pairs, test, spec.protocol.seed, progress)
    results = [
        result
        for entry in entries
        for result in evaluate_method(entry, pairs, test, spec, progress, log, isp)
    ]
    protocol = {
        "error_map_images": spec.protocol.error_map_images,
        "downsample": list(spec.protocol.downsample),
    }
    document = common.results_document(
        FORMAT,
        spec,
        quick=quick,
        command=command,
        data=data_info,
        extra={"isp": isp_info} if isp_info else {},
        protocol=protocol,
        results=results,
    )
    _write(out, spec, document, results, test)
    return document
