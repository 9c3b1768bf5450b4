"""Checks of ``python -m msglib`` arguments, before any command starts.

Each check returns None or one sentence naming the bad argument and the fix;
``__main__`` prints it as ``error: ...`` and exits with status 2 (argparse's
status for a usage error), so a typo never ends in a traceback or, worse, in
a run that does the wrong thing (a negative timeout marking every student as
timed out, ``..`` reaching outside ``solutions/``).
"""
from __future__ import annotations

import argparse
import json
import re
import tempfile
from pathlib import Path

MODULE_ID = re.compile(r"^[0-9]{2}_[a-z0-9_]+$")   # 00_why_messaging, 11_capstone_notifications


def module_problem(name: str, root: Path | None) -> str | None:
    """Why ``name`` is not a module id of this course, or None."""
    if not MODULE_ID.match(name):
        return (f"{name!r} is not a module id: module ids look like 00_why_messaging (two digits, an "
                f"underscore, lower-case words), never a path")
    if root is not None and not (root / "solutions" / name).is_dir():
        known = sorted(p.name for p in (root / "solutions").iterdir() if p.is_dir() and MODULE_ID.match(p.name))
        return f"no module {name!r} in solutions/; choose from {', '.join(known)}"
    return None


def notebook_problem(path: str) -> str | None:
    """Why ``path`` is not a notebook or a folder with notebooks, or None."""
    p = Path(path)
    path = path if path.isprintable() and path.strip() == path and path else repr(path)   # one line, visible
    if not p.exists():
        return f"{path} does not exist; give a notebook or a module folder, e.g. notebooks/00_why_messaging"
    if p.is_dir():
        try:
            found = _has_notebook(p, depth=2)
        except OSError as exc:
            return f"cannot look for notebooks in {path} ({exc.strerror or exc})"
        if not found:
            return (f"no notebooks (.ipynb files) in {path} or the folders just below it; give a notebook or "
                    f"a module folder, e.g. notebooks/00_why_messaging")
        return None
    if p.suffix != ".ipynb":
        return f"{path} is not a notebook (.ipynb); give a notebook or a module folder, e.g. notebooks/00_why_messaging"
    try:
        with open(p, encoding="utf-8") as fh:
            json.load(fh)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return f"{path} cannot be read as a notebook ({exc.__class__.__name__}: {exc}); is the file complete?"
    return None


def _has_notebook(folder: Path, depth: int) -> bool:
    """Whether ``folder`` or its subfolders down to ``depth`` levels hold a notebook.

    Bounded on purpose: ``check /`` must not walk the whole disk (or /proc) to find out.
    """
    subfolders = []
    for entry in folder.iterdir():
        if entry.name.startswith(".") or entry.name == ".ipynb_checkpoints":
            continue
        try:
            if entry.suffix == ".ipynb" and entry.is_file():
                return True
            if depth > 0 and entry.is_dir():
                subfolders.append(entry)
        except OSError:
            continue          # an entry that cannot even be stat'ed (e.g. under /proc) holds no notebook
    for sub in subfolders:
        try:
            if _has_notebook(sub, depth - 1):
                return True
        except OSError:
            continue          # an unreadable subfolder is skipped, like a folder without notebooks
    return False


def writable_folder_problem(folder: Path) -> str | None:
    """Why files cannot be written in ``folder`` (created if missing), or None."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".msglib-write-test-"):
            pass
    except (OSError, ValueError) as exc:
        shown = str(folder) if str(folder).isprintable() else repr(str(folder))
        return (f"cannot write in {shown} ({getattr(exc, 'strerror', None) or exc}); give --out a folder you "
                f"can write, e.g. --out grades")
    return None


def course_root() -> tuple[Path | None, str | None]:
    """(the course root, None) or (None, why there is none)."""
    from msglib.grading.pipeline import find_root

    try:
        return find_root(), None
    except FileNotFoundError as exc:
        return None, str(exc)


def problem(args: argparse.Namespace) -> str | None:
    """The first problem with the parsed command line, or None when the command may run."""
    if args.cmd == "check":
        if getattr(args, "timeout", 1) <= 0:
            return f"--timeout must be a number of seconds > 0, got {args.timeout}"
        for path in args.paths:
            found = notebook_problem(path)
            if found:
                return found
        return None
    if args.cmd not in ("release", "grade"):
        return None
    timeout = getattr(args, "student_timeout", None)
    if timeout is not None and not timeout > 0:
        return f"--student-timeout must be a number of seconds > 0, got {timeout}"
    for name in args.modules:
        if not MODULE_ID.match(name):
            return module_problem(name, None)
    root, why = course_root()
    if root is None:
        return why
    for name in args.modules:
        found = module_problem(name, root)
        if found:
            return found
    if args.cmd == "grade":
        out = Path(args.out)
        return writable_folder_problem(out if out.is_absolute() else root / out)
    return None

