"""The generated component reference: one Markdown page per built-in component.

Every component the built-in plugins (distribution ``ispengine``) register gets
a page under ``docs/reference/<kind>/<name>.md``, and ``index.md`` lists them
by kind. A page is made from the registry record (kind, plugin, distribution,
class, inverse kinds) and the component's declarations (parameters, options,
settings, layouts) and docstrings (summary, formula, source) only, so the
pages are the same on every machine: sorted, with no versions, timestamps or
memory addresses, and without third-party plugins, whatever is installed.

Regenerate after changing a component, and check that the pages are current::

    python -m ispengine.reference --out docs/reference
    python -m ispengine.reference --check --out docs/reference

``--check`` writes nothing and exits with status 1, naming the stale, missing
and extra pages, when the folder differs from what would be generated.

Docstring conventions the pages rely on: the first line of the class docstring
(or ``summary``) is the one-line summary; a paragraph starting ``Source:`` in
the class, module or package docstring (the first found) names the paper or
standard; everything is written in reStructuredText-flavoured plain text
(``code``, ``:class:`name```, ``::`` literal blocks), converted here.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import re
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import numpy as np

from ispengine.core.errors import PluginError
from ispengine.core.plugins import ENTRY_POINT_GROUP, PluginHost
from ispengine.core.registry import KIND_LABELS, ComponentRecord, Registry
from ispengine.core.settings import ParamSpec, SettingBase
from ispengine.io.atomic import atomic_output

DISTRIBUTION = "ispengine"
DEFAULT_OUT = Path("docs/reference")
COMMAND = "python -m ispengine.reference --out docs/reference"

# Folder of each kind's pages, in the order of the index.
KIND_FOLDERS = {
    "stage": "stages",
    "inverse_stage": "inverse_stages",
    "filter": "filters",
    "param_predictor": "param_predictors",
    "srgb_to_raw": "srgb_to_raw",
    "raw_to_srgb": "raw_to_srgb",
    "raw_to_raw": "raw_to_raw",
    "lut_backend": "lut_backends",
}
KIND_HEADINGS = {
    "stage": "Stages",
    "inverse_stage": "Inverse stages",
    "filter": "Filters",
    "param_predictor": "Parameter predictors",
    "srgb_to_raw": "sRGB-to-RAW methods",
    "raw_to_srgb": "RAW-to-sRGB methods",
    "raw_to_raw": "Raw-to-raw methods",
    "lut_backend": "LUT backends",
}
STAGE_LIKE = ("stage", "filter")
ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|obj|exc):`~?([^`]+)`")
SHAPE_NAMES = {(): "scalar", (3,): "per channel (3)", (4,): "per CFA channel (4)", (3, 3): "3×3"}


# -- the registry -----------------------------------------------------------
def builtin_registry() -> Registry:
    """The registry of this distribution's own plugins (entry points of ``ispengine``).

    Third-party plugins and ``ISPENGINE_PLUGINS`` are ignored; a built-in plugin
    that fails to load or register is an error.
    """
    host = PluginHost(load_entry_points=False)
    found = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)
    for ep in found:
        dist = getattr(ep, "dist", None)
        if dist is None or dist.metadata["Name"] != DISTRIBUTION:
            continue
        host.register(ep.load(), ep.name, distribution=DISTRIBUTION, version=dist.version)
    registry = host.registry
    if host.failures:
        failure = host.failures[0]
        raise PluginError(f"built-in plugin '{failure.name}' failed: {failure.error}")
    return registry


# -- docstrings -------------------------------------------------------------
def own_docstring(obj: Any) -> str:
    """``obj``'s own docstring, dedented (never one inherited from a base class)."""
    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    return inspect.cleandoc(doc) if doc else ""


def module_docstrings(cls: type) -> list[str]:
    """Docstrings of the class's module and of the packages above it, nearest first."""
    parts = cls.__module__.split(".")
    names = [".".join(parts[:end]) for end in range(len(parts), 0, -1)]
    return [own_docstring(importlib.import_module(name)) for name in names]


def split_source(doc: str) -> tuple[str, str]:
    """``(doc without its Source paragraph, the paragraph's text)``."""
    paragraphs = doc.split("\n\n")
    for index, paragraph in enumerate(paragraphs):
        if paragraph.startswith("Source:"):
            text = " ".join(paragraph[len("Source:") :].split())
            rest = paragraphs[:index] + paragraphs[index + 1 :]
            return "\n\n".join(rest).strip(), text
    return doc, ""


def find_source(cls: type) -> str:
    """The first ``Source:`` paragraph of the class, module or package docstrings."""
    for doc in [own_docstring(cls), *module_docstrings(cls)]:
        source = split_source(doc)[1]
        if source:
            return source
    return ""


def inline(text: str) -> str:
    """reST inline markup to Markdown: ``x`` and :role:`x` become `x`."""
    text = ROLE.sub(lambda m: f"`{m.group(1).split('.')[-1]}`", text)
    return text.replace("``", "`")


def to_markdown(doc: str) -> str:
    """A docstring as Markdown: ``::`` literal blocks and indented blocks under a
    line ending in ``:`` become fenced blocks; inline markup is converted."""
    lines = doc.splitlines()
    out: list[str] = []
    index = 0
    while index < len(lines):
        stripped = lines[index].rstrip()
        block_end = _indented_block_end(lines, index + 1, _depth(stripped))
        if stripped.endswith(":") and block_end > index + 1:
            literal = stripped.endswith("::")
            head = stripped[:-1] if literal else stripped
            if head.strip() and head.strip() != ":":
                out.append(inline(head))
            out.append("")
            block = list(lines[index + 1 : block_end])
            while block and not block[0].strip():
                block.pop(0)
            depth = min(_depth(b) for b in block if b.strip())
            body = [b[depth:].rstrip() for b in block]
            if not literal:
                body = [ROLE.sub(r"\1", b).replace("``", "").replace("::", ":") for b in body]
            out.extend(["```text", *body, "```", ""])
            index = block_end
            continue
        out.append(inline(stripped))
        index += 1
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()


def _indented_block_end(lines: Sequence[str], start: int, indent: int) -> int:
    """End of the block of lines deeper than ``indent`` starting at ``start`` (blank
    lines inside count; a literal block may start after one blank line)."""
    end = start
    position = start
    if position < len(lines) and not lines[position].strip():
        position += 1
    if position >= len(lines) or _depth(lines[position]) <= indent + 1:
        return start
    while position < len(lines):
        line = lines[position]
        if line.strip() and _depth(line) <= indent:
            break
        position += 1
        if line.strip():
            end = position
    return end


def _depth(line: str) -> int:
    return len(line) - len(line.lstrip())


def summary_and_body(record: ComponentRecord) -> tuple[str, str]:
    """The one-line summary and the rest of the class docstring."""
    doc = split_source(own_docstring(record.cls))[0]
    first, _, rest = doc.partition("\n\n")
    summary = getattr(record.cls, "summary", "") or " ".join(first.split())
    body = rest if summary == " ".join(first.split()) else doc
    return summary, body.strip()


# -- one declaration --------------------------------------------------------
def declaration_row(decl: SettingBase) -> tuple[str, str, str, str, str]:
    """``(name, type, range or choices, default, description)`` of one declaration
    (:mod:`ispengine.core.settings`): a parameter, an option or a setting."""
    if isinstance(decl, ParamSpec):
        kind = SHAPE_NAMES.get(decl.shape, "×".join(str(n) for n in decl.shape))
        allowed = decl.range_text() + ("" if decl.local else ", not per pixel")
    else:
        kind, allowed = decl.kind, decl.listed_range()
    return (
        f"`{decl.name}`",
        kind,
        allowed.replace("|", "\\|"),
        format_value(decl.default) if decl.default is not None or decl.required else "none",
        inline(" ".join(decl.description.split())).replace("|", "\\|"),
    )


def format_value(value: Any) -> str:
    """A default value, deterministically: numbers with ``%g``, arrays that hold one
    value as that value, ``None`` as "required"."""
    if value is None:
        return "required"
    if isinstance(value, np.ndarray):
        if value.size and np.all(value == value.flat[0]):
            value = value.flat[0]
        else:
            return f"`{json.dumps(_plain(value.tolist()))}`"
    if isinstance(value, (bool, np.bool_)):
        return f"`{str(bool(value)).lower()}`"
    if isinstance(value, (int, float, np.integer, np.floating)):
        return f"`{float(value):g}`"
    if isinstance(value, str):
        return f"`{value}`" if value else '`""`'
    return f"`{json.dumps(_plain(value), sort_keys=True)}`"


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return int(value) if value.is_integer() else float(f"{value:g}")
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def declarations_table(declarations: Sequence[Any]) -> list[str]:
    """A Markdown table of declarations, one :func:`declaration_row` each."""
    rows = [declaration_row(decl) for decl in declarations]
    lines = ["| name | type | range / choices | default | description |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


# -- pages ------------------------------------------------------------------
def page_path(record: ComponentRecord) -> str:
    return f"{KIND_FOLDERS[record.kind]}/{record.name}.md"


def link(record: ComponentRecord, start: str) -> str:
    """A relative Markdown link to ``record``'s page from the page at ``start``."""
    up = "../" * start.count("/")
    return f"[`{record.name}`]({up}{page_path(record)})"


def render_page(record: ComponentRecord, registry: Registry) -> str:
    """The Markdown page of one component."""
    cls = record.cls
    summary, body = summary_and_body(record)
    facts = [
        ("kind", KIND_LABELS[record.kind]),
        ("plugin", f"`{record.plugin}` (distribution `{record.distribution}`)"),
        ("class", f"`{cls.__module__}.{cls.__qualname__}`"),
    ]
    more_facts, sections = kind_details(record, registry)
    lines = [f"# `{record.name}`", "", inline(summary), "", "| | |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in facts + more_facts]
    lines.append("")
    for title, content in sections:
        lines += [f"## {title}", "", *content, ""]
    description = [to_markdown(body)] if body else []
    module_doc = split_source(module_docstrings(cls)[0])[0]
    if module_doc:
        description += [f"From the module `{cls.__module__}`:", to_markdown(module_doc)]
    if description:
        lines += ["## Description", "", "\n\n".join(description), ""]
    source = find_source(cls)
    lines += ["## Source", "", inline(source) if source else "Not stated.", ""]
    return "\n".join(lines).rstrip() + "\n"


Facts = list[tuple[str, str]]
Sections = list[tuple[str, list[str]]]


def kind_details(record: ComponentRecord, registry: Registry) -> tuple[Facts, Sections]:
    """The facts and sections that depend on the component's kind."""
    cls = record.cls
    here = page_path(record)
    facts: Facts = []
    sections: Sections = []
    if record.kind in (*STAGE_LIKE, "inverse_stage"):
        low, high = cls.input_range
        facts += [
            ("layout", f"`{cls.input_layout}` → `{cls.output_layout}`"),
            ("input range", f"[{low:g}, {high:g}]"),
        ]
        if cls.needs_even_size:
            facts.append(("size", "height and width even"))
        if cls.monotone:
            facts.append(("monotone", "yes (per channel, on the input range)"))
    if record.kind in STAGE_LIKE:
        inverses = registry.inverses_of(record.name)
        kinds = ", ".join(f"{inverse.method} ({link(inverse, here)})" for inverse in inverses)
        facts.append(("inverse kinds", kinds or "none"))
        if cls.params:
            sections.append(("Parameters", declarations_table(cls.params)))
        if cls.options:
            sections.append(("Options", declarations_table(cls.options)))
    elif record.kind == "inverse_stage":
        forward = next(
            r for kind in STAGE_LIKE for r in registry.records(kind) if r.name == record.inverts
        )
        facts += [("inverts", link(forward, here)), ("inverse kind", f"`{record.method}`")]
        if cls.params or cls.options:
            shared = f"Those of {link(forward, here)}, with the same values."
            sections.append(("Parameters", [shared]))
        if cls.inverse_settings:
            table = f'`[inverse.<label>]` table (`method = "{record.method}"`)'
            note = f"Given in a pipeline's {table}."
            sections.append(("Settings", [note, "", *declarations_table(cls.inverse_settings)]))
    elif record.kind in ("srgb_to_raw", "raw_to_srgb", "raw_to_raw", "param_predictor"):
        if record.kind in ("srgb_to_raw", "raw_to_srgb", "raw_to_raw"):
            if record.kind == "srgb_to_raw":
                facts.append(("one-to-many", "yes" if cls.one_to_many else "no"))
            facts.append(("learned", "yes" if cls.learned else "no"))
        if cls.settings:
            sections.append(("Settings", declarations_table(cls.settings)))
    return facts, sections


def render_index(registry: Registry) -> str:
    """The index page: every component by kind, with its summary and plugin (and the
    inverse kinds of stages and filters, the forward stage of inverse stages)."""
    lines = [
        "# Component reference",
        "",
        "Every component the built-in plugins register (distribution `ispengine`).",
        f"Generated by `{COMMAND}`; do not edit by hand.",
        "",
    ]
    for kind in KIND_FOLDERS:
        records = [r for r in registry.records(kind) if r.distribution == DISTRIBUTION]
        if not records:
            continue
        extra = {"stage": "inverse", "filter": "inverse", "inverse_stage": "inverts"}.get(kind)
        header = ["name", "summary", "plugin"] + ([extra] if extra else [])
        lines += [f"## {KIND_HEADINGS[kind]}", ""]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for record in records:
            summary = inline(summary_and_body(record)[0]).replace("|", "\\|")
            cells = [link(record, "index.md"), summary, f"`{record.plugin}`"]
            if extra == "inverse":
                cells.append(", ".join(registry.inverse_kinds(record.name)))
            elif extra == "inverts":
                cells.append(f"`{record.inverts}` ({record.method})")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def generate(registry: Registry | None = None) -> dict[str, str]:
    """Every page, ``{path relative to the reference folder: Markdown}``, sorted."""
    registry = builtin_registry() if registry is None else registry
    pages = {"index.md": render_index(registry)}
    for kind in KIND_FOLDERS:
        for record in registry.records(kind):
            if record.distribution == DISTRIBUTION:
                pages[page_path(record)] = render_page(record, registry)
    return dict(sorted(pages.items()))


def differences(pages: dict[str, str], out: Path) -> list[str]:
    """Pages of ``out`` that are stale, missing or extra, as ``"path (why)"``."""
    found = {p.relative_to(out).as_posix() for p in out.rglob("*.md")} if out.is_dir() else set()
    stale = []
    for name, text in pages.items():
        path = out / name
        if name not in found:
            stale.append(f"{path} (missing)")
        elif path.read_text(encoding="utf-8") != text:
            stale.append(f"{path} (stale)")
    stale += [f"{out / name} (extra)" for name in sorted(found - set(pages))]
    return stale


def write(pages: dict[str, str], out: Path) -> None:
    """Write every page (atomically) and remove ``.md`` files no component has."""
    for name, text in pages.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        with atomic_output(path) as temporary:
            temporary.write_text(text, encoding="utf-8")
    for path in sorted(out.rglob("*.md")):
        if path.relative_to(out).as_posix() not in pages:
            path.unlink()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ispengine.reference",
        description="Generate (or check) the Markdown reference of the built-in components.",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="reference folder")
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if any page is not current"
    )
    args = parser.parse_args(argv)
    pages = generate()
    if args.check:
        problems = differences(pages, args.out)
        if problems:
            print(
                "component reference is not current:\n  "
                + "\n  ".join(problems)
                + f"\nrun: {COMMAND}",
                file=sys.stderr,
            )
            return 1
        return 0
    write(pages, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
