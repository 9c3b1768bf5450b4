"""The grading sandbox (bubblewrap) and the independent re-run, on small synthetic jobs (seconds each)."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import nbformat
import pytest

from msglib.grading import core, sandbox, verdicts
from tests.conftest import ROOT

needs_bwrap = pytest.mark.skipif(not sandbox.check()[0], reason="bubblewrap cannot start a sandbox here: "
                                 + sandbox.check()[1])


def _probe(tmp_path: Path, code: str, *, spec: sandbox.Spec | None = None, timeout: float = 60,
           files: dict[str, str] | None = None) -> sandbox.Completed:
    """Run a Python snippet in a sandbox whose private copy holds ``files``."""
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    for name, text in (files or {}).items():
        (src / name).write_text(text)
    work = sandbox.private_copy(src, tmp_path / f"box{time.monotonic_ns()}")
    return sandbox.run([os.sys.executable, "-I", "-c", code],
                       spec or sandbox.default_spec(ROOT), workdir=work, timeout=timeout)


@needs_bwrap
def test_the_sandbox_sees_the_package_and_its_copy_and_nothing_else_of_the_course(tmp_path, monkeypatch):
    monkeypatch.setenv("MSGLIB_GRADING_SALT", "instructor-secret")
    code = ("import os, json, msglib\n"
            f"root = {str(ROOT)!r}\n"
            "print(json.dumps({'cwd': os.getcwd(), 'files': sorted(os.listdir('.')),\n"
            "  'root': sorted(os.listdir(root)), 'msglib': msglib.__file__,\n"
            "  'salt': [k for k, v in os.environ.items() if 'instructor-secret' in v or 'SALT' in k],\n"
            "  'home': os.listdir(os.environ['HOME']),\n"
            "  'procs': sorted(p for p in os.listdir('/proc') if p.isdigit())}))")
    done = _probe(tmp_path, code, files={"answer.ipynb": "{}"})
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["cwd"] == sandbox.WORKDIR and seen["files"] == ["answer.ipynb"]
    assert set(seen["root"]) <= {"msglib", ".venv", "notebooks"}, seen["root"]  # no solutions/, .git, gradebook
    assert seen["msglib"].startswith(str(ROOT / "msglib"))
    assert seen["salt"] == [] and seen["home"] == []
    assert len(seen["procs"]) <= 3  # its own PID namespace: bwrap's init, the program (and prlimit's exec)


@needs_bwrap
def test_the_sandbox_is_read_only_offline_and_cannot_signal_the_grader(tmp_path):
    code = ("import os, socket\n"
            "out = []\n"
            f"for path in [{str(ROOT / 'msglib' / 'grading' / 'ex00.py')!r}, {os.sys.prefix + '/x.pth'!r}]:\n"
            "    try:\n        open(path, 'a').write('#')\n        out.append('wrote ' + path)\n"
            "    except OSError:\n        out.append('refused')\n"
            "try:\n    socket.create_connection(('1.1.1.1', 80), timeout=2)\n    out.append('online')\n"
            "except OSError:\n    out.append('offline')\n"
            f"try:\n    os.kill({os.getpid()}, 0)\n    out.append('sees grader')\n"
            "except ProcessLookupError:\n    out.append('no grader')\n"
            "open('mine.txt', 'w').write('ok')\nout.append(open('mine.txt').read())\nprint(out)")
    done = _probe(tmp_path, code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(["refused", "refused", "offline", "no grader", "ok"]), done.stdout
    assert not (tmp_path / "src" / "mine.txt").exists()      # the copy was private


@needs_bwrap
def test_memory_and_process_caps_hold(tmp_path):
    spec = sandbox.default_spec(ROOT, sandbox.Limits(memory_bytes=512 << 20, processes=16))
    memory = _probe(tmp_path, "try:\n    b = bytearray(1 << 30)\n    print('allocated')\n"
                              "except MemoryError:\n    print('capped')", spec=spec)
    assert memory.stdout.strip() == "capped", memory.stdout + memory.stderr
    forks = _probe(tmp_path, "import os, time\nn = 0\ntry:\n    for _ in range(64):\n"
                             "        if os.fork() == 0:\n            time.sleep(3)\n            os._exit(0)\n"
                             "        n += 1\nexcept OSError:\n    pass\nprint(n)", spec=spec)
    assert int(forks.stdout.strip()) < 16, forks.stdout + forks.stderr


@needs_bwrap
def test_the_wall_clock_kills_the_whole_sandbox_from_outside(tmp_path):
    code = "import os, time\nif os.fork() == 0:\n    time.sleep(600)\ntime.sleep(600)"
    start = time.monotonic()
    done = _probe(tmp_path, code, timeout=2)
    assert done.timed_out and time.monotonic() - start < 30


@needs_bwrap
def test_the_cpu_limit_stops_a_busy_loop(tmp_path):
    spec = sandbox.default_spec(ROOT, sandbox.Limits(cpu_seconds=1))
    done = _probe(tmp_path, "while True:\n    pass\n", spec=spec, timeout=120)
    assert not done.timed_out and done.returncode != 0, (done.returncode, done.stderr[-500:])


def test_setup_and_ci_install_the_sandbox_tool_where_apt_is():
    """`make sysdeps` (run by `make setup`'s callers and by .ci/run) installs bubblewrap as root with apt."""
    import re

    makefile = (ROOT / "Makefile").read_text()
    packages = re.search(r"^SYSDEPS \?= (.*)$", makefile, flags=re.M)
    assert packages and "bubblewrap" in packages.group(1).split()
    assert "apt-get" in makefile.split("sysdeps:", 1)[1].split("\n\n", 1)[0]
    assert re.search(r"^make sysdeps", (ROOT / ".ci" / "run").read_text(), flags=re.M)


@needs_bwrap
def test_sandbox_start_up_is_measured(tmp_path):
    ok, message = sandbox.check()
    assert ok and "ms" in message


def test_without_bwrap_the_command_names_the_install(monkeypatch):
    monkeypatch.setattr(sandbox, "bwrap", lambda: None)
    with pytest.raises(sandbox.SandboxUnavailable, match="apt-get install bubblewrap"):
        sandbox.command(["true"], sandbox.Spec())
    ok, message = sandbox.check()
    assert not ok and "apt-get install bubblewrap" in message


# -- the independent re-run on synthetic jobs ------------------------------------------------

def _job(answer: str, tests: list[str], hidden: list[str] = (), locked: list[str] = ()) -> dict:
    cells = [{"kind": "solution", "id": "99-f", "source": answer, "names": verdicts.solution_names(answer)}]
    cells += [{"kind": "test", "id": f"99-f-test{i}", "source": t} for i, t in enumerate(tests)]
    cells += [{"kind": "hidden", "id": f"99-f-hidden{i}", "source": t} for i, t in enumerate(hidden)]
    return {"locked": list(locked), "exercises": [{"exercise": "99-f", "cells": cells, "timeout": 20,
                                                   "key": core.hidden_key("salt", "s", "99-f")}]}


def _rerun(tmp_path: Path, job: dict, sandboxed: bool = True) -> verdicts.Verdicts:
    (tmp_path / "sub").mkdir(exist_ok=True)
    spec = sandbox.default_spec(ROOT) if sandboxed else None
    if sandboxed and not sandbox.check()[0]:
        pytest.skip("bubblewrap cannot start a sandbox here: " + sandbox.check()[1])
    ws = tmp_path / f"ws{time.monotonic_ns()}"
    ws.mkdir()
    return verdicts.run(job, tmp_path / "sub", spec=spec, timeout=60, workspace=ws)


@pytest.mark.parametrize("sandboxed", [True, False], ids=["sandbox", "no-sandbox"])
def test_rerun_passes_a_correct_answer_and_fails_a_wrong_one(tmp_path, sandboxed):
    good = _rerun(tmp_path, _job("def f():\n    return 1\n", ["assert f() == 1"]), sandboxed)
    assert good.passed == {"99-f-test0": True} and good.evidence == []
    assert [p for p in good.problems if "delegation registry" not in p] == []
    bad = _rerun(tmp_path, _job("def f():\n    return 2\n", ["assert f() == 1"]), sandboxed)
    assert bad.passed == {"99-f-test0": False} and bad.messages["99-f-test0"] == "AssertionError"


def test_hidden_seeds_come_from_the_key_not_the_salt(tmp_path, monkeypatch):
    monkeypatch.setenv("MSGLIB_GRADING_SALT", "instructor-secret")
    expected = core.seeds  # the grader's own computation of the same seeds, with the same key
    core.use_hidden_key(core.hidden_key("salt", "s", "99-f"))
    try:
        wanted = expected("99-f", 3, hidden=True)
    finally:
        core.use_hidden_key(None)
    test = f"from msglib.grading.core import seeds\nassert seeds('99-f', 3, hidden=True) == {wanted!r}"
    leak = "import os\nassert 'instructor-secret' not in str(os.environ)"
    found = _rerun(tmp_path, _job("x = 1\n", [leak], hidden=[test]))
    assert found.passed == {"99-f-test0": True, "99-f-hidden0": True}, found.messages
    # a visible test gets no key: inside the sandbox there are no hidden cases without one
    found = _rerun(tmp_path, _job("x = 1\n", [test.replace("== ", "!= ")]))
    assert found.passed == {"99-f-test0": False}
    assert "hands them their cases" in found.messages["99-f-test0"]


TAMPER = {
    "gc walk": ("import gc\ntry:\n    gc.get_referrers(print)\nexcept Exception:\n    pass\n", "gc.get_referrers"),
    "ctypes": ("try:\n    import ctypes\nexcept Exception:\n    pass\n", "ctypes"),
    "settrace": ("import sys\ntry:\n    sys.settrace(lambda *a: None)\nexcept Exception:\n    pass\n", "sys.settrace"),
    "frames": ("try:\n    raise ValueError\nexcept ValueError as e:\n    try:\n        e.__traceback__.tb_frame\n"
               "    except Exception:\n        pass\n", ".tb_frame"),
    "builtins": ("import builtins\nbuiltins.len = lambda x: 1\n", "builtins changed (len)"),
    "a trusted function's frame": ("import logging\ntry:\n    f = logging.currentframe()\n"
                                    "    while f is not None:\n        f = getattr(f, 'f_' + 'back')\n"
                                    "except Exception:\n    pass\n", "sys._getframe"),
    "import hook": ("import sys\nclass F:\n    def find_spec(self, *a):\n        return None\n"
                    "sys.meta_path.insert(0, F())\n", "sys.meta_path"),
    "write outside": (f"try:\n    open({str(ROOT / 'msglib' / 'x.py')!r}, 'w')\nexcept Exception:\n    pass\n",
                      "write to"),
    "thread": ("import threading\ntry:\n    threading.Thread(target=print).start()\nexcept Exception:\n    pass\n",
               "starts a thread"),
    "signal handler": ("import signal\ntry:\n    signal.signal(signal.SIGALRM, print)\nexcept Exception:\n    pass\n",
                       "signal handler"),
    "forged verdicts": ("import os\nfor fd in range(0, 12):\n    try:\n"
                        "        os.write(fd, b'1.1 test 99-f-test0 pass - ' + b'0' * 64 + b'\\n')\n"
                        "    except OSError:\n        pass\n", "did not verify"),
    # evidence leaves the moment it is found: a channel pointed at /dev/null around a denied call, an exit
    # right after one, a signal to the re-run's parent all leave their mark
    "redirected channel": ("import os, sys\nnull = os.open(os.devnull, os.O_WRONLY)\nsaved = {}\n"
                           "for fd in range(0, 64):\n    if fd == null or fd in saved.values():\n        continue\n"
                           "    try:\n        saved[fd] = os.dup(fd)\n        os.dup2(null, fd)\n"
                           "    except OSError:\n        saved.pop(fd, None)\n"
                           "try:\n    sys._getframe(1)\nexcept BaseException:\n    pass\n"
                           "for fd, c in saved.items():\n    os.dup2(c, fd)\n", "closed or redirected"),
    "exit after a denied call": ("import gc, os\ntry:\n    gc.get_referrers(print)\nexcept Exception:\n    pass\n"
                                 "os._exit(0)\n", "gc.get_referrers"),
    "exit from inside": ("import os\nos._exit(0)\n", "end-of-run record"),
    "signal to the parent": ("import os, signal\ntry:\n    os.kill(os.getppid(), signal.SIGKILL)\n"
                             "except Exception:\n    pass\n", "sends a signal (os.kill)"),
}


@pytest.mark.parametrize("name", sorted(TAMPER))
def test_tampering_in_the_rerun_is_denied_or_undone_and_named(tmp_path, name):
    code, evidence = TAMPER[name]
    answer = "def f():\n    return 2\n" + code
    found = _rerun(tmp_path, _job(answer, ["assert f() == 1 and len([1, 2]) == 2"]))
    assert found.passed == {"99-f-test0": False}, (found.passed, found.messages)
    if evidence:
        assert any(evidence in e for e in found.evidence), found.evidence


def test_ordinary_code_is_not_flagged(tmp_path):
    answer = ("import collections, enum, warnings\nfrom typing import NamedTuple\nfrom dataclasses import dataclass\n"
              "class P(NamedTuple):\n    a: int\nQ = collections.namedtuple('Q', 'a b')\n"
              "class E(enum.Enum):\n    A = 1\n@dataclass\nclass D:\n    x: int = 1\n"
              "open('scratch.txt', 'w').write('fine')\nwarnings.warn('deprecated')\n"
              "import logging\nlogging.getLogger('answer').warning('noted')\n"
              "def f():\n    return D().x\n")
    found = _rerun(tmp_path, _job(answer, ["assert f() == 1"]))
    assert found.passed == {"99-f-test0": True}, found.messages
    assert found.evidence == []


def test_an_endless_loop_costs_its_exercise_and_the_rerun_reports_it(tmp_path):
    job = _job("def f():\n    while True:\n        pass\n", ["f()"])
    job["exercises"][0]["timeout"] = 2
    found = _rerun(tmp_path, job)
    assert found.passed == {"99-f-test0": False}
    assert any("stopped after" in p for p in found.problems)


def test_answers_are_matched_by_cell_id_when_the_metadata_is_stripped():
    release = nbformat.read(str(ROOT / "notebooks" / "00_why_messaging" / "00_why_messaging.ipynb"), as_version=4)
    stripped = nbformat.read(str(ROOT / "notebooks" / "00_why_messaging" / "00_why_messaging.ipynb"), as_version=4)
    for cell in stripped.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "00-call_chain":
            cell.source = "def call_chain(calls):\n    return 42\n"
        cell.metadata.pop("nbgrader", None)
    assert verdicts.answers(stripped, release)["00-call_chain"].endswith("return 42\n")


def test_doctor_checks_the_sandbox_and_names_the_install(monkeypatch):
    from msglib import doctor

    finding = doctor.check_sandbox()
    assert finding.ok == sandbox.check()[0]
    monkeypatch.setattr(sandbox, "bwrap", lambda: None)
    finding = doctor.check_sandbox()
    assert not finding.ok and "apt-get install bubblewrap" in finding.fix


def test_grade_refuses_without_the_sandbox_and_names_the_install(monkeypatch, tmp_path, capsys):
    from msglib.grading import pipeline
    from tests.conftest import make_course

    course = make_course(tmp_path, ["00_why_messaging"])
    (course / "submitted" / "s" / "00_why_messaging").mkdir(parents=True)
    monkeypatch.setattr(pipeline, "sandbox_check", lambda: (False, "bubblewrap (bwrap) is not installed; "
                                                             "install it: apt-get install bubblewrap"))
    assert pipeline.grade(root=course, release_first=False) == 2
    err = capsys.readouterr().err
    assert "apt-get install bubblewrap" in err and "--no-sandbox" in err


def test_a_private_copy_has_no_links_and_no_hidden_test_blocks(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    nb = nbformat.read(str(ROOT / "solutions" / "00_why_messaging" / "00_why_messaging.ipynb"), as_version=4)
    nbformat.write(nb, str(src / "answer.ipynb"))
    (src / "peek").symlink_to(ROOT / "solutions")
    work = sandbox.private_copy(src, tmp_path / "box")
    assert sorted(p.name for p in work.iterdir()) == ["answer.ipynb"]
    text = (work / "answer.ipynb").read_text()
    assert "hidden_call_chain" not in text and "BEGIN HIDDEN TESTS" not in text
    assert "check_call_chain" in text          # visible tests stay


@needs_bwrap
def test_a_cgroup_caps_the_sandboxs_memory_in_sum_where_one_can_be_made(tmp_path):
    if sandbox.new_cgroup(sandbox.Limits()) is None:
        pytest.skip("no cgroup can be created here (not root, or no writable memory+pids controllers): "
                    "each process is still capped by RLIMIT_AS")
    spec = sandbox.default_spec(ROOT, sandbox.Limits(memory_bytes=512 << 20, processes=16))
    code = ("import os, time\npids = []\nfor i in range(4):\n    pid = os.fork()\n    if pid == 0:\n"
            "        b = bytearray(200 << 20)\n        for j in range(0, len(b), 4096):\n            b[j] = 1\n"
            "        time.sleep(2)\n        os._exit(0)\n    pids.append(pid)\n"
            "print(sum(os.WIFSIGNALED(os.waitpid(p, 0)[1]) for p in pids))")
    done = _probe(tmp_path, code, spec=spec)
    assert int(done.stdout.strip()) >= 1, done.stdout + done.stderr   # 800 MB in sum: some are killed


def test_the_evidence_cannot_be_reached_through_the_refusals(tmp_path):
    erase = ("import signal, sys\n"
             "def _erase(fn, seen=()):\n"
             "    for cell in getattr(fn, '__closure__', None) or ():\n"
             "        value = cell.cell_contents\n"
             "        if isinstance(value, list):\n            value.clear()\n"
             "        elif callable(value) and value not in seen:\n            _erase(value, seen + (fn,))\n"
             "    for value in getattr(fn, '__defaults__', None) or ():\n"
             "        if isinstance(value, list):\n            value.clear()\n"
             "try:\n    sys._getframe(1)\nexcept BaseException:\n    pass\n"
             "_erase(signal.signal)\n")
    found = _rerun(tmp_path, _job("def f():\n    return 2\n" + erase, ["assert f() == 1"]))
    assert any("sys._getframe" in e for e in found.evidence), found.evidence


def test_bytes_written_before_a_verdict_line_neither_hide_it_nor_go_unnoticed(tmp_path):
    """Student code writes a partial line (no newline) on every descriptor: the grader's next line still
    verifies (read from the line's end), and the stray bytes are evidence."""
    garbage = ("import os\nfor fd in range(0, 12):\n    try:\n        os.write(fd, b'no newline here ')\n"
               "    except OSError:\n        pass\n")
    found = _rerun(tmp_path, _job("def f():\n    return 1\n" + garbage, ["assert f() == 1"]))
    assert found.passed == {"99-f-test0": True}, found.messages
    assert any("did not verify" in e for e in found.evidence), found.evidence


def test_an_exercise_without_its_end_of_run_record_is_evidence_unless_the_grader_stopped_it():
    """The grader's side (verdicts.parse) on hand-made channel contents: begun and not ended is evidence;
    stopped by the re-run's timer or never begun is a problem, not evidence."""
    import hashlib

    secret = b"k" * 32
    job = _job("x = 1\n", ["assert x == 1"])

    def line(seq: int, kind: str, gid: str, verdict: str = "ok", text: str = "-") -> str:
        body = f"7.{seq} {kind} {gid} {verdict} {text}"
        return body + " " + hashlib.sha256(secret + body.encode()).hexdigest()

    complete = [line(1, "begin", "99-f"), line(2, "test", "99-f-test0", "pass"), line(3, "end", "99-f"),
                line(4, "done", "-")]
    found = verdicts.parse("\n".join(complete), secret, job)
    assert found.passed == {"99-f-test0": True} and found.evidence == []
    cut = verdicts.parse("\n".join(complete[:2] + complete[3:]), secret, job)
    assert any("without its end-of-run record" in e for e in cut.evidence), cut.evidence
    timed = verdicts.parse("\n".join(complete[:2]), secret, job, timed_out=True)
    assert timed.evidence == [] and any("wall clock" in p for p in timed.problems)
    never = verdicts.parse(line(1, "done", "-"), secret, job)
    assert never.evidence == [] and any("not re-run" in p for p in never.problems)


# -- the path an instructor without root takes: bwrap in an unprivileged user namespace ---------------

UNPRIVILEGED = "nobody"


def _unprivileged_prefix() -> list[str]:
    """How this test runs a command as an unprivileged user: as itself when it is not root, else as nobody."""
    if os.geteuid() != 0:
        return []
    return ["/usr/bin/setpriv", f"--reuid={UNPRIVILEGED}", "--regid=nogroup", "--clear-groups", "--"]


def _why_no_unprivileged_sandbox(home: Path) -> str | None:
    """None when an unprivileged user can start bwrap's user-namespace sandbox here; else the reason."""
    import subprocess

    knobs = {"/proc/sys/kernel/unprivileged_userns_clone": "kernel.unprivileged_userns_clone",
             "/proc/sys/user/max_user_namespaces": "user.max_user_namespaces"}
    for path, name in knobs.items():
        try:
            if Path(path).read_text().strip() == "0":
                return f"unprivileged user namespaces are disabled here ({name} = 0)"
        except OSError:
            continue   # the knob does not exist on this kernel: namespaces are not restricted by it
    if sandbox.bwrap() is None:
        return f"bubblewrap is not installed ({sandbox.INSTALL})"
    if os.geteuid() == 0 and not Path("/usr/bin/setpriv").exists():
        return "setpriv (util-linux) is missing: cannot switch to an unprivileged user"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home)}
    probe = subprocess.run(_unprivileged_prefix() + [sandbox.bwrap(), "--unshare-user", "--unshare-pid",
                                                     "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                                                     "/bin/true"],
                           capture_output=True, text=True, timeout=30, env=env, cwd=str(home))
    if probe.returncode != 0:
        return f"bwrap cannot create a user namespace as {UNPRIVILEGED}: {probe.stderr.strip()[-200:]}"
    return None


def _runs_as_unprivileged(python: str, home: Path) -> bool:
    """Can the unprivileged user start ``python`` and import the grader? Through a shell, so the path is
    resolved with that user's rights (setpriv resolves its own argument before it drops root's)."""
    import subprocess

    done = subprocess.run(_unprivileged_prefix() + ["/bin/sh", "-c", 'exec "$0" -c "import msglib, nbgrader"',
                                                    python],
                          capture_output=True, text=True, timeout=120, cwd=str(home),
                          env={"PATH": "/usr/bin:/bin", "HOME": str(home)})
    return done.returncode == 0


def _readable_interpreter(top: Path) -> str:
    """This interpreter as a user other than its owner can run it: itself when it can, else a copy under
    ``top`` (the base installation hard-linked file by file, its own site-packages and tests left out, and
    a venv beside it that uses this venv's site-packages and console scripts). The venv of a root
    installation often sits behind /root, which no other user may enter."""
    import sysconfig

    home = top / "home"
    if _runs_as_unprivileged(os.sys.executable, home):
        return os.sys.executable
    base, venv = top / "python", top / "venv"
    for folder, dirs, files in os.walk(os.sys.base_prefix):
        dirs[:] = [d for d in dirs if d not in ("site-packages", "test", "__pycache__")]
        target = base / os.path.relpath(folder, os.sys.base_prefix)
        target.mkdir(parents=True, exist_ok=True)
        for name in files:
            src = os.path.join(folder, name)
            if os.path.islink(src):
                (target / name).symlink_to(os.readlink(src))
                continue
            try:
                os.link(src, target / name)
            except OSError:
                import shutil

                shutil.copy2(src, target / name)
    version = f"python{os.sys.version_info.major}.{os.sys.version_info.minor}"
    (venv / "bin").mkdir(parents=True)
    (venv / "lib" / version).mkdir(parents=True)
    (venv / "lib" / version / "site-packages").symlink_to(sysconfig.get_paths()["purelib"])
    (venv / "pyvenv.cfg").write_text(f"home = {base / 'bin'}\ninclude-system-site-packages = false\n"
                                     f"version = {'.'.join(map(str, os.sys.version_info[:3]))}\n")
    # the interpreter finds libpython through a run path into the original installation: a wrapper points
    # the loader at the copy, and keeps the name it was started by (so the venv beside it is found)
    binary = base / "bin" / os.path.basename(os.path.realpath(os.sys.executable))
    binary.rename(binary.with_name(binary.name + ".real"))
    binary.write_text(f'#!/bin/bash\nLD_LIBRARY_PATH={base / "lib"} exec -a "$0" {binary}.real "$@"\n')
    binary.chmod(0o755)
    python = venv / "bin" / "python"
    python.symlink_to(binary)
    here = Path(os.sys.executable).parent
    for script in here.iterdir():
        if script.is_file() and not script.is_symlink() and os.access(script, os.X_OK):
            head = script.read_bytes()[:200]
            if head.startswith(b"#!") and str(here).encode() in head.split(b"\n")[0]:
                text = script.read_text()
                first, rest = text.split("\n", 1)
                (venv / "bin" / script.name).write_text(f"#!{python}\n{rest}")
                (venv / "bin" / script.name).chmod(0o755)
    return str(python)


@pytest.mark.slow
def test_an_instructor_without_root_grades_in_an_unprivileged_user_namespace():
    """`msglib grade` run as an unprivileged user (nobody, when the tests run as root) on a copy of the course
    that user owns: bwrap takes its --unshare-user path, the solved submission earns full marks, the blank one
    nothing, the report says the sandbox was used, and nothing of the sandbox needed root."""
    import csv
    import shutil
    import subprocess
    import tempfile

    from tests.conftest import make_course
    from tests.hostile._common import FULL, MODULE, NB_NAME, release, solved

    top = Path(tempfile.mkdtemp(prefix="msglib-unpriv-", dir="/tmp"))
    try:
        os.chmod(top, 0o755)
        home = top / "home"
        home.mkdir()
        course = make_course(top, [MODULE])
        for student, nb in (("solved", solved()), ("blank", release())):
            folder = course / "submitted" / student / MODULE
            folder.mkdir(parents=True)
            nbformat.write(nb, str(folder / NB_NAME))
        if os.geteuid() == 0:
            import pwd

            uid, gid = pwd.getpwnam(UNPRIVILEGED).pw_uid, pwd.getpwnam(UNPRIVILEGED).pw_gid
            for folder, dirs, files in os.walk(top):
                os.chown(folder, uid, gid)
                for name in files:
                    os.chown(os.path.join(folder, name), uid, gid)
        reason = _why_no_unprivileged_sandbox(home)
        if reason:
            pytest.skip(reason)
        python = _readable_interpreter(top)
        if not _runs_as_unprivileged(python, home):
            pytest.skip(f"the interpreter and the venv cannot be made readable by {UNPRIVILEGED} here")
        env = {"PATH": os.path.dirname(python) + ":/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
               "MSGLIB_GRADING_SALT": "unprivileged-test-salt", "MSGLIB_CELL_TIMEOUT": "30",
               "PYTHONWARNINGS": "ignore"}
        done = subprocess.run(_unprivileged_prefix() + [python, "-m", "msglib", "grade", MODULE,
                                                        "-j", "1", "--student-timeout", "240"],
                              cwd=course, env=env, capture_output=True, text=True, timeout=600)
        out = done.stdout + done.stderr
        # exit status 1 means "files changed during the batch"; the package is the live checkout, which other
        # work may edit meanwhile, so this test reads the course's part of that check (the hostile batch owns
        # the package and venv part)
        assert done.returncode in (0, 1) and "submission(s) graded" in out, out[-3000:]
        rows = {r["student_id"]: r for r in csv.DictReader((course / "grades" / "grades_by_exercise.csv").open())}
        assert float(rows["solved"]["score"]) == FULL, rows["solved"]     # every autograded point
        assert float(rows["blank"]["score"]) == 0, rows["blank"]
        assert all(r["status"] == "ok" and r["sandbox"] == "yes" for r in rows.values()), rows
        import re

        for student in ("blank", "solved"):    # the progress line of each submission, with its status
            assert re.search(rf"\[\s*\d/2\] {MODULE}\s+{student}\s+graded\s", out), out[-3000:]
        batch = json.loads((course / "grades" / "report.json").read_text())["batch"]
        assert batch["sandboxed"] and "bwrap" in batch["sandbox"]
        assert batch["unchanged"]["course"] == "identical", batch["unchanged"]
        if os.geteuid() == 0:   # nobody has no cgroup to write to: the per-process rlimits in its namespace
            assert "user namespace" in batch["sandbox"], batch["sandbox"]
    finally:
        shutil.rmtree(top, ignore_errors=True)
