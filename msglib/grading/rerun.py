"""The independent re-run: one exercise of one submission, in a fresh interpreter, inside the sandbox.

The grader (outside) starts ``python -I -m msglib.grading.rerun`` in the sandbox
once per submission and writes a job on its stdin: a one-time secret, the
course's locked cells, and per exercise the student's answer cell(s), the
exercise's test cells as the instructor's source defines them, and its
hidden-case key. This process runs the locked (instructor) cells, then forks
one fresh child per exercise: the child alone runs student code, and only that
exercise's. The parent never runs student code; it stops a child that exceeds
the exercise's time. In each child, before any student code runs, it:

1. has read the whole job and closed stdin;
2. keeps its result channel (the original stdout) on a private descriptor and
   sends the program's own stdout/stderr to a sink;
3. installs a PEP 578 audit hook (it cannot be removed) that denies and
   records: writes outside ``/submission``, ``/tmp`` and the home; ``ctypes``;
   ``gc`` object and referrer walks; ``sys.settrace``/``setprofile``; frame
   access (``sys._getframe``, ``tb_frame``, ``gi_frame``...) from code other
   than a short list of standard-library functions that need it; reading
   another process's memory; starting processes;
4. takes a snapshot of msglib (modules, classes, functions), of ``builtins``
   and of the import system, held in this function's locals only.

Before every test cell the snapshot is put back, builtins and import hooks that
changed are restored and flagged, and the exercise's own answer definitions are
bound. Each verdict is one line, ``seq kind id verdict message-hex mac``:
the MAC is SHA-256 over the secret and the line, computed with functions taken
before student code ran, so a line written by student code to the channel does
not verify. The grader keeps the first verifying line per test; a test with no
verifying line failed.

Evidence is write-once: each piece is sent on the channel (a pipe read by the
grader, outside the sandbox) the moment the hook or the repair finds it, with
``os.write``; it is never kept in a list student code could reach and empty.
Before each write the channel is checked to still be the same pipe (device and
inode); a channel closed, redirected or made to fail ends the child at once
(``os._exit``), and each child's last line is an end-of-run record: a child
whose record is missing (and was not stopped by the parent's timer) is itself
evidence, judged by the grader.
"""
from __future__ import annotations

import builtins
import hashlib
import io
import json
import os
import sys
import time
import types

EVIDENCE_LIMIT = 40
MESSAGE_BYTES = 1500     # a line stays under PIPE_BUF (4096 bytes), so each write reaches the pipe whole
CHANNEL_LOST = 86        # exit status of a child whose verdict channel was closed or redirected


class GraderDenied(RuntimeError):
    """Raised inside student code when it does something the grader does not allow."""


def _codes_of(modules: list[types.ModuleType]) -> set[int]:
    """ids of the code objects of every function (and nested function) defined in ``modules``."""
    out: set[int] = set()

    def add(code: types.CodeType) -> None:
        if id(code) in out:
            return
        out.add(id(code))
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                add(const)

    for module in modules:
        for value in list(vars(module).values()):
            items = [value] + (list(vars(value).values()) if isinstance(value, type) else [])
            for item in items:
                item = getattr(item, "__func__", item)
                if isinstance(item, (classmethod, staticmethod)):
                    item = item.__func__
                if isinstance(item, property):
                    item = item.fget
                code = getattr(item, "__code__", None)
                if isinstance(code, types.CodeType):
                    add(code)
    return out


FRAME_ATTRS = {"tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_back", "gi_yieldfrom", "cr_await"}
ALLOWED_ROOTS = ("/submission/", "/tmp/", "/home/student/", "/dev/null")


def install_hook(report, armed: list[bool], trusted: list[types.ModuleType] = ()) -> None:
    """The audit hook (PEP 578): deny and record what tampers with grading, once ``armed[0]`` is True.

    ``report(what)`` sends one piece of evidence out at once (the verdict channel); the hook keeps
    only a count and the hashes of what it sent (so nothing is sent twice), never the evidence.

    Frame access is allowed to the functions of a few standard-library modules that need it and
    of ``trusted`` (msglib's own modules, taken before student code ran), recognised by the
    identity of their code objects, which student code cannot forge.
    """
    import collections
    import dataclasses
    import enum
    import logging
    import typing
    import warnings

    allowed = _codes_of([collections, typing, enum, warnings, logging, dataclasses, *trusted])
    # functions that hand the frame they get back to their caller: the caller must be trusted too
    returners = {id(logging.currentframe.__code__)}
    getframe = sys._getframe
    abspath, write_flags = os.path.abspath, os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC
    # the course and the environment stay protected even where they sit under an allowed root (a clone in /tmp)
    course = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    protected_roots = tuple(sorted({course.rstrip("/") + "/", sys.prefix.rstrip("/") + "/"}))
    denied = GraderDenied
    protected = (_no_handlers, _no_threads)
    busy = [False]
    sent: set[int] = set()
    add, str_hash = sent.add, hash

    def record(what: str) -> None:
        h = str_hash(what)
        if len(sent) < EVIDENCE_LIMIT and h not in sent:
            add(h)
            busy[0] = True
            try:
                report(what)
            finally:
                busy[0] = False

    def caller_allowed(depth: int) -> bool:
        busy[0] = True
        try:
            frame = getframe(depth)
            while frame is not None and id(frame.f_code) in returners:
                frame = frame.f_back
            return frame is not None and id(frame.f_code) in allowed
        except ValueError:
            return False
        finally:
            busy[0] = False

    def hook(event: str, args: tuple) -> None:
        if busy[0] or not armed[0]:
            return
        if event == "msglib.grading.denied":
            record(str(args[0]) if args else "denied")
        elif event == "open":
            path, mode, flags = args
            if isinstance(path, str):
                writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
                         (isinstance(flags, int) and flags & write_flags)
                real = abspath(path)
                if writes and (not real.startswith(ALLOWED_ROOTS) or real.startswith(protected_roots)):
                    record(f"write to {real} (open, outside the submission)")
                    raise denied(f"the grader does not allow writing {real}")
                if real.startswith("/proc/") and real.endswith(("/mem", "/maps", "/environ")):
                    record(f"read of {real} (open)")
                    raise denied(f"the grader does not allow reading {real}")
        elif event.startswith("ctypes.") or (event == "import" and args[0] in ("ctypes", "_ctypes")):
            record(f"ctypes ({event})")
            raise denied("the grader does not allow ctypes")
        elif event in ("gc.get_referrers", "gc.get_referents", "gc.get_objects"):
            record(f"{event}() (walks the interpreter's objects)")
            raise denied(f"the grader does not allow {event}")
        elif event in ("sys.settrace", "sys.setprofile", "sys._current_frames"):
            record(f"{event}()")
            raise denied(f"the grader does not allow {event}")
        elif event == "sys._getframe":
            if not caller_allowed(2):
                record("sys._getframe() (frame access)")
                raise denied("the grader does not allow sys._getframe")
        elif event == "object.__getattr__" and len(args) == 2 and args[1] in FRAME_ATTRS:
            if not caller_allowed(2):
                record(f".{args[1]} (frame access)")
                raise denied(f"the grader does not allow .{args[1]}")
        elif event == "object.__setattr__" and len(args) == 3 and args[1] in ("__code__", "__globals__",
                                                                              "__defaults__", "__kwdefaults__") \
                and any(args[0] is f for f in protected):
            record(f"sets .{args[1]} of the grader's {getattr(args[0], '__qualname__', '?')}")
            raise denied(f"the grader does not allow setting .{args[1]}")
        elif event == "object.__setattr__" and len(args) == 3 and args[1] in ("__code__", "__globals__"):
            record(f"sets .{args[1]} of {getattr(args[0], '__qualname__', '?')}")
            raise denied(f"the grader does not allow setting .{args[1]}")
        elif event in ("os.fork", "os.forkpty", "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn",
                       "os.spawn", "pty.spawn"):
            record(f"starts a process ({event})")
            raise denied("the grader does not allow starting processes")
        elif event in ("os.kill", "os.killpg", "signal.pthread_kill"):
            record(f"sends a signal ({event})")
            raise denied("the grader does not allow sending signals")
        elif event == "import" and args[0] in ("_signal", "_thread"):
            record(f"imports {args[0]} again (to undo the grader's guards)")
            raise denied(f"the grader does not allow re-importing {args[0]}")

    sys.addaudithook(hook)


class _Sink(io.TextIOBase):
    """Discards what is written (a print of megabytes costs nothing); remembers whether anything was."""

    def __init__(self) -> None:
        self.written = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.written += len(text)
        return len(text)


def _no_handlers(*args, _audit=sys.audit, _denied=GraderDenied, **kwargs):
    _audit("msglib.grading.denied", "installs a signal handler (signal.signal)")
    raise _denied("the grader does not allow installing signal handlers")


def _no_threads(*args, _audit=sys.audit, _denied=GraderDenied, **kwargs):
    _audit("msglib.grading.denied", "starts a thread (threading / _thread)")
    raise _denied("the grader does not allow starting threads")


def main() -> int:
    job = json.loads(sys.stdin.read())
    os.close(0)
    secret = bytes.fromhex(job.pop("secret"))
    channel = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    sink_out, sink_err = _Sink(), _Sink()
    sys.stdout, sys.stderr = sink_out, sink_err
    sha256, os_write, os_fstat, os_exit, getpid = hashlib.sha256, os.write, os.fstat, os._exit, os.getpid
    first = os.fstat(channel)
    identity = (first.st_dev, first.st_ino)
    sequence = [0]

    def send(kind: str, gid: str, verdict: str, message: str) -> None:
        """One MAC'd line on the channel, written at once (one write, atomic on a pipe); a channel that is
        no longer the grader's pipe (closed, redirected) or refuses the write ends this process at once."""
        sequence[0] += 1
        text = message.encode("utf-8", "replace")[:MESSAGE_BYTES].hex() or "-"
        body = f"{getpid()}.{sequence[0]} {kind} {gid} {verdict} {text}"
        line = (body + " " + sha256(secret + body.encode()).hexdigest() + "\n").encode()
        try:
            st = os_fstat(channel)
            if (st.st_dev, st.st_ino) != identity:
                os_exit(CHANNEL_LOST)
            os_write(channel, line)
        except BaseException:  # noqa: BLE001 - a broken channel: the missing end record is the evidence
            os_exit(CHANNEL_LOST)

    # the instructor's locked cells run here, once, before any student code
    ns: dict = {"__name__": "__main__", "__builtins__": builtins}
    for source in job["locked"]:
        try:
            exec(compile(source, "<locked cell>", "exec"), ns)
        except Exception as exc:  # noqa: BLE001 - reported; the tests that need it fail on their own
            send("note", "-", "locked", f"a locked cell raised {type(exc).__name__}: {exc}")
    delegation = _install_stubs([ex["exercise"] for ex in job["exercises"]], send)
    import msglib.grading.guard as guard

    snapshot = guard.Snapshot.take()
    for exercise in job["exercises"]:
        pid = os.fork()
        if pid == 0:
            try:
                _child(exercise, ns, snapshot, send, sink_out, sink_err, delegation)
            finally:
                os._exit(0)
        deadline = time.monotonic() + float(exercise.get("timeout", 60))
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                if os.WIFSIGNALED(status):
                    send("exit", exercise["exercise"], "signal", f"killed by signal {os.WTERMSIG(status)}")
                elif os.WIFEXITED(status) and os.WEXITSTATUS(status) == CHANNEL_LOST:
                    send("exit", exercise["exercise"], "channel", "its verdict channel was closed or "
                         "redirected (the child ended itself at its next write)")
                elif os.WIFEXITED(status) and os.WEXITSTATUS(status):
                    send("exit", exercise["exercise"], "status", f"exit status {os.WEXITSTATUS(status)}")
                break
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                send("stopped", exercise["exercise"], "timeout",
                     f"stopped after {exercise.get('timeout', 60)} s (endless loop?)")
                break
            time.sleep(0.01)
    send("done", "-", "ok", "")
    return 0


def _install_stubs(exercises: list[str], send) -> types.ModuleType | None:
    """msglib's own implementation of each exercise made to fail when the answer uses it (``delegation``)."""
    try:
        from msglib.grading import delegation
    except ImportError:  # the registry is not there: nothing to stub
        return None
    known = [ex for ex in exercises if ex in getattr(delegation, "REGISTRY", {})]
    for ex in sorted(set(exercises) - set(known)):
        send("note", "-", "delegation", f"{ex} is not in the delegation registry: its msglib twins are not stubbed")
    try:
        delegation.install_stubs(known)
    except Exception as exc:  # noqa: BLE001 - reported; grading goes on without the stubs
        send("note", "-", "delegation", f"delegation stubs not installed: {type(exc).__name__}: {exc}")
        return None
    return delegation


def _child(exercise: dict, ns: dict, snapshot, send, sink_out, sink_err, delegation=None) -> None:
    """Run one exercise's answer and tests (this process alone runs that student code)."""
    import _signal
    import _thread
    import signal
    import threading

    import msglib.grading.core as core
    import msglib.grading.guard as guard

    # taken before student code runs: what the verdicts depend on
    exec_, compile_, type_, isinstance_, str_ = builtins.exec, builtins.compile, type, isinstance, str
    restore_msglib = snapshot.restore
    guard_dict, guard_saved = guard.__dict__, dict(guard.__dict__)
    dict_update, dict_clear, dict_items = dict.update, dict.clear, dict.items
    builtins_dict, builtins_saved = builtins.__dict__, dict(builtins.__dict__)
    types_dict, types_saved = types.__dict__, dict(types.__dict__)
    meta_path, meta_saved = sys.meta_path, list(sys.meta_path)
    path_hooks, hooks_saved = sys.path_hooks, list(sys.path_hooks)
    path, path_saved = sys.path, list(sys.path)
    modules_dict = sys.modules
    set_key = core.use_hidden_key
    check_failed = core.CheckFailed
    key = exercise.get("key")
    missing, denied = object(), GraderDenied
    armed = [False]
    ex_id = exercise["exercise"]

    def report(what: str) -> None:
        """Evidence leaves at once, on the channel: nothing here holds it for student code to erase."""
        send("flag", ex_id, "evidence", what)

    sent_notes: set[int] = set()
    str_hash, add_note = hash, sent_notes.add

    def note(what: str) -> None:
        if str_hash(what) not in sent_notes:
            add_note(str_hash(what))
            report(what)

    def repair() -> None:
        """Put back what student code may have changed; record what it was."""
        changed = [k for k, v in dict_items(builtins_dict) if builtins_saved.get(k, missing) is not v]
        changed += [k for k in builtins_saved if k not in builtins_dict]
        if changed:
            note(f"builtins changed ({', '.join(sorted(changed)[:5])})")
            dict_clear(builtins_dict)
            dict_update(builtins_dict, builtins_saved)
        if sys.meta_path is not meta_path or list(meta_path) != meta_saved:
            note("import hook installed (sys.meta_path changed)")
            meta_path[:] = meta_saved
            sys.meta_path = meta_path
        if sys.path_hooks is not path_hooks or list(path_hooks) != hooks_saved:
            note("import hook installed (sys.path_hooks changed)")
            path_hooks[:] = hooks_saved
            sys.path_hooks = path_hooks
        if sys.path is not path or list(path) != path_saved:
            path[:] = path_saved
            sys.path = path
        if sys.modules is not modules_dict:
            note("sys.modules replaced")
            sys.modules = modules_dict
        dict_clear(guard_dict)
        dict_update(guard_dict, guard_saved)
        dict_update(types_dict, types_saved)
        restore_msglib()

    # a signal handler receives the interrupted frame, a thread can change msglib while a test runs:
    # student code may do neither (the originals are not kept anywhere; the refusals hold no reference to
    # the evidence: they report through an audit event the hook records)
    signal.signal = _signal.signal = _no_handlers
    _thread.start_new_thread = _thread.start_new = threading._start_new_thread = _no_threads
    install_hook(report, armed, [module for module, _ in snapshot.modules.values()])
    recorded = delegation.recorded_for if delegation is not None else (lambda ex: [])
    pins: dict = {}
    send("begin", ex_id, "ok", "")
    armed[0] = True
    for cell in exercise["cells"]:
        kind, gid, source = cell["kind"], cell["id"], cell["source"]
        if kind in ("test", "hidden"):
            repair()
            ns["__builtins__"] = builtins
            for name, value in pins.items():
                ns[name] = value
            set_key(key if kind == "hidden" else None)
        errors_before = sink_err.written
        sys.stdout, sys.stderr = sink_out, sink_err
        verdict, message = "pass", ""
        try:
            exec_(compile_(source, f"<{kind} {gid}>", "exec"), ns)
        except BaseException as exc:  # noqa: BLE001 - every failure of student code is a verdict
            verdict = "fail"
            if isinstance_(exc, check_failed):
                message = str_(getattr(exc, "what", "")) or "check failed"
                hint = getattr(exc, "hint", None)
                if hint:
                    message += "\nhint: " + str_(hint)
            elif isinstance_(exc, denied):
                message = str_(exc.args[0]) if exc.args else "denied by the grader"
            else:
                message = type_(exc).__name__ if isinstance_(type_(exc).__name__, str) else "error"
        finally:
            set_key(None)
        if kind in ("test", "hidden"):
            if verdict == "pass" and sink_err.written > errors_before:
                verdict, message = "fail", "wrote to stderr (the grader counts that as a failure)"
            send("test", gid, verdict, message)
        elif kind == "solution":
            for name in cell.get("names", []):
                if name in ns:
                    pins[name] = ns[name]
        repair()
    armed[0] = False
    for call in list(recorded(ex_id))[:5]:
        send("delegation", ex_id, "call", str(call))
    send("end", ex_id, "ok", "")


if __name__ == "__main__":
    sys.exit(main())
