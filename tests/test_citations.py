"""Citations a reader can follow: no references to documents the repository lacks.

Formulas are cited by paper (authors, title, year, section / equation), never by
the name of an internal notes file or a numbered paper extraction. The patterns
are assembled from pieces so this file does not match itself.
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEXT_SUFFIXES = (".py", ".md", ".toml", ".txt")

# The internal formula notes, by file name.
NOTES_FILE = re.compile("methods" + r"\.md", re.IGNORECASE)
# A numbered paper extraction ("seed" followed by 000..004), or its file name.
NUMBERED_PAPER = re.compile(r"\bseeds?\s+(?:paper\s+)?" + "00" + r"[0-4]\b", re.IGNORECASE)
EXTRACTION_FILE = re.compile(r"\b" + "00" + r"[0-4]_[0-9a-f]{16}\b")
PATTERNS = (NOTES_FILE, NUMBERED_PAPER, EXTRACTION_FILE)


def tracked_text_files() -> list[Path]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    return [ROOT / name for name in listed.split("\0") if name.endswith(TEXT_SUFFIXES)]


def unfollowable_citations(text: str) -> list[str]:
    return [m.group(0) for pattern in PATTERNS for m in pattern.finditer(text)]


def test_patterns_catch_the_forbidden_forms_and_spare_random_seeds():
    bad = "see " + "methods" + ".md §3, Seed " + "000 A.1, file " + "00" + "1_308626940dff16a5.txt"
    assert len(unfollowable_citations(bad)) == 3
    assert unfollowable_citations("(seed paper " + "004, §3)") == ["seed paper " + "004"]
    fine = "# default seed 0\nseed 0 + j, --seed 0, seed=004, (seed 7), 2000 samples"
    assert unfollowable_citations(fine) == []


def test_no_tracked_text_file_cites_a_missing_document():
    offenders = []
    for path in tracked_text_files():
        if not path.is_file():  # deleted in the work tree, not yet committed
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for lineno, line in enumerate(text.splitlines(), 1):
            for found in unfollowable_citations(line):
                offenders.append(f"{path.relative_to(ROOT)}:{lineno}: {found!r}")
    assert not offenders, (
        "cite the paper (authors, title, year, section/equation) instead of:\n"
        + "\n".join(offenders)
    )


# A Markdown link or image target: ](target) with no scheme (http:, mailto:, ...) or anchor.
LOCAL_LINK = re.compile(r"\]\((?![a-z][a-z0-9+.-]*:|#)([^)\s]+)\)", re.IGNORECASE)
# A bare relative path that leaves the repository (``../shared/...``).
OUTSIDE_PATH = re.compile(r"(?<![\w./])\.\./[\w./-]+")


def test_markdown_links_resolve_inside_the_repository():
    offenders = []
    for path in tracked_text_files():
        if path.suffix != ".md" or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for lineno, line in enumerate(text.splitlines(), 1):
            targets = [m.group(1).split("#")[0] for m in LOCAL_LINK.finditer(line)]
            targets += [m.group(0) for m in OUTSIDE_PATH.finditer(line)]
            for target in filter(None, targets):
                resolved = (path.parent / target).resolve()
                if ROOT not in resolved.parents and resolved != ROOT or not resolved.exists():
                    offenders.append(f"{path.relative_to(ROOT)}:{lineno}: {target}")
    assert not offenders, "links to files the repository lacks:\n" + "\n".join(offenders)
