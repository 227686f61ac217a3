"""Pipeline specs: the TOML format, parsed and checked in two passes.

Pass one (here) checks the envelope: known keys only, the right value types,
a known schema version and colour spaces. Pass two (:mod:`ispengine.core.pipeline`)
resolves each stage type through the registry and validates its parameters
against the stage's declared :class:`~ispengine.core.params.ParamSpec`.

Format (schema 1)::

    schema = 1
    name = "function-isp"
    input = "camera_rgb"          # colour space / layout of the input
    output = "srgb"

    [[stage]]
    type = "gain"                 # a registered stage name
    name = "gain"                 # optional label, defaults to the type
    params = { p_x = 0.3 }        # constants; omitted ones take the default

    [[stage]]
    type = "mosaic_white_balance"
    from_metadata = { gains = "wb_gains", pattern = "cfa_pattern" }
                                  # values taken from each input file's metadata

    [inverse.gain]                # optional: how the stage labelled "gain" is inverted
    method = "exact"              # exact | lut | numerical | learned (others: method settings)

Headerless sensor dumps. ``input`` may instead be a table that also says how a
``.raw``/``.bin`` dump fed to the pipeline is laid out (the keys of
:class:`~ispengine.io.raw.headerless.SensorGeometry`; ``space`` is the colour
space, default ``raw_mosaic``)::

    [input]
    space = "raw_mosaic"
    width = 1920
    height = 1080
    bits = 10
    pattern = "rggb"
    packing = "unpacked"          # unpacked | unpacked16 | mipi_raw10 | mipi_raw12
    byte_order = "little"
    black = 64                    # or [R, Gr, Gb, B]
    white = 1023
    # stride = 3840               # bytes per row, padding included

The table may be partial (the command line's ``--width``, ``--raw-bits``, ... complete
or override it); a complete one is checked here. It is kept as
:attr:`PipelineSpec.input_geometry` and ``Pipeline.input_geometry``.

Every relative path in a spec (a ``[predictor]``'s ``weights``, a stage's path
option such as ``unet_isp``'s ``weights``) is resolved against the folder of
the spec file; specs built in Python (``Pipeline.from_dict``) keep their paths
as given (relative to the working directory).

Limits (so that a hostile or broken spec is refused at once with one line,
never exhausting memory, the stack or the compiler):

* a spec file is at most :data:`MAX_SPEC_BYTES` (1 MiB; the shipped specs are a
  few KiB) and must be a regular file: devices (``/dev/zero``), FIFOs and
  sockets are refused before anything is read, and at most the limit plus one
  byte is ever read;
* arrays and tables nest at most :data:`MAX_NESTING` (32) levels deep (a 3×3
  matrix parameter sits at level 6); deeper text is refused, not parsed into a
  stack overflow;
* a pipeline has at most :data:`MAX_STAGES` (256) stages. Real ISPs have a few
  dozen at most; every stage is compiled on a pipeline's first run (fused chains
  compile in chunks, linearly, at roughly 0.1–0.3 s a stage, see
  :mod:`ispengine.kernels.fused`), so the limit bounds a first run to about a
  minute.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from attrs import field, frozen

from ispengine.core.errors import SpecError
from ispengine.core.settings import MAX_NESTING as MAX_NESTING  # documented here too
from ispengine.core.settings import MAX_SPEC_BYTES as MAX_SPEC_BYTES
from ispengine.core.settings import check_nesting, load_toml, reject_unknown_keys
from ispengine.io.raw.image import METADATA_KEYS

SCHEMA_VERSION = 1
# Resource limits of a spec (see the module docstring).
MAX_STAGES = 256
# Colour spaces (and layouts) a pipeline's input and output can name.
SPACES = {
    "raw_mosaic": "mosaic",
    "packed_raw": "packed",
    "camera_rgb": "rgb",
    "linear_srgb": "rgb",
    "srgb": "rgb",
    "xyz": "rgb",
    "rgb": "rgb",
}
ENVELOPE_KEYS = (
    "schema",
    "name",
    "description",
    "input",
    "output",
    "predictor",
    "stage",
    "inverse",
)
STAGE_KEYS = ("type", "name", "params", "from_metadata")


@frozen
class StageSpec:
    """One ``[[stage]]`` entry: its 1-based index, type, label and constant params."""

    index: int
    type: str
    label: str
    params: dict[str, Any] = field(factory=dict)
    from_metadata: dict[str, str] = field(factory=dict)


@frozen
class InverseSpec:
    """One ``[inverse.<label>]`` table: the chosen method and its settings."""

    label: str
    method: str | None
    settings: dict[str, Any] = field(factory=dict)


@frozen
class PipelineSpec:
    """A whole spec after the envelope pass."""

    name: str
    input: str
    output: str
    stages: tuple[StageSpec, ...]
    inverse: dict[str, InverseSpec]
    predictor: dict[str, Any] | None
    source: str
    description: str = ""
    input_geometry: dict[str, Any] | None = None


def load_spec_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML spec (:func:`ispengine.core.settings.load_toml`: file, size, encoding,
    nesting and syntax errors become one-line :class:`SpecError`\\ s naming the file;
    ``/dev/zero``, a FIFO or a huge file is refused at once)."""
    return load_toml(path, "spec")


TOML_TYPE_NAMES = {
    dict: "table",
    list: "array",
    str: "string",
    int: "integer",
    float: "float",
    bool: "boolean",
}


def _type_name(kind: type) -> str:
    return TOML_TYPE_NAMES.get(kind, kind.__name__)


def _expect(value: Any, kind: type | tuple[type, ...], **where: Any) -> Any:
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        kinds = (kind,) if isinstance(kind, type) else kind
        expected = " or ".join(_type_name(k) for k in kinds)
        raise SpecError(f"expected {expected}, got {_type_name(type(value))} {value!r}", **where)
    return value


def parse_spec(data: dict[str, Any], source: str = "<dict>") -> PipelineSpec:
    """Check the envelope of a spec dict (from TOML or Python); return a :class:`PipelineSpec`."""
    where = {"source": source}
    _expect(data, dict, **where)
    check_nesting(data, source)
    reject_unknown_keys(data, ENVELOPE_KEYS, **where)
    schema = data.get("schema", SCHEMA_VERSION)
    if type(schema) is not int or schema != SCHEMA_VERSION:
        raise SpecError(
            f"unsupported schema {schema!r} (this version reads {SCHEMA_VERSION})",
            key="schema",
            **where,
        )
    name = _expect(data.get("name", Path(source).stem), str, key="name", **where)
    spaces = {}
    geometry = None
    for key, default in (("input", "camera_rgb"), ("output", "srgb")):
        value = data.get(key, default)
        if key == "input" and isinstance(value, dict):
            value, geometry = _input_table(value, where)
        value = _expect(value, str, key=key, **where)
        if value not in SPACES:
            raise SpecError(
                f"unknown colour space {value!r} (known: {', '.join(SPACES)})", key=key, **where
            )
        spaces[key] = value
    raw_stages = data.get("stage")
    if raw_stages is None or raw_stages == []:
        raise SpecError("a pipeline needs at least one [[stage]]", key="stage", **where)
    _expect(raw_stages, list, key="stage", **where)
    if len(raw_stages) > MAX_STAGES:
        raise SpecError(
            f"{len(raw_stages)} stages; a pipeline has at most {MAX_STAGES} "
            "(each stage is compiled on the first run; see ispengine.core.spec)",
            key="stage",
            **where,
        )
    stages = []
    labels: dict[str, int] = {}
    for index, raw in enumerate(raw_stages, start=1):
        at = {"source": source, "stage_index": index}
        _expect(raw, dict, **at)
        if "type" not in raw:
            raise SpecError("missing key", key="type", **at)
        stage_type = _expect(raw["type"], str, key="type", **at)
        at["stage_type"] = stage_type
        reject_unknown_keys(raw, STAGE_KEYS, **at)
        label = raw.get("name")
        if label is None:
            label = stage_type if stage_type not in labels else f"{stage_type}_{index}"
        _expect(label, str, key="name", **at)
        if label in labels:
            raise SpecError(
                f"stage name {label!r} is already used by stage {labels[label]}", key="name", **at
            )
        labels[label] = index
        params = _expect(raw.get("params", {}), dict, key="params", **at)
        bindings = _expect(raw.get("from_metadata", {}), dict, key="from_metadata", **at)
        for bound, source_key in bindings.items():
            _expect(source_key, str, key=f"from_metadata.{bound}", **at)
            if source_key not in METADATA_KEYS:
                raise SpecError(
                    f"unknown metadata key {source_key!r} (known: {', '.join(METADATA_KEYS)})",
                    key=f"from_metadata.{bound}",
                    **at,
                )
            if bound in params:
                raise SpecError(
                    "given both as a constant in params and in from_metadata",
                    key=f"from_metadata.{bound}",
                    **at,
                )
        stages.append(StageSpec(index, stage_type, label, dict(params), dict(bindings)))
    inverse = {}
    raw_inverse = _expect(data.get("inverse", {}), dict, key="inverse", **where)
    for label, table in raw_inverse.items():
        key = f"inverse.{label}"
        if label not in labels:
            raise SpecError(
                f"no stage is named {label!r} (stage names: {', '.join(labels)})", key=key, **where
            )
        _expect(table, dict, key=key, **where)
        settings = dict(table)
        method = settings.pop("method", None)
        if method is not None:
            _expect(method, str, key=f"{key}.method", **where)
        inverse[label] = InverseSpec(label, method, settings)
    predictor = data.get("predictor")
    if predictor is not None:
        _expect(predictor, dict, key="predictor", **where)
        if "type" not in predictor:
            raise SpecError("missing key", key="predictor.type", **where)
    description = _expect(data.get("description", ""), str, key="description", **where)
    return PipelineSpec(
        name,
        spaces["input"],
        spaces["output"],
        tuple(stages),
        inverse,
        predictor,
        source,
        description,
        geometry,
    )


def _input_table(table: dict[str, Any], where: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """(colour space, geometry values) of an ``[input]`` table (see the module docstring)."""
    from ispengine.core.errors import InputError
    from ispengine.io.raw.headerless import GEOMETRY_KEYS, SensorGeometry

    reject_unknown_keys(table, ("space", *GEOMETRY_KEYS), prefix="input.", **where)
    values = {k: v for k, v in table.items() if k != "space"}
    for name, value in values.items():
        kinds = (int, float, list) if name == "black" else (int, float)
        if name in ("pattern", "packing", "byte_order"):
            kinds = str
        _expect(value, kinds, key=f"input.{name}", **where)
    if {"width", "height", "pattern"} <= set(values) and ("bits" in values or "packing" in values):
        try:
            SensorGeometry.from_mapping(values)
        except InputError as error:
            raise SpecError(str(error), key="input", **where) from None
    return table.get("space", "raw_mosaic"), values
