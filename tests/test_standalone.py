"""The repository stands on its own: no tracked file refers to material a clone does not have.

The course was written with background notes kept outside the repository. Anything they supplied is restated
in the project's own docs/ pages with its primary source (a KIP, a documentation page, release notes); a
pointer to the notes themselves (their folder, their file names, their `K#<n>` item numbers) would be a dead
reference in every clone.
"""
from __future__ import annotations

import re
import subprocess

import pytest

from tests.conftest import ROOT

# built from parts, so this file does not match itself
OUTSIDE = re.compile("|".join([
    r"\.\./" + "shared", r"\b" + "shared/" + r"(?:reference|seed|README)", r"\bK" + r"#\d+",
    "kafka-" + "semantics", "es-cqrs-" + "dlq", "course-" + "anchors", "COURSE" + "_PLAN",
]))
TEXT = (".py", ".md", ".ipynb", ".txt", ".toml", ".yml", ".yaml", ".cfg", ".ini", ".json", "Makefile", ".sh", "run")


def tracked_files() -> list[str]:
    try:
        out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"not a git checkout ({exc}); the check reads `git ls-files`")
    return [f for f in out.splitlines() if f.endswith(TEXT)]


def test_no_tracked_file_refers_to_material_outside_the_repository():
    found = []
    for name in tracked_files():
        path = ROOT / name
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                found.append(f"{name}:{number}: {line.strip()[:120]}")
    assert not found, ("these lines point outside the repository; restate the fact in a docs/ page with its "
                       "primary source and link that instead:\n" + "\n".join(found[:40]))


def test_the_pattern_catches_what_it_is_for():
    for bad in ("see ../" + "shared/x.md", "(K" + "#128)", "es-cqrs-" + "dlq.md section 3",
                "COURSE" + "_PLAN.md"):
        assert OUTSIDE.search(bad), bad
    for fine in ("docs/transactions.md T9", "shared subscription", "a shared/exclusive lock"):
        assert not OUTSIDE.search(fine), fine
