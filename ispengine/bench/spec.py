"""The TOML spec of a head-to-head benchmark (``ispengine bench srgb2raw``, ``bench raw2srgb``).

Both benches read this format; ``samples`` serves only the sRGB-to-RAW bench
(diversity of one-to-many methods), and the methods are looked up among the
bench's own kind (sRGB-to-RAW or RAW-to-sRGB methods).

::

    schema = 1
    name = "srgb2raw-synthcam"
    description = "..."

    [data]                       # SynthCam, generated on first use ...
    synthcam = { n = 60, size = [192, 256], seed = 0, cameras = ["nikon_5100"] }
    # folder = "path/to/raws"    # ... or a folder of RAW files (or a SynthCam folder)

    [protocol]
    seed = 0                     # fit and conversion seeds derive from it
    budget = { steps = 1500 }    # the same training budget for every method (steps and/or seconds)
    test_limit = 0               # evaluate at most this many test images (0: all)
    # test_cameras = ["nikon_5100"]  # only test images of these cameras (default: all)
    samples = 4                  # draws per image for the diversity of one-to-many methods
    error_map_images = 3         # test images shown in error_maps.png

    [[method]]                   # none: every registered method with default settings
    name = "upi"                 # registry name
    label = "UPI faithful"       # table label (default: the name), unique
    settings = { mode = "faithful" }

    [quick]                      # overrides for --quick (CI): any data.synthcam or protocol key
    synthcam = { n = 10, size = [48, 64] }
    budget = { steps = 5 }
    test_limit = 2

Unknown keys are errors that name the file and the key. A relative
``data.folder``, like every relative path in a spec, is resolved against the
spec file's folder.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from attrs import field, frozen

from ispengine.core.errors import ParamError, SpecError
from ispengine.core.settings import (
    ArraySetting,
    FloatSetting,
    IntegerSetting,
    PathSetting,
    StringSetting,
    TableSetting,
    coerce_table,
    load_toml,
    reject_unknown_keys,
    resolve_paths,
    spec_folder,
    table_error,
)
from ispengine.learning.srgb_to_raw import Budget, method_class

SYNTHCAM_SETTINGS = (
    IntegerSetting("n", 60, "SynthCam images generated", low=3),
    ArraySetting("size", (2,), [192, 256], "[height, width] in pixels", low=32, integer=True),
    IntegerSetting("seed", 0, "generation seed", low=0),
    StringSetting(
        "cameras",
        None,
        "SynthCam camera names (default: the measured two, nikon_5100 and sigma_sdmerrill)",
        multiple=True,
    ),
)
DATA_SETTINGS = (
    TableSetting("synthcam", SYNTHCAM_SETTINGS, None, "generate a SynthCam dataset"),
    PathSetting("folder", None, "a folder of RAW files or a SynthCam folder"),
)
BUDGET_SETTINGS = (
    IntegerSetting("steps", None, "optimiser steps", low=0, optional=True),
    FloatSetting("seconds", None, "wall-clock seconds", low=0.0, optional=True),
)
PROTOCOL_SETTINGS = (
    IntegerSetting("seed", 0, "fit and conversion seeds derive from it", low=0),
    TableSetting("budget", BUDGET_SETTINGS, {"steps": 1000}, "training budget of every method"),
    IntegerSetting("test_limit", 0, "evaluate at most this many test images (0: all)", low=0),
    StringSetting(
        "test_cameras",
        None,
        "evaluate only test images of these cameras (SynthCam names, or 'make model'; "
        "default: all)",
        multiple=True,
    ),
    IntegerSetting("samples", 4, "draws per image for one-to-many diversity", low=2),
    IntegerSetting("error_map_images", 3, "test images shown in error_maps.png", low=0),
)
METHOD_KEYS = ("name", "label", "settings")
SYNTHCAM_KEYS = tuple(s.name for s in SYNTHCAM_SETTINGS)
PROTOCOL_KEYS = tuple(s.name for s in PROTOCOL_SETTINGS)


@frozen
class SynthCamData:
    """Generate a SynthCam dataset: ``n`` samples of ``size`` from ``seed``."""

    n: int = 60
    size: tuple[int, int] = (192, 256)
    seed: int = 0
    cameras: tuple[str, ...] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "size": list(self.size),
            "seed": self.seed,
            "cameras": None if self.cameras is None else list(self.cameras),
        }


@frozen
class MethodEntry:
    """One competitor: a registered method, its table label and settings (as written;
    relative paths among them resolve against ``folder``, the spec file's folder)."""

    name: str
    label: str
    settings: dict[str, Any] = field(factory=dict)
    folder: Path | None = None

    def build(self, lookup: Callable[[str], type] = method_class) -> Any:
        """The method, from the registry (``lookup``: the method class of a name; default
        the sRGB-to-RAW methods'), with these settings."""
        cls = lookup(self.name)
        return cls(**resolve_paths(cls.settings, self.settings, self.folder))


@frozen
class Protocol:
    """The shared protocol: seeds, the training budget and what is evaluated."""

    seed: int = 0
    budget: Budget = field(factory=lambda: Budget(steps=1000))
    test_limit: int = 0
    test_cameras: tuple[str, ...] | None = field(
        default=None, converter=lambda v: None if v is None else tuple(v)
    )
    samples: int = 4
    error_map_images: int = 3


@frozen
class BenchSpec:
    """A parsed benchmark spec (see the module docstring)."""

    name: str
    description: str
    synthcam: SynthCamData | None
    folder: Path | None
    protocol: Protocol
    methods: tuple[MethodEntry, ...]
    source: str = "<spec>"


def _table(declared: tuple, table: Any, source: str, prefix: str, owner: str) -> dict[str, Any]:
    if not isinstance(table, Mapping):
        raise SpecError(f"expected a table, got {table!r}", source=source, key=prefix.rstrip("."))
    try:
        return coerce_table(declared, table, owner)
    except ParamError as error:
        raise table_error(error, source, prefix) from None


def _protocol(table: Mapping[str, Any], source: str) -> Protocol:
    values = _table(PROTOCOL_SETTINGS, table, source, "protocol.", "[protocol]")
    try:
        budget = Budget(**values.pop("budget"))
    except ParamError as error:
        raise SpecError(str(error), source=source, key="protocol.budget") from None
    return Protocol(budget=budget, **values)


def _methods(entries: Any, source: str) -> tuple[MethodEntry, ...]:
    if not isinstance(entries, list):
        raise SpecError("expected [[method]] tables", source=source, key="method")
    methods: list[MethodEntry] = []
    for index, entry in enumerate(entries):
        where = f"method[{index}]."
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            raise SpecError("each [[method]] needs a name", source=source, key=f"{where}name")
        reject_unknown_keys(entry, METHOD_KEYS, where, source=source)
        settings = entry.get("settings", {})
        if not isinstance(settings, Mapping):
            raise SpecError("expected a table of settings", source=source, key=f"{where}settings")
        label = entry.get("label", entry["name"])
        if not isinstance(label, str) or not label.strip():
            raise SpecError("expected a non-empty label", source=source, key=f"{where}label")
        if any(m.label == label for m in methods):
            raise SpecError(f"label {label!r} is used twice", source=source, key=f"{where}label")
        methods.append(MethodEntry(entry["name"], label, dict(settings), spec_folder(source)))
    return tuple(methods)


def check_top_level(document: Mapping[str, Any], source: str) -> None:
    """A bench spec's top-level tables and schema (every bench's spec has the same ones)."""
    reject_unknown_keys(
        document,
        ("schema", "name", "description", "data", "protocol", "method", "quick"),
        source=source,
    )
    if document.get("schema", 1) != 1:
        raise SpecError(
            f"unsupported schema {document.get('schema')!r} (this engine reads 1)", source=source
        )


def parse_spec(
    document: Mapping[str, Any], source: str = "<spec>", quick: bool = False
) -> BenchSpec:
    """Validate a spec document; with ``quick``, apply its ``[quick]`` overrides.

    A relative ``data.folder`` (and any relative path among a method's settings)
    is resolved against the folder of the spec file ``source``."""
    check_top_level(document, source)
    data = document.get("data", {"synthcam": {}})
    reject_unknown_keys(data, ("synthcam", "folder"), "data.", source=source)
    if ("synthcam" in data) == ("folder" in data):
        raise SpecError(
            "give exactly one of data.synthcam or data.folder", source=source, key="data"
        )
    data = dict(data)
    protocol_table = dict(document.get("protocol", {}))
    if quick:
        overrides = dict(document.get("quick", {}))
        reject_unknown_keys(overrides, ("synthcam", *PROTOCOL_KEYS), "quick.", source=source)
        if "synthcam" in data:
            data["synthcam"] = {**data["synthcam"], **overrides.pop("synthcam", {})}
        overrides.pop("synthcam", None)
        protocol_table.update(overrides)
    values = _table(
        DATA_SETTINGS,
        resolve_paths(DATA_SETTINGS, data, spec_folder(source)),
        source,
        "data.",
        "[data]",
    )
    synthcam = values["synthcam"]
    return BenchSpec(
        name=str(document.get("name", Path(source).stem)),
        description=str(document.get("description", "")),
        synthcam=None
        if synthcam is None
        else SynthCamData(
            synthcam["n"],
            tuple(synthcam["size"]),
            synthcam["seed"],
            synthcam["cameras"],
        ),
        folder=None if values["folder"] is None else Path(values["folder"]),
        protocol=_protocol(protocol_table, source),
        methods=_methods(document.get("method", []), source),
        source=source,
    )


def load_spec(path: str | Path, quick: bool = False) -> BenchSpec:
    """Read and validate a benchmark spec file (:func:`ispengine.core.settings.load_toml`)."""
    return parse_spec(load_toml(path, "benchmark spec"), str(path), quick=quick)
