"""Shared fixtures: the repository root and throwaway course folders for the real nbgrader."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("MPLBACKEND", "Agg")


def make_course(tmp: Path, modules: list[str] | None = None) -> Path:
    """A course folder like the repository's (config, solutions/, notebooks/) under ``tmp``."""
    course = tmp / "course"
    course.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course)
    for folder in ("solutions", "notebooks"):
        for module in sorted((ROOT / folder).iterdir()) if (ROOT / folder).is_dir() else []:
            if module.is_dir() and (modules is None or module.name in modules):
                shutil.copytree(module, course / folder / module.name,
                                ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    return course


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests (whole notebooks, the nbgrader pipeline) run first: with two workers, a
    long test handed out last would leave one core idle while it finishes. Tests marked
    ``late`` run last: they read a batch an earlier test graded, which is done by then."""
    def order(item: pytest.Item) -> int:
        if item.get_closest_marker("late"):
            return 2
        return 0 if item.get_closest_marker("slow") else 1
    items.sort(key=order)  # stable: file order kept within each class


@pytest.fixture
def root() -> Path:
    return ROOT
