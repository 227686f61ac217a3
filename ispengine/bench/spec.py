"""The TOML spec of an sRGB-to-RAW head-to-head benchmark (``ispengine bench srgb2raw``).

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

Unknown keys are errors that name the file and the key.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from attrs import field, frozen

from ispengine.core.errors import SpecError
from ispengine.learning.srgb_to_raw import Budget

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SYNTHCAM_KEYS = ("n", "size", "seed", "cameras")
PROTOCOL_KEYS = ("seed", "budget", "test_limit", "samples", "error_map_images")


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
    """One competitor: a registered method, its table label and settings."""

    name: str
    label: str
    settings: dict[str, Any] = field(factory=dict)


@frozen
class Protocol:
    """The shared protocol: seeds, the training budget and what is evaluated."""

    seed: int = 0
    budget: Budget = field(factory=lambda: Budget(steps=1000))
    test_limit: int = 0
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


def _fail(message: str, source: str, key: str | None = None) -> SpecError:
    return SpecError(message, source=source, key=key)


def _unknown(table: Mapping[str, Any], allowed: tuple[str, ...], where: str, source: str) -> None:
    extra = sorted(set(table) - set(allowed))
    if extra:
        raise _fail(f"unknown key (allowed: {', '.join(allowed)})", source, f"{where}{extra[0]}")


def _integer(value: Any, key: str, source: str, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise _fail(f"expected a whole number >= {low}, got {value!r}", source, key)
    return value


def _synthcam(table: Mapping[str, Any], source: str, where: str) -> SynthCamData:
    _unknown(table, SYNTHCAM_KEYS, where, source)
    size = table.get("size", [192, 256])
    if (
        not isinstance(size, list)
        or len(size) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 32 for v in size)
    ):
        raise _fail(f"expected [height, width], each >= 32, got {size!r}", source, f"{where}size")
    cameras = table.get("cameras")
    if cameras is not None and (
        not isinstance(cameras, list) or not all(isinstance(c, str) for c in cameras) or not cameras
    ):
        raise _fail(f"expected a list of camera names, got {cameras!r}", source, f"{where}cameras")
    return SynthCamData(
        _integer(table.get("n", 60), f"{where}n", source, low=3),
        (size[0], size[1]),
        _integer(table.get("seed", 0), f"{where}seed", source),
        None if cameras is None else tuple(cameras),
    )


def _budget(table: Any, source: str, key: str) -> Budget:
    if not isinstance(table, Mapping):
        raise _fail("expected a table { steps = N } and/or { seconds = S }", source, key)
    _unknown(table, ("steps", "seconds"), f"{key}.", source)
    steps = table.get("steps")
    if steps is not None:
        steps = _integer(steps, f"{key}.steps", source)
    seconds = table.get("seconds")
    if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, (int, float))):
        raise _fail(f"expected a number of seconds, got {seconds!r}", source, f"{key}.seconds")
    try:
        return Budget(steps=steps, seconds=None if seconds is None else float(seconds))
    except Exception as error:
        raise _fail(str(error), source, key) from None


def _protocol(table: Mapping[str, Any], source: str, where: str = "protocol.") -> Protocol:
    _unknown(table, PROTOCOL_KEYS, where, source)
    default = Protocol()
    return Protocol(
        _integer(table.get("seed", default.seed), f"{where}seed", source),
        _budget(table["budget"], source, f"{where}budget") if "budget" in table else default.budget,
        _integer(table.get("test_limit", default.test_limit), f"{where}test_limit", source),
        _integer(table.get("samples", default.samples), f"{where}samples", source, low=2),
        _integer(
            table.get("error_map_images", default.error_map_images),
            f"{where}error_map_images",
            source,
        ),
    )


def _methods(entries: Any, source: str) -> tuple[MethodEntry, ...]:
    if not isinstance(entries, list):
        raise _fail("expected [[method]] tables", source, "method")
    methods = []
    for index, entry in enumerate(entries):
        where = f"method[{index}]."
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            raise _fail("each [[method]] needs a name", source, f"{where}name")
        _unknown(entry, ("name", "label", "settings"), where, source)
        settings = entry.get("settings", {})
        if not isinstance(settings, Mapping):
            raise _fail("expected a table of settings", source, f"{where}settings")
        label = entry.get("label", entry["name"])
        if not isinstance(label, str) or not label.strip():
            raise _fail("expected a non-empty label", source, f"{where}label")
        if any(m.label == label for m in methods):
            raise _fail(f"label {label!r} is used twice", source, f"{where}label")
        methods.append(MethodEntry(entry["name"], label, dict(settings)))
    return tuple(methods)


def parse_spec(
    document: Mapping[str, Any], source: str = "<spec>", quick: bool = False
) -> BenchSpec:
    """Validate a spec document; with ``quick``, apply its ``[quick]`` overrides."""
    _unknown(
        document,
        ("schema", "name", "description", "data", "protocol", "method", "quick"),
        "",
        source,
    )
    if document.get("schema", 1) != 1:
        raise _fail(f"unsupported schema {document.get('schema')!r} (this engine reads 1)", source)
    data = document.get("data", {"synthcam": {}})
    _unknown(data, ("synthcam", "folder"), "data.", source)
    if ("synthcam" in data) == ("folder" in data):
        raise _fail("give exactly one of data.synthcam or data.folder", source, "data")
    synthcam_table = dict(data.get("synthcam", {}))
    protocol_table = dict(document.get("protocol", {}))
    if quick:
        overrides = dict(document.get("quick", {}))
        _unknown(overrides, ("synthcam", *PROTOCOL_KEYS), "quick.", source)
        synthcam_table.update(overrides.pop("synthcam", {}))
        protocol_table.update(overrides)
    folder = data.get("folder")
    if folder is not None and not isinstance(folder, str):
        raise _fail(f"expected a path, got {folder!r}", source, "data.folder")
    return BenchSpec(
        name=str(document.get("name", Path(source).stem)),
        description=str(document.get("description", "")),
        synthcam=_synthcam(synthcam_table, source, "data.synthcam.")
        if "synthcam" in data
        else None,
        folder=None if folder is None else _relative_to(Path(folder), source),
        protocol=_protocol(protocol_table, source),
        methods=_methods(document.get("method", []), source),
        source=source,
    )


def _relative_to(path: Path, source: str) -> Path:
    """A data folder relative to the spec file's folder, like every path in a spec."""
    if path.is_absolute() or source.startswith("<"):
        return path
    return Path(source).parent / path


def load_spec(path: str | Path, quick: bool = False) -> BenchSpec:
    """Read and validate a benchmark spec file."""
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text())
    except OSError as error:
        raise SpecError(
            f"cannot read benchmark spec ({error.strerror})", source=str(path)
        ) from None
    except tomllib.TOMLDecodeError as error:
        raise SpecError(f"invalid TOML: {error}", source=str(path)) from None
    return parse_spec(document, str(path), quick=quick)
