"""Authoring tools for the course notebooks: cell tags → nbgrader metadata, lint, percent-format round trip.

The source notebooks in ``solutions/`` are the only notebooks written by hand.
Authors mark cells with **tags** (JupyterLab: the property inspector, or the
percent format below); this module writes the nbgrader metadata from the tags,
so nobody edits nbgrader's JSON by hand and the two can never disagree.

Tags (``<ex>`` is the exercise id ``<module number>-<name>``, e.g. ``00-call_chain``):

==========================  ======================================================
``solution:<ex>``           the learner's answer cell (code with ``### BEGIN/END SOLUTION``)
``test:<ex>:<points>``      a visible test cell, worth ``points``
``hidden:<ex>:<points>``    a hidden test cell (only a ``### BEGIN/END HIDDEN TESTS`` block)
``manual:<ex>:<points>``    a written answer graded by hand (markdown; holds the model answer)
``locked``                  a read-only cell (setup code the tests rely on)
==========================  ======================================================

``sync`` also tags every visible test cell ``raises-exception``: JupyterLab's Run All
and nbval go on past it while the exercise is unanswered.

Percent format (what ``export``/``import`` read and write; a subset of jupytext's)::

    # %% [markdown]
    # # A title
    # %% tags=["solution:00-call_chain"]
    def call_chain(calls): ...

Commands::

    python -m msglib.authoring sync solutions/          # tags → metadata, strip outputs, stable ids
    python -m msglib.authoring lint solutions/          # the conventions, as errors
    python -m msglib.authoring export NB.ipynb [OUT.py] # notebook → percent text
    python -m msglib.authoring import SRC.py NB.ipynb   # percent text → notebook (then sync)
"""
from __future__ import annotations

import argparse
import ast
import json
import re
import sys
from pathlib import Path
from typing import Iterable

import nbformat

EXERCISE_ID = re.compile(r"^(?P<module>\d\d)-[a-z0-9_]+$")
KINDS = ("solution", "test", "hidden", "manual")
BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
# JupyterLab's Run All and nbval go on past a cell with this tag when it raises (nbgrader ignores tags):
# an unanswered exercise's visible test fails with one short message and the rest of the notebook runs.
RAISES = "raises-exception"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


class AuthoringError(ValueError):
    """A notebook breaks an authoring convention; the message names the cell and the fix."""


def parse_tag(tag: str) -> tuple[str, str | None, float | None]:
    """``"test:00-call_chain:2"`` → ``("test", "00-call_chain", 2.0)``; ``"locked"`` → ``("locked", None, None)``."""
    if tag == "locked":
        return "locked", None, None
    parts = tag.split(":")
    kind = parts[0]
    if kind not in KINDS:
        return "other", None, None
    if kind == "solution":
        if len(parts) != 2:
            raise AuthoringError(f"tag {tag!r}: write solution:<exercise id>")
        return kind, parts[1], None
    if len(parts) != 3:
        raise AuthoringError(f"tag {tag!r}: write {kind}:<exercise id>:<points>")
    try:
        points = float(parts[2])
    except ValueError:
        raise AuthoringError(f"tag {tag!r}: points must be a number, got {parts[2]!r}") from None
    return kind, parts[1], points


def cell_role(cell) -> tuple[str, str | None, float | None]:
    """The one grading role a cell's tags give it: (kind, exercise, points); kind "plain" if none."""
    roles = [parse_tag(t) for t in cell.get("metadata", {}).get("tags", [])]
    roles = [r for r in roles if r[0] != "other"]
    if len(roles) > 1:
        raise AuthoringError(f"a cell has more than one grading tag: {[r[0] for r in roles]}; keep one")
    return roles[0] if roles else ("plain", None, None)


def _meta(grade_id: str, *, grade: bool = False, solution: bool = False, locked: bool = False,
          points: float | None = None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution,
            "task": False}
    if points is not None:
        # whole numbers as JSON integers, as JupyterLab writes them: saving the notebook in the Lab
        # (Validate saves first) then leaves the file unchanged
        meta["points"] = int(points) if float(points).is_integer() else points
    return meta


def apply_metadata(nb) -> None:
    """Write nbgrader metadata, stable cell ids and the kernelspec from the tags, in place.

    Grade ids: the solution (or manual) cell is ``<ex>``; test cells are
    ``<ex>-test``, ``<ex>-test2``...; hidden cells ``<ex>-hidden``, ``<ex>-hidden2``...
    """
    counters: dict[tuple[str, str], int] = {}
    for index, cell in enumerate(nb.cells):
        kind, ex, points = cell_role(cell)
        cell.metadata.pop("nbgrader", None)
        if kind == "plain":
            cell.id = f"cell-{index:03d}"
            continue
        if kind == "locked":
            grade_id = f"locked-{index:03d}"
            cell.metadata["nbgrader"] = _meta(grade_id, locked=True)
        elif kind == "solution":
            grade_id = ex
            cell.metadata["nbgrader"] = _meta(grade_id, solution=True)
        elif kind == "manual":
            grade_id = ex
            cell.metadata["nbgrader"] = _meta(grade_id, grade=True, solution=True, points=points)
        else:
            if kind == "test":
                tags = cell.metadata.setdefault("tags", [])
                if RAISES not in tags:
                    tags.append(RAISES)
            n = counters[(kind, ex)] = counters.get((kind, ex), 0) + 1
            grade_id = f"{ex}-{kind}" + ("" if n == 1 else str(n))
            cell.metadata["nbgrader"] = _meta(grade_id, grade=True, locked=True, points=points)
        cell.id = grade_id
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}


def clear_outputs(nb) -> None:
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
        cell.metadata.pop("collapsed", None)
        cell.metadata.pop("scrolled", None)


def exercises(nb) -> dict[str, dict]:
    """Exercise id → {"solution": [cells], "test": [...], "hidden": [...], "manual": [...], "points": total}."""
    found: dict[str, dict] = {}
    for index, cell in enumerate(nb.cells):
        kind, ex, points = cell_role(cell)
        if ex is None:
            continue
        entry = found.setdefault(ex, {k: [] for k in KINDS} | {"points": 0.0})
        entry[kind].append(index)
        entry["points"] += points or 0.0
    return found


def _only_hidden_block(source: str) -> bool:
    """All code sits inside one hidden block; comment lines may stand outside it."""
    lines = [ln.strip() for ln in source.strip().splitlines() if ln.strip()]
    if lines.count(BEGIN_HIDDEN) != 1 or lines.count(END_HIDDEN) != 1:
        return False
    begin, end = lines.index(BEGIN_HIDDEN), lines.index(END_HIDDEN)
    outside = lines[:begin] + lines[end + 1:]
    return begin < end and all(ln.startswith("#") for ln in outside)


def _ends_with_bare_value(source: str) -> bool:
    """nbgrader reads a numeric last-expression value as partial credit; test cells must not have one."""
    code = "\n".join(ln for ln in source.splitlines() if not ln.strip().startswith("###"))
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False
    if not tree.body or not isinstance(tree.body[-1], ast.Expr):
        return False
    value = tree.body[-1].value
    return not isinstance(value, ast.Call)


def lint(nb, module_id: str, path: str = "<notebook>") -> list[str]:
    """Every way ``nb`` breaks the authoring conventions, as messages that name the fix."""
    problems: list[str] = []
    prefix = module_id[:2]
    try:
        found = exercises(nb)
    except AuthoringError as exc:
        return [f"{path}: {exc}"]
    for index, cell in enumerate(nb.cells):
        where = f"{path} cell {index}"
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count")):
            problems.append(f"{where}: has outputs; commit source notebooks without outputs "
                            "(python -m msglib.authoring sync solutions/)")
        kind, ex, points = cell_role(cell)
        src = cell.source
        if kind in ("test", "hidden", "manual") and not (points and points > 0):
            problems.append(f"{where}: {kind} cell for {ex} needs points > 0")
        if kind == "solution" and (cell.cell_type != "code" or BEGIN_SOLUTION not in src or END_SOLUTION not in src):
            problems.append(f"{where}: solution cell for {ex} must be code with {BEGIN_SOLUTION} ... {END_SOLUTION}")
        if kind == "test" and RAISES not in cell.metadata.get("tags", []):
            problems.append(f"{where}: visible test cell for {ex} lacks the {RAISES} tag (Run All would stop "
                            "at an unanswered exercise); run python -m msglib.authoring sync")
        if kind == "test" and BEGIN_HIDDEN in src:
            problems.append(f"{where}: visible test cell for {ex} contains hidden tests; move them to a "
                            f"hidden:{ex}:<points> cell of their own (tracebacks would leak them)")
        if kind == "hidden" and not _only_hidden_block(src):
            problems.append(f"{where}: hidden cell for {ex} must hold only a {BEGIN_HIDDEN} ... {END_HIDDEN} block")
        if kind in ("test", "hidden") and cell.cell_type != "code":
            problems.append(f"{where}: {kind} cell for {ex} must be a code cell")
        if kind in ("test", "hidden") and _ends_with_bare_value(src):
            problems.append(f"{where}: test cell for {ex} ends with a bare value; nbgrader would read it as "
                            "partial credit. End with a statement or a call to a check")
        if kind == "manual" and cell.cell_type != "markdown":
            problems.append(f"{where}: manual answer cell for {ex} must be markdown")
        if kind != "plain" and "nbgrader" not in cell.metadata:
            problems.append(f"{where}: tags and nbgrader metadata disagree; run python -m msglib.authoring sync")
    for ex, entry in found.items():
        m = EXERCISE_ID.match(ex)
        if not m or m.group("module") != prefix:
            problems.append(f"{path}: exercise id {ex!r} must look like {prefix}-<lowercase_name>")
        if entry["manual"]:
            if entry["solution"] or entry["test"] or entry["hidden"]:
                problems.append(f"{path}: {ex} mixes a manual answer with autograded cells; give each its own id")
            continue
        if len(entry["solution"]) != 1:
            problems.append(f"{path}: {ex} needs exactly one solution cell, found {len(entry['solution'])}")
        if not entry["test"]:
            problems.append(f"{path}: {ex} needs at least one visible test cell (test:{ex}:<points>)")
        if not entry["hidden"]:
            problems.append(f"{path}: {ex} needs at least one hidden test cell (hidden:{ex}:<points>)")
        if entry["solution"] and any(i < entry["solution"][0] for i in entry["test"] + entry["hidden"]):
            problems.append(f"{path}: {ex} has a test cell above its solution cell")
    # the metadata must be exactly what the tags say
    probe = nbformat.from_dict(json.loads(json.dumps(nb)))
    apply_metadata(probe)
    if any(a.metadata.get("nbgrader") != b.metadata.get("nbgrader") for a, b in zip(nb.cells, probe.cells)):
        problems.append(f"{path}: nbgrader metadata differs from the tags; run python -m msglib.authoring sync")
    return problems


# -- percent format ------------------------------------------------------------

_HEADER = re.compile(r"^# %%(?P<md> \[markdown\])?(?: tags=(?P<tags>\[.*\]))?\s*$")


def read_percent(text: str):
    """Parse percent-format text into a notebook (tags kept, metadata not yet applied)."""
    nb = nbformat.v4.new_notebook()
    current: dict | None = None
    lines: list[str] = []

    def flush() -> None:
        if current is None:
            return
        body = "\n".join(lines).strip("\n")
        if current["md"]:
            body = "\n".join(ln[2:] if ln.startswith("# ") else ln.lstrip("#") for ln in body.splitlines())
            cell = nbformat.v4.new_markdown_cell(body)
        else:
            cell = nbformat.v4.new_code_cell(body)
        if current["tags"]:
            cell.metadata["tags"] = current["tags"]
        nb.cells.append(cell)

    for line in text.splitlines():
        m = _HEADER.match(line)
        if m:
            flush()
            current = {"md": bool(m.group("md")), "tags": json.loads(m.group("tags")) if m.group("tags") else []}
            lines = []
        elif current is not None:
            lines.append(line)
        elif line.strip():
            raise AuthoringError(f"text before the first '# %%' cell marker: {line!r}")
    flush()
    return nb


def write_percent(nb) -> str:
    out = []
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        header = "# %%" + (" [markdown]" if cell.cell_type == "markdown" else "")
        if tags:
            header += " tags=" + json.dumps(tags)
        out.append(header)
        if cell.cell_type == "markdown":
            out.append("\n".join(("# " + ln) if ln else "#" for ln in cell.source.splitlines()))
        else:
            out.append(cell.source)
        out.append("")
    return "\n".join(out)


# -- files -----------------------------------------------------------------------

def source_notebooks(root: Path) -> list[Path]:
    """``solutions/<module>/<module>*.ipynb`` (checkpoints excluded), sorted."""
    return sorted(p for p in Path(root).glob("*/*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def save(nb, path: Path) -> None:
    nbformat.validate(nb)
    Path(path).write_text(json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n")


def sync(paths: Iterable[Path]) -> int:
    changed = 0
    for path in paths:
        before = Path(path).read_text()
        nb = nbformat.reads(before, as_version=4)
        clear_outputs(nb)
        apply_metadata(nb)
        after = json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
        if after != before:
            nbformat.validate(nb)
            Path(path).write_text(after)
            changed += 1
            print(f"synced {path}")
    return changed


def lint_paths(paths: Iterable[Path]) -> list[str]:
    problems: list[str] = []
    seen: dict[str, str] = {}
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        module_id = Path(path).parent.name
        problems += lint(nb, module_id, str(path))
        for ex in exercises(nb):
            if ex in seen:
                problems.append(f"{path}: exercise id {ex} is also used in {seen[ex]}")
            seen[ex] = str(path)
    return problems


def _expand(args: list[str]) -> list[Path]:
    paths: list[Path] = []
    for a in args:
        p = Path(a)
        paths += source_notebooks(p) if p.is_dir() else [p]
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m msglib.authoring", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("sync", help="tags → nbgrader metadata; strip outputs").add_argument("paths", nargs="+")
    sub.add_parser("lint", help="check the authoring conventions").add_argument("paths", nargs="+")
    ex = sub.add_parser("export", help="notebook → percent text")
    ex.add_argument("notebook")
    ex.add_argument("output", nargs="?")
    im = sub.add_parser("import", help="percent text → notebook (metadata applied)")
    im.add_argument("source")
    im.add_argument("notebook")
    args = parser.parse_args(argv)
    if args.cmd == "sync":
        sync(_expand(args.paths))
        return 0
    if args.cmd == "lint":
        problems = lint_paths(_expand(args.paths))
        for p in problems:
            print(p)
        print(f"{len(problems)} problem(s)" if problems else "notebooks follow the authoring conventions")
        return 1 if problems else 0
    if args.cmd == "export":
        text = write_percent(nbformat.read(args.notebook, as_version=4))
        if args.output:
            Path(args.output).write_text(text)
        else:
            sys.stdout.write(text)
        return 0
    nb = read_percent(Path(args.source).read_text())
    apply_metadata(nb)
    Path(args.notebook).parent.mkdir(parents=True, exist_ok=True)
    save(nb, Path(args.notebook))
    print(f"wrote {args.notebook}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
