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
import sys
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


INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


def defer_matplotlib_magic() -> None:
    """In a grader's kernel, make ``%matplotlib inline`` choose the backend without importing pyplot.

    The setup cells start with ``%matplotlib inline`` so a learner always gets inline pictures, even
    with ``MPLBACKEND`` set (the Makefile sets Agg). The magic imports pyplot and matplotlib-inline at
    once, about 0.5 CPU-s, in every graded kernel, while a grading run draws nothing
    (:func:`figure`). Here it only names the inline backend, which matplotlib loads if pyplot is ever
    imported (matplotlib-inline then sets up the display as the magic would). Any other use of the
    magic, or one after pyplot was imported, runs the original.
    """
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        return
    original = shell.find_line_magic("matplotlib")
    if original is None:   # no such magic here: nothing to defer
        return

    def matplotlib(line: str = "") -> Any:
        if line.strip() == "inline" and "matplotlib.pyplot" not in sys.modules:
            os.environ["MPLBACKEND"] = INLINE_BACKEND          # read when matplotlib is imported ...
            if "matplotlib" in sys.modules:                     # ... or already was: set, not loaded
                sys.modules["matplotlib"].use(INLINE_BACKEND)
            return None
        return original(line)

    shell.register_magic_function(matplotlib, "line", "matplotlib")
