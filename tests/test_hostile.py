"""The hostile-submission corpus (tests/hostile/) graded in ONE batch through `python -m msglib grade`.

The batch: two honest control students and a blank victim sorted before the
attackers (``aaa_*``), the same after them (``zzz_*``), and one student per
attack (``hNN_*``), in a throwaway course folder. Then:

* no attack scores more than its honest score; a harmless oddity keeps it;
* each tampering attack is flagged, and its flag names the evidence;
* no secret (the salt, hidden seeds, hidden test source, other kernels' keys)
  appears in an attacker's outputs or feedback;
* the controls' and victims' grades are what they earned, unflagged;
* the batch finishes and exports; the course files, the package and the
  virtual environment are unchanged afterwards;
* a copied-and-renamed answer is listed in grades/similarity.csv.

An attack the grader does not stop yet is listed in KNOWN_GAPS with the reason:
its test is an xfail(strict=True), so it turns into a failure the day it is fixed.
"""
from __future__ import annotations

import csv
import fcntl
import hashlib
import importlib
import json
import os
import pkgutil
import re
import secrets
import shutil
import signal
import site
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import nbformat
import pytest

import tests.hostile as corpus
from tests.conftest import ROOT, make_course
from tests.hostile._common import FULL, LEAK, MODULE, NB_NAME, Context, release, scope_file, solved

CELL_TIMEOUT = 8          # seconds per cell in the batch (the loops and bombs hit it)
STUDENT_TIMEOUT = 60      # seconds per submission (each phase)
BATCH_TIMEOUT = 1500      # the whole batch (a hang guard); past this the batch counts as not finished
MARK = "HOSTILE-CORPUS-MARK"

ATTACKS = {name: importlib.import_module(f"tests.hostile.{name}")
           for name in sorted(m.name for m in pkgutil.iter_modules(corpus.__path__) if re.match(r"a\d\d_", m.name))}

# The attacks the issue lists, by corpus file: each must be in the corpus.
REQUIRED = ["a01_salt_env", "a02_read_solutions", "a03_copy_submitted", "a04_delegate_import",
            "a06_builtins_import", "a07_input_transformer", "a08_shadow_msglib", "a09_disable_restore",
            "a10_gc_snapshot_poison", "a11_rewrite_ex00_on_disk", "a12_pth_in_venv", "a13_outlive_kernel",
            "a14_sigkill_grader", "a15_rerun_only_loop", "a16_secrets_to_feedback", "a17_renamed_notebook",
            "a18_stripped_metadata", "a19_retagged_metadata", "a20_huge_print"]

# attack -> why the grader does not stop it yet (see the module docstring). The writes refused in nbgrader's
# kernel, the input transformer, the shadow msglib/, set_custom_exc, the four delegations and a42 (the evidence
# emptied through the refusals' closures: evidence now leaves on the verdict channel the moment it is found)
# were gaps once and are flagged with their evidence now: they are ordinary cases again.
KNOWN_GAPS: dict[str, str] = {}

CONTROL_B = {  # an honest classmate who wrote their own answers (a39 copies and renames them)
    "00-call_chain": '''def call_chain(calls):
    """Call every hop, one after the other; a failure propagates."""
    latency = 0.0
    for i in range(len(calls)):
        took = calls[i]()   # may raise ServiceDown
        latency = latency + took
    return latency
''',
    "00-queue_handler": '''def handle(message, service, forward):
    """Do the work, pass on the result, then ack."""
    try:
        result = service(message)
    except ServiceDown as exc:
        return False
    else:
        forward(result)
        return True
''',
}


def student_of(attack: str) -> str:
    return "h" + attack[1:]


# -- the batch ---------------------------------------------------------------------------------

def _digest(paths: list[Path], base: Path) -> dict[str, str]:
    out = {}
    for top in paths:
        for p in sorted([top] if top.is_file() else top.rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts and ".ipynb_checkpoints" not in p.parts:
                out[str(p.relative_to(base))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _site_dirs() -> list[Path]:
    dirs = {Path(p) for p in site.getsitepackages() + [sysconfig.get_paths()["purelib"]]}
    return sorted(d for d in dirs if d.is_dir())


def _startup_dirs() -> list[Path]:
    return [Path.home() / ".ipython" / "profile_default" / "startup"]


def _traces(token: str, since: float) -> list[str]:
    """Files outside the course an attack left: the venv, IPython's startup, the package (by token or mark)."""
    found = []
    for d in _site_dirs() + _startup_dirs():
        found += [str(p) for p in d.glob(f"*{token}*")] if d.is_dir() else []
    for p in (ROOT / "msglib").rglob("*.py"):
        if p.stat().st_mtime >= since and MARK in p.read_text(errors="replace"):
            found.append(str(p))
    return found


def _undo_traces(paths: list[str]) -> None:
    """Remove what this batch's attacks wrote outside their course (the test caused it, so the test cleans up)."""
    for path in map(Path, paths):
        if path.suffix in (".pth", ".py") and path.parent in _site_dirs() + _startup_dirs():
            path.unlink(missing_ok=True)
        elif path.is_file() and MARK in path.read_text(errors="replace"):
            text = path.read_text()
            path.write_text(text[:text.index(f"\n# {MARK}")])


def _stop_leftovers(course: Path) -> list[int]:
    """Processes this batch left running (cwd inside its course folder): stopped by pid, listed."""
    stopped = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            if os.readlink(f"/proc/{pid}/cwd").startswith(str(course)):
                os.kill(int(pid), signal.SIGKILL)
                stopped.append(int(pid))
        except (OSError, ValueError):
            continue
    return stopped


def _grade_command() -> list[str]:
    cmd = [sys.executable, "-m", "msglib", "grade", MODULE, "--student-timeout", str(STUDENT_TIMEOUT)]
    text = subprocess.run([sys.executable, "-m", "msglib", "grade", "--help"], capture_output=True, text=True,
                          cwd=ROOT).stdout
    if re.search(r"(^|\s)-j\b", text):
        cmd += ["-j", "2"]
    return cmd


def _submit(course: Path, student: str, sub) -> None:
    folder = course / "submitted" / student / MODULE
    folder.mkdir(parents=True, exist_ok=True)
    if sub.nb is not None:
        nbformat.write(sub.nb, str(folder / sub.name))
    for rel, data in sub.files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    for rel, target in sub.symlinks.items():
        (folder / rel).symlink_to(target)


def run_batch(folder: Path) -> dict:
    """Build the course and its submissions, grade them in one `msglib grade` run, collect everything."""
    course = make_course(folder, [MODULE])
    token, salt = secrets.token_hex(8), "salt-" + secrets.token_hex(12)
    control = "aaa_control"
    from msglib.grading import pipeline
    assert pipeline.release(root=course) == 0
    b = release()
    for gid, src in CONTROL_B.items():
        next(c for c in b.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid).source = src
    from tests.hostile._common import Submission
    _submit(course, "aaa_control", Submission(solved()))
    _submit(course, "aaa_victim", Submission(release()))
    _submit(course, "zzz_control", Submission(b))
    _submit(course, "zzz_victim", Submission(release()))
    for name, attack in ATTACKS.items():
        ctx = Context(course, token, salt, control, student_of(name))
        _submit(course, student_of(name), attack.build(ctx))
    for folder in (course / "submitted").glob(f"*/{MODULE}"):
        (folder / scope_file(token)).write_text("this batch's payloads act only where this file is\n")
    instructor = [course / "nbgrader_config.py", course / "solutions", course / "notebooks"] + \
                 [course / "submitted" / s for s in ("aaa_control", "aaa_victim", "zzz_control", "zzz_victim")]
    before = _digest(instructor, course)
    env = dict(os.environ, MSGLIB_GRADING_SALT=salt, MSGLIB_CELL_TIMEOUT=str(CELL_TIMEOUT),
               MSGLIB_HOSTILE_SCOPE=token, PYTHONWARNINGS="ignore")
    cmd = _grade_command()
    start = time.time()
    proc = subprocess.Popen(cmd, cwd=course, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=BATCH_TIMEOUT)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        rc = "timeout"
    elapsed = time.time() - start
    for _ in range(20):   # a process that outlived its kernel acts once the grader has gone
        if (course / ".hostile_daemon_done").exists():
            break
        time.sleep(1)
    leftovers = _stop_leftovers(course)
    traces = _traces(token, start)
    _undo_traces(traces)
    after = _digest(instructor, course)
    subprocess.run([sys.executable, "-m", "msglib.grading.similarity", MODULE], cwd=course, env=env,
                   capture_output=True, timeout=300)
    return {"rc": rc, "elapsed": elapsed, "output": out[-20000:], "cmd": cmd, "salt": salt, "token": token,
            "changed": sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k)),
            "traces": traces, "leftovers": leftovers}


def _shared_dir(tmp_path_factory) -> Path:
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def batch(tmp_path_factory):
    """The graded batch, once per test run whichever worker asks first (a lock in the shared temp folder)."""
    shared = _shared_dir(tmp_path_factory)
    folder = shared / "hostile-batch"
    with open(shared / "hostile-batch.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "done.json").exists():
            folder.mkdir(exist_ok=True)
            info = run_batch(folder)
            (folder / "done.json").write_text(json.dumps(info))
    info = json.loads((folder / "done.json").read_text())
    return Results(folder / "course", info)


class Results:
    """What the batch left: grades, flags, outputs and feedback per student."""

    def __init__(self, course: Path, info: dict) -> None:
        self.course, self.info = course, info
        grades = course / "grades"
        path = grades / "grades_by_exercise.csv"
        self.rows = {r["student_id"]: r for r in csv.DictReader(path.open())} if path.exists() else {}
        report = grades / "report.json"
        data = json.loads(report.read_text()) if report.exists() else []
        if isinstance(data, dict):
            data = data.get("submissions") or data.get("results") or []
        self.report = {r.get("student"): r for r in data if isinstance(r, dict)}
        sim = grades / "similarity.csv"
        self.similarity = list(csv.DictReader(sim.open())) if sim.exists() else []

    def score(self, student: str) -> float | None:
        row = self.rows.get(student)
        if row is None:
            return None
        return sum(float(row.get(ex) or 0) for ex in ("00-call_chain", "00-queue_handler"))

    def flags(self, student: str) -> str:
        row, rep = self.rows.get(student, {}), self.report.get(student, {})
        parts = [row.get(k, "") for k in ("flags", "detail", "evidence", "delegation", "held_for_review", "zeroed")]
        parts.append(rep.get("detail", ""))
        for key in ("flags", "evidence", "delegation", "held_for_review", "zeroed", "notes"):
            value = rep.get(key)
            parts += [json.dumps(value)] if value else []
        return " | ".join(p for p in parts if p)

    def status(self, student: str) -> str:
        return (self.rows.get(student) or {}).get("status") or self.report.get(student, {}).get("status", "")

    def outputs(self, student: str) -> str:
        """What the student gets back: their feedback pages."""
        texts = []
        for top in (self.course / "feedback" / student,):
            for p in sorted(top.rglob("*")) if top.is_dir() else []:
                if p.is_file() and p.suffix in (".ipynb", ".html", ".txt", ".json"):
                    texts.append(p.read_text(errors="replace"))
        return "\n".join(texts)


# -- the corpus itself (fast) ---------------------------------------------------------------------

def test_the_corpus_has_every_listed_attack_and_at_least_eight_more():
    assert len(ATTACKS) >= 30 + 8 - len(set(REQUIRED) - set(ATTACKS)), sorted(ATTACKS)
    assert not set(REQUIRED) - set(ATTACKS), f"missing from tests/hostile/: {set(REQUIRED) - set(ATTACKS)}"
    assert len(set(ATTACKS) - set(REQUIRED)) >= 8


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_each_attack_builds_a_submission_from_the_release(name, tmp_path):
    attack = ATTACKS[name]
    assert attack.KIND in ("steal", "cheat", "tamper", "cross", "batch", "oddity", "copy"), attack.KIND
    assert 0 <= attack.HONEST <= FULL and attack.WHAT and attack.__doc__
    sub = attack.build(Context(tmp_path, "token", "salt", "aaa_control", student_of(name)))
    assert sub.nb is not None or sub.symlinks or sub.raw
    if sub.nb is not None:
        nbformat.validate(sub.nb)
        assert nbformat.writes(sub.nb) != nbformat.writes(release()), "the attack changes nothing"


# -- the graded batch (slow) -----------------------------------------------------------------------

def _known_gap(name: str):
    return pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=KNOWN_GAPS[name])) \
        if name in KNOWN_GAPS else name


@pytest.mark.slow
def test_the_batch_finishes_and_exports(batch):
    info = batch.info
    print(f"batch of {len(ATTACKS) + 4} submissions: {info['elapsed']:.0f} s wall ({' '.join(info['cmd'][2:])})")
    assert info["rc"] != "timeout", f"the batch did not finish in {BATCH_TIMEOUT} s:\n{info['output'][-3000:]}"
    assert (batch.course / "grades" / "grades.csv").exists(), info["output"][-3000:]
    expected = {"aaa_control", "aaa_victim", "zzz_control", "zzz_victim"} | {student_of(n) for n in ATTACKS}
    missing = expected - set(batch.rows)
    assert not missing, f"not in grades_by_exercise.csv: {sorted(missing)}\n{info['output'][-3000:]}"


@pytest.mark.slow
@pytest.mark.late
def test_controls_and_victims_get_exactly_what_they_earned(batch):
    for student, want in (("aaa_control", FULL), ("zzz_control", FULL), ("aaa_victim", 0.0), ("zzz_victim", 0.0)):
        assert batch.score(student) == want, f"{student}: {batch.score(student)} instead of {want}"
        assert not batch.rows[student].get("flags"), f"{student} flagged: {batch.rows[student]['flags']}"
    honest_pair = [r for r in batch.similarity if {r["a"], r["b"]} == {"aaa_control", "zzz_control"}
                   and r["suspicious"] == "True"]
    assert not honest_pair, f"two independent honest answers listed as suspicious: {honest_pair}"


@pytest.mark.slow
@pytest.mark.late
def test_course_files_package_and_venv_unchanged(batch):
    assert batch.info["changed"] == [], f"course files changed by the batch: {batch.info['changed']}"
    assert batch.info["traces"] == [], f"attacks wrote outside their submission (undone now): {batch.info['traces']}"


@pytest.mark.slow
@pytest.mark.late
def test_no_process_outlives_the_batch(batch):
    assert batch.info["leftovers"] == [], f"processes of the batch still running afterwards: {batch.info['leftovers']}"


@pytest.mark.slow
@pytest.mark.late
@pytest.mark.parametrize("name", [_known_gap(n) for n in sorted(ATTACKS)])
def test_attack(batch, name):
    attack, student = ATTACKS[name], student_of(name)
    score, flags = batch.score(student), batch.flags(student)
    where = f"{name} ({attack.WHAT}): score {score}, status {batch.status(student)!r}, flags {flags!r}"
    assert score is not None, f"{where}: not in the exported grades"
    assert score <= attack.HONEST, f"{where}: scores more than its honest {attack.HONEST}"
    if attack.KIND == "oddity":
        assert score == attack.HONEST, f"{where}: a harmless oddity lost points"
    if attack.FLAG:
        assert flags, f"{where}: not flagged"
        evidence = getattr(attack, "EVIDENCE", None)
        if evidence:
            assert re.search(evidence, flags, re.I), f"{where}: the flag does not name the evidence /{evidence}/"
    outputs = batch.outputs(student)
    assert batch.info["salt"] not in outputs, f"{where}: the grading salt reached the student's outputs"
    leaks = [ln for ln in re.findall(rf"{LEAK}:[^\s\"\\<]*:[^\s\"\\<]+", outputs)
             if not ln.endswith((":None", ":"))]
    assert not leaks, f"{where}: secrets in the student's outputs: {leaks[:5]}"
    if attack.KIND == "copy":
        pairs = {frozenset((r.get("a", ""), r.get("b", ""))) for r in batch.similarity}
        assert any(student in " ".join(p) and "zzz_control" in " ".join(p) for p in pairs), \
            f"{where}: the copied answers are not in grades/similarity.csv"
