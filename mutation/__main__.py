"""Mutation testing of every exercise's reference solution with mutmut's mutation operators.

For each exercise of each source notebook, the reference solution (the lines
between ``### BEGIN SOLUTION`` and ``### END SOLUTION``) is written to a module
file; mutmut (3.x, ``mutmut.mutation.file_mutation.create_mutations``) lists
every mutation its operators make on those lines (never on the stub a learner
is given), and each is rendered as a whole mutated module.

The checks run in-process, as tests/exercise_harness.py runs a module: this
process runs the notebook's locked cells and every reference solution once;
each mutant then runs in a forked child of it, which runs the mutated solution
cell and this exercise's test cells, visible first, hidden after (default
salt; the first failing cell ends the run).

A mutant is *killed* when a check fails (or the cell raises, or writes to
stderr, which nbgrader scores 0), *killed by timeout* when it runs longer than
the per-mutant limit, *equivalent* when mutation/equivalent.py says why it
cannot differ from the reference, and *survived* otherwise.

    python -m mutation                    # every exercise; writes mutation/results.json
    python -m mutation --only 02-retention --only 05-cooperative_sticky
    python -m mutation --module 04 --survivors   # print each survivor's diff
"""
from __future__ import annotations

import argparse
import contextlib
import difflib
import importlib
import io
import json
import os
import re
import select
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from msglib.authoring import cell_role
from mutation.equivalent import EQUIVALENT, by_rule

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).with_name("results.json")
BEGIN = re.compile(r"\s*### BEGIN SOLUTION")
END = re.compile(r"\s*### END SOLUTION")


@dataclass
class Exercise:
    """One autograded exercise: its reference solution and its test cells, in notebook order."""
    id: str
    notebook: Path
    source: str                      # the solution cell, marker lines removed
    region: tuple[int, int]          # 1-based lines of ``source`` the learner writes (inclusive)
    tests: list[tuple[str, str]] = field(default_factory=list)   # (grade id, source), visible first


@dataclass
class Module:
    notebook: Path
    cells: list[tuple[str, str | None, str]]   # (kind, exercise id, source) for locked/solution/test/hidden
    exercises: dict[str, Exercise]


def strip_magics(source: str) -> str:
    return "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in source.splitlines())


def load_module(path: Path) -> Module:
    nb = nbformat.read(str(path), as_version=4)
    cells: list[tuple[str, str | None, str]] = []
    exercises: dict[str, Exercise] = {}
    for cell in nb.cells:
        kind, ex, _ = cell_role(cell)
        if cell.cell_type != "code" or kind == "plain":
            continue
        if kind == "solution":
            kept, region, inside = [], [None, None], False
            for line in cell.source.splitlines():
                if BEGIN.match(line):
                    inside = True
                    continue
                if END.match(line):
                    inside = False
                    continue
                kept.append(line)
                if inside:
                    region[0] = region[0] or len(kept)
                    region[1] = len(kept)
            source = "\n".join(kept) + "\n"
            exercises[ex] = Exercise(ex, path, source, (region[0] or 1, region[1] or len(kept)))
            cells.append((kind, ex, source))
        elif kind in ("test", "hidden"):
            gid = cell.metadata["nbgrader"]["grade_id"]
            cells.append((kind, ex, cell.source))
            exercises[ex].tests.append((gid, cell.source))
        else:
            cells.append((kind, ex, strip_magics(cell.source)))
    for ex in exercises.values():   # visible cells first: most mutants die there, cheaply
        ex.tests.sort(key=lambda t: t[0].endswith("-hidden"))
    return Module(path, cells, exercises)


def mutants(ex: Exercise, workdir: Path) -> list[tuple[str, str, int]]:
    """(operator, mutated module source, line) for every mutation mutmut makes inside the learner's region.

    mutmut reads its configuration from the working directory: ``workdir`` holds
    the extracted solution modules and a setup.cfg naming them as its sources.
    """
    path = workdir / (re.sub(r"\W", "_", ex.id) + ".py")
    path.write_text(ex.source)
    (workdir / "setup.cfg").write_text("[mutmut]\nsource_paths=.\n")
    from mutmut.mutation.file_mutation import create_mutations, deep_replace   # the `mutation` extra

    here = os.getcwd()
    os.chdir(workdir)
    try:
        tree, found, _, _ = create_mutations(path.name, ex.source,
                                             covered_lines=set(range(ex.region[0], ex.region[1] + 1)))
        out = []
        for m in found:
            code = deep_replace(tree, m.original_node, m.mutated_node).code
            operator = f"{type(m.original_node).__name__}->{type(m.mutated_node).__name__}"
            line = next((i + 1 for i, (a, b) in enumerate(zip(ex.source.splitlines(), code.splitlines()))
                         if a != b), ex.region[0])
            out.append((operator, code, line))
        return out
    finally:
        os.chdir(here)


def prepare(module: Module) -> dict:
    """The namespace every mutant of ``module`` starts from: its locked cells and every reference solution,
    run once in this process (a fork then inherits it, imports included, instead of redoing them)."""
    os.environ.pop("MSGLIB_GRADING_SALT", None)   # hidden checks draw their cases from the default salt
    ns: dict = {"__name__": "__main__"}
    for kind, cid, src in module.cells:
        if kind == "locked":
            exec(compile(src, f"<{module.notebook.stem} locked cell>", "exec"), ns)
        elif kind == "solution":
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(src, f"<solution {cid}>", "exec"), ns)
    for kind, _, src in module.cells:           # the grading modules the test cells import
        if kind in ("test", "hidden"):
            for name in re.findall(r"from msglib\.grading import (\w+)", src):
                importlib.import_module(f"msglib.grading.{name}")
    return ns


def run_checks(ns: dict, ex: Exercise, solution: str) -> tuple[bool, str]:
    """Run ``ex``'s test cells with ``solution`` in its cell; (passed, first failure). Called in a fork."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(solution, f"<solution {ex.id}>", "exec"), ns)
    except Exception as exc:
        return False, f"the solution cell raised {type(exc).__name__}: {exc}"
    for gid, src in ex.tests:
        err = io.StringIO()
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
                exec(compile(src, f"<{gid}>", "exec"), ns)
        except BaseException as exc:  # noqa: BLE001 - any failure kills the mutant
            return False, f"{gid}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        if err.getvalue():
            return False, f"{gid}: wrote to stderr"
    return True, ""


def in_fork(ns: dict, ex: Exercise, solution: str, timeout: float) -> tuple[str, str, float]:
    """(outcome, detail, seconds): outcome is 'killed', 'timeout' or 'survived'."""
    read_end, write_end = os.pipe()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_end)
        code = 1
        try:
            ok, detail = run_checks(ns, ex, solution)
            code = 0 if ok else 1
            os.write(write_end, detail.encode()[:2000])
        finally:
            os._exit(code)
    os.close(write_end)
    chunks, deadline = [], start + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(read_end)
            return "timeout", f"ran longer than {timeout:.0f} s", time.monotonic() - start
        ready, _, _ = select.select([read_end], [], [], min(left, 1.0))
        if ready:
            data = os.read(read_end, 4096)
            if not data:
                break
            chunks.append(data)
    _, status = os.waitpid(pid, 0)
    os.close(read_end)
    detail = b"".join(chunks).decode(errors="replace")
    passed = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    if not passed and not detail:
        detail = f"child ended with status {status}"
    return ("survived" if passed else "killed"), detail, time.monotonic() - start


def changed_lines(original: str, mutated: str) -> tuple[str, str]:
    """The (original, mutated) text of the changed line(s), stripped: the mutant's stable name."""
    a, b = original.splitlines(), mutated.splitlines()
    old, new = [], []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b).get_opcodes():
        if tag != "equal":
            old += [s.strip() for s in a[i1:i2]]
            new += [s.strip() for s in b[j1:j2]]
    return " / ".join(old), " / ".join(new)


def mutate_exercise(ns: dict, ex: Exercise, workdir: Path, timeout_floor: float,
                    verbose: bool) -> dict:
    ok, detail, ref_seconds = in_fork(ns, ex, ex.source, 600)
    if ok != "survived":   # nothing to learn from mutants of a reference its checks reject: say so, go on
        return {"exercise": ex.id, "notebook": str(ex.notebook.relative_to(ROOT)), "mutants": 0, "killed": 0,
                "timeout": 0, "survived": 0, "equivalent": 0, "score": None,
                "error": f"the reference solution fails its own checks ({detail})", "details": []}
    timeout = max(timeout_floor, 10 * ref_seconds)
    results = []
    for operator, mutated, line in mutants(ex, workdir):
        old, new = changed_lines(ex.source, mutated)
        reason = EQUIVALENT.get(ex.id, {}).get((old, new)) or by_rule(old, new)
        if reason is not None:
            outcome, detail, secs = "equivalent", reason, 0.0
        else:
            outcome, detail, secs = in_fork(ns, ex, mutated, timeout)
        results.append({"operator": operator, "line": line - ex.region[0] + 1, "original": old, "mutated": new,
                        "outcome": outcome, "detail": detail, "seconds": round(secs, 2)})
        if verbose and outcome == "survived":
            print(f"  SURVIVED {old!r}\n        -> {new!r}", flush=True)
    counts = {k: sum(r["outcome"] == k for r in results) for k in ("killed", "timeout", "survived", "equivalent")}
    nonequiv = len(results) - counts["equivalent"]
    score = (counts["killed"] + counts["timeout"]) / nonequiv if nonequiv else 1.0
    return {"exercise": ex.id, "notebook": str(ex.notebook.relative_to(ROOT)), "mutants": len(results),
            **counts, "score": round(score, 4), "reference_seconds": round(ref_seconds, 2),
            "timeout_seconds": round(timeout, 1), "details": results}


def source_notebooks() -> list[Path]:
    return sorted(p for p in (ROOT / "solutions").glob("*/*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mutation", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", default=[], help="an exercise id (repeatable)")
    parser.add_argument("--module", action="append", default=[], help="a module number such as 04 (repeatable)")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="per-mutant floor in seconds (the limit is the larger of this and 10x the reference)")
    parser.add_argument("--survivors", action="store_true", help="print each surviving mutant as it is found")
    parser.add_argument("--no-write", action="store_true", help="do not update mutation/results.json")
    args = parser.parse_args(argv)
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"exercises": {}}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="msglib-mutation-") as tmp:
        for nb in source_notebooks():
            if args.module and nb.parent.name[:2] not in args.module:
                continue
            module = load_module(nb)
            wanted = [ex for ex in module.exercises.values() if not args.only or ex.id in args.only]
            if not wanted:
                continue
            ns = prepare(module)
            for ex in wanted:
                print(f"{ex.id}: mutating ...", flush=True)
                result = mutate_exercise(ns, ex, Path(tmp), args.timeout, args.survivors)
                if result.get("error"):
                    print(f"{ex.id}: NOT MUTATED: {result['error']}", flush=True)
                else:
                    print(f"{ex.id}: {result['mutants']} mutants, {result['killed']} killed, {result['timeout']} "
                          f"by timeout, {result['equivalent']} equivalent, {result['survived']} survived "
                          f"-> score {result['score']:.0%}", flush=True)
                data["exercises"][ex.id] = result
                if not args.no_write:
                    data["command"] = "python -m mutation"
                    data["tool"] = f"mutmut {_version('mutmut')} (its mutation operators, run in-process by mutation/__main__.py)"
                    data["exercises"] = dict(sorted(data["exercises"].items()))
                    RESULTS.write_text(dump(data))
    print(f"done in {time.monotonic() - started:.0f} s")
    print(table(data))
    return 0


def dump(data: dict) -> str:
    """results.json's text: readable, one line per mutant (a diff of a re-run shows which mutants changed)."""
    out = ["{"]
    top = [k for k in data if k != "exercises"]
    for k in top:
        out.append(f"  {json.dumps(k)}: {json.dumps(data[k])},")
    out.append('  "exercises": {')
    names = list(data.get("exercises", {}))
    for i, name in enumerate(names):
        r = data["exercises"][name]
        out.append(f"    {json.dumps(name)}: {{")
        fields = [k for k in r if k != "details"]
        for k in fields:
            out.append(f"      {json.dumps(k)}: {json.dumps(r[k])},")
        details = r.get("details", [])
        out.append('      "details": [' + ("" if details else "]"))
        for j, m in enumerate(details):
            out.append("        " + json.dumps(m, ensure_ascii=False) + ("," if j < len(details) - 1 else ""))
        if details:
            out.append("      ]")
        out.append("    }" + ("," if i < len(names) - 1 else ""))
    out.append("  }")
    out.append("}")
    return "\n".join(out) + "\n"


def _version(dist: str) -> str:
    from importlib.metadata import version
    return version(dist)


def table(data: dict) -> str:
    """The README's markdown table of mutation scores."""
    rows = ["| exercise | mutants | killed (timeout) | equivalent | survived | score |", "|---|---|---|---|---|---|"]
    for ex, r in data["exercises"].items():
        if r.get("error"):
            rows.append(f"| `{ex}` | not run: {r['error'][:80]} | | | | |")
            continue
        rows.append(f"| `{ex}` | {r['mutants']} | {r['killed'] + r['timeout']} ({r['timeout']}) | "
                    f"{r['equivalent']} | {r['survived']} | {r['score']:.0%} |")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
