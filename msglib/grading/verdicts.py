"""The grader's side of the independent re-run: build the job, run it sandboxed, read the verdicts.

The verdict that counts for every autograded test cell is the one the re-run
(``rerun``) reports and this module verifies, outside the sandbox. A test with
no verifying verdict line failed.
"""
from __future__ import annotations

import ast
import hashlib
import hmac
import json
import os
import re
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from msglib.authoring import cell_role
from msglib.grading import sandbox
from msglib.grading.core import grading_salt, hidden_key
from msglib.grading.notebooks import exercise_of


@dataclass
class Verdicts:
    """What the re-run of one submission found."""

    passed: dict[str, bool] = field(default_factory=dict)      # grade id -> passed
    messages: dict[str, str] = field(default_factory=dict)     # grade id -> failure in plain words
    evidence: list[str] = field(default_factory=list)          # tampering evidence (exercise: what)
    problems: list[str] = field(default_factory=list)          # stopped exercises, forged lines, crashes
    delegation: list[str] = field(default_factory=list)        # answers that used msglib's own implementation
    seconds: float = 0.0
    sandbox_seconds: float = 0.0


def strip_magics(source: str) -> str:
    return "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in source.splitlines())


def solution_names(source: str) -> list[str]:
    """Top-level names a solution cell defines."""
    try:
        tree = ast.parse(strip_magics(source))
    except SyntaxError:
        return []
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
    return names


def _names_used(source: str) -> set[str]:
    try:
        return {n.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Name)}
    except SyntaxError:
        return set()


def answers(submission_nb, release_nb) -> dict[str, str]:
    """Solution grade id -> the student's answer source: by grade id, else by the release cell's id."""
    by_gid: dict[str, str] = {}
    by_cell_id: dict[str, str] = {}
    for cell in submission_nb.cells:
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and meta.get("grade_id") and meta["grade_id"] not in by_gid:
            by_gid[meta["grade_id"]] = cell.source
        if cell.get("id"):
            by_cell_id.setdefault(cell["id"], cell.source)
    out = {}
    for cell in release_nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("solution"):
            gid = meta["grade_id"]
            if gid in by_gid:
                out[gid] = by_gid[gid]
            elif cell.get("id") in by_cell_id:
                out[gid] = by_cell_id[cell["id"]]
    return out


def build_job(source_nb, release_nb, submission_nb, student: str, *, cell_timeout: float,
              salt: str | None = None) -> dict:
    """The re-run job for one notebook: locked cells, then per exercise its answer and its tests."""
    salt = grading_salt() if salt is None else salt
    given = answers(submission_nb, release_nb)
    locked: list[str] = []
    exercises: dict[str, dict] = {}
    for cell in source_nb.cells:
        if cell.cell_type != "code":
            continue
        kind, ex, _ = cell_role(cell)
        meta = cell.metadata.get("nbgrader", {})
        if kind == "locked":
            locked.append(strip_magics(cell.source))
            continue
        if kind not in ("solution", "test", "hidden") or not ex:
            continue
        entry = exercises.setdefault(ex, {"exercise": ex, "cells": [], "key": None})
        gid = meta.get("grade_id", ex)
        if kind == "solution":
            source = strip_magics(given.get(gid, ""))
            entry["cells"].append({"kind": "solution", "id": gid, "source": source,
                                   "names": solution_names(source)})
        else:
            entry["cells"].append({"kind": kind, "id": gid, "source": strip_magics(cell.source)})
            if kind == "hidden":
                entry["key"] = hidden_key(salt, student, ex)
    # a test that uses another exercise's answer (the capstone's end-to-end run) gets that answer too
    answers_by_name = {name: cell for entry in exercises.values() for cell in entry["cells"]
                       if cell["kind"] == "solution" for name in cell["names"]}
    for entry in exercises.values():
        used = set().union(*[_names_used(c["source"]) for c in entry["cells"] if c["kind"] != "solution"] or [set()])
        own = {name for c in entry["cells"] if c["kind"] == "solution" for name in c["names"]}
        extra = []
        for name in sorted(used - own):
            cell = answers_by_name.get(name)
            if cell is not None and cell not in extra:
                extra.append(cell)
        order = {id(c): i for i, c in enumerate(answers_by_name.values())}
        entry["cells"][:0] = sorted(extra, key=lambda c: order.get(id(c), 0))
    for entry in exercises.values():
        tests = sum(1 for c in entry["cells"] if c["kind"] != "solution")
        entry["timeout"] = cell_timeout * (tests + 1)
    graded = [e for e in exercises.values() if any(c["kind"] != "solution" for c in e["cells"])]
    return {"locked": locked, "exercises": graded}


def exercise_ids(module_number: str) -> set[str]:
    """Every exercise id a module's checks may draw seeds for (their ``EX_`` constants)."""
    import importlib
    import re

    try:
        module = importlib.import_module(f"msglib.grading.ex{module_number}")
    except ImportError:
        return set()
    return {v for k, v in vars(module).items() if k.startswith("EX") and isinstance(v, str)
            and re.match(r"\d\d-", v)}


def hidden_values(job: dict, count: int = 64) -> set[str]:
    """Every hidden seed the job's keys give (for each id the module's checks may use), the keys, and the
    hidden test cells' code lines: what must never appear in feedback."""
    from msglib.grading import core

    out: set[str] = {line.strip() for e in job["exercises"] for c in e["cells"] if c["kind"] == "hidden"
                     for line in c["source"].splitlines()
                     if len(line.strip()) > 12 and not line.strip().startswith("#")}
    for entry in job["exercises"]:
        if entry.get("key"):
            ids = {entry["exercise"]} | exercise_ids(entry["exercise"][:2])
            core.use_hidden_key(entry["key"])
            try:
                for ex in ids:
                    out |= {str(s) for s in core.seeds(ex, count, hidden=True)}
            finally:
                core.use_hidden_key(None)
            out.add(entry["key"])
    return out


_LINE = re.compile(r"(\d+\.\d+ \S+ \S+ \S+ \S+) ([0-9a-f]{64})$")


def parse(stdout: str, secret: bytes, job: dict, *, timed_out: bool = False) -> Verdicts:
    """Read the verdict lines; only lines whose MAC verifies count, the first one per test.

    A line may follow bytes student code wrote to the channel without a newline: the verdict is read
    from the line's end. Every exercise's child ends with an end-of-run record; one that is missing
    (the exercise not stopped by the re-run's timer, nor the whole re-run by the grader's wall clock)
    is evidence: the channel was closed or redirected, or the process was ended from inside.
    """
    found = Verdicts()
    expected = {c["id"] for e in job["exercises"] for c in e["cells"] if c["kind"] in ("test", "hidden")}
    forged = 0
    done = False
    ended: set[str] = set()
    stopped: set[str] = set()
    exits: dict[str, str] = {}
    begun: set[str] = set()
    for line in stdout.splitlines():
        match = _LINE.search(line)
        if match is None:
            forged += bool(line.strip())
            continue
        body, mac = match.group(1), match.group(2)
        if not hmac.compare_digest(hashlib.sha256(secret + body.encode()).hexdigest(), mac):
            forged += 1
            continue
        forged += match.start() > 0   # bytes before a genuine line: written by student code
        _, kind, gid, verdict, text = body.split(" ")
        message = "" if text == "-" else bytes.fromhex(text).decode("utf-8", "replace")
        if kind == "test" and gid in expected and gid not in found.passed:
            found.passed[gid] = verdict == "pass"
            if message:
                found.messages[gid] = message
        elif kind == "flag":
            found.evidence.append(f"{gid}: {message}")
        elif kind == "stopped":
            found.problems.append(f"{gid}: {message}")
            stopped.add(gid)
        elif kind == "exit":
            exits.setdefault(gid, message)
        elif kind == "end":
            ended.add(gid)
        elif kind == "begin":
            begun.add(gid)
        elif kind == "note":
            found.problems.append(message)
        elif kind == "delegation":
            found.delegation.append(message)
        elif kind == "done":
            done = True
    if forged:
        found.evidence.append(f"{forged} line(s) on the re-run's verdict channel did not verify "
                              "(written by student code?)")
    if not done:
        found.problems.append("the re-run did not finish (killed at the wall-clock limit, or crashed)")
    for entry in job["exercises"]:
        ex = entry["exercise"]
        if ex in ended or ex in stopped:
            continue
        if ex not in begun:
            found.problems.append(f"{ex}: not re-run (the re-run stopped before it)")
        elif ex in exits or not timed_out:
            how = exits.get(ex, "its process ended from inside (os._exit) or lost its verdict channel")
            found.evidence.append(f"{ex}: the re-run of this exercise ended without its end-of-run record: {how}")
        else:
            found.problems.append(f"{ex}: not finished when the grader's wall clock stopped the re-run")
    for gid in expected - set(found.passed):
        found.passed[gid] = False
        found.messages.setdefault(gid, "no verdict from the independent re-run (stopped or crashed)")
    return found


def run(job: dict, submission_dir: Path, *, spec: sandbox.Spec | None, timeout: float, workspace: Path) -> Verdicts:
    """Run the job in a sandbox (``spec``) or, with ``spec=None``, unsandboxed (``--no-sandbox``)."""
    secret = secrets.token_bytes(32)
    payload = json.dumps({**job, "secret": secret.hex()})
    argv = [sys.executable, "-I", "-m", "msglib.grading.rerun"]
    start = time.monotonic()
    if spec is not None:
        work = sandbox.private_copy(submission_dir, workspace, uid=spec.uid)
        done = sandbox.run(argv, spec, workdir=work, timeout=timeout, input=payload)
        out, seconds, timed_out = done.stdout, done.seconds, done.timed_out
    else:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "MSGLIB_GRADING_RUN": "1",
               "MPLBACKEND": "Agg", "HOME": str(workspace)}
        proc = subprocess.Popen(argv, cwd=submission_dir, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True, start_new_session=True)
        timed_out = False
        try:
            out, _ = proc.communicate(payload, timeout=timeout)
        except subprocess.TimeoutExpired:
            sandbox.kill(proc)
            out, _ = proc.communicate()
            timed_out = True
        seconds = time.monotonic() - start
    found = parse(out or "", secret, job, timed_out=timed_out)
    found.seconds = seconds
    return found


def rerun_notebook(source_path: Path, release_path: Path, submission_path: Path, student: str, *,
                   cell_timeout: float, spec: sandbox.Spec | None, timeout: float, workspace: Path,
                   salt: str | None = None) -> tuple[Verdicts, set[str]]:
    """Re-run one submitted notebook; returns the verdicts and the hidden values to keep out of feedback."""
    job = build_job(nbformat.read(str(source_path), as_version=4), nbformat.read(str(release_path), as_version=4),
                    nbformat.read(str(submission_path), as_version=4), student, cell_timeout=cell_timeout, salt=salt)
    return run(job, submission_path.parent, spec=spec, timeout=timeout, workspace=workspace), hidden_values(job)
