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


@pytest.fixture
def root() -> Path:
    return ROOT
