"""When to draw: pictures and widgets are skipped while a grader runs a notebook.

:func:`figure` wraps every function that draws or builds a widget (``msglib.viz``,
and ``History.plot``): when a grader runs the notebook (nbgrader's autograde or
Validate, or ``python -m msglib check``), nobody looks at the pictures, so they
are skipped and grading stays fast. It sits at the bottom floor (it imports
nothing from msglib) so any package may use it.
"""
from __future__ import annotations

import functools
import os
from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def grading_run() -> bool:
    """True while a grader, not a person, runs the notebook."""
    return (os.environ.get("NBGRADER_EXECUTION") in ("autograde", "validate")
            or os.environ.get("MSGLIB_GRADING_RUN") == "1")


def figure(fn: F) -> F:
    """Skip a picture or widget during grading runs (it returns None there)."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if grading_run():
            return None
        return fn(*args, **kwargs)
    return wrapper  # type: ignore[return-value]
