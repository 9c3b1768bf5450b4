"""Exercise checks (one module per course module: ``ex00``, ``ex02``...), the
learner's self-check and the instructor's batch grading.

Test cells in the notebooks stay one line long: they call a check from here,
so the same logic serves pytest, nbgrader and ``python -m msglib check``.
"""
from msglib.grading.core import CheckFailed, check, quiet, seeds

__all__ = ["CheckFailed", "check", "quiet", "seeds"]
