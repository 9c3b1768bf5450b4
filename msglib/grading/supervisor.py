"""nbgrader's autograde for one submission, in a process forked from a server that imported nbgrader once.

Starting ``python -m nbgrader`` costs over two CPU-seconds of imports, more than
grading a small notebook. A ``forkserver`` (started once per batch, single-threaded,
with nbgrader and msglib's plug-ins imported) forks one child per submission: the
child runs the same ``nbgrader autograde`` command line in its own session, with
its own environment (scratch gradebook, sandbox spec), writing its output to the
submission's log. The supervisor (the caller) kills the child's whole session at
the wall-clock limit; a sandboxed kernel dies with it (bwrap's ``--die-with-parent``).

Importing this module also keeps jsonschema's IRI grammar out of the process (:func:`lean_imports`);
it is the first module the fork server imports, and the pipeline imports it before nbformat.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from pathlib import Path

def lean_imports() -> None:
    """Keep ``rfc3987_syntax`` (jsonschema's optional IRI syntax checker) out of this process.

    jsonschema, which nbformat and so nbgrader import, imports it when it is installed, and it
    builds about 30 Earley parsers at import: 1.4 CPU-s in every process that imports nbformat
    (the grader and its fork server). It only checks the ``iri`` and ``iri-reference`` string
    formats, which neither nbformat's notebook schema nor nbgrader uses. Marked missing here,
    jsonschema leaves those two formats unchecked, as where the package is not installed.
    Nothing changes once jsonschema is imported.
    """
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[assignment]


lean_imports()

PRELOAD = ["msglib.grading.supervisor", "nbgrader.apps.nbgraderapp", "nbgrader.apps.autogradeapp", "nbgrader.preprocessors", "nbclient",
           "msglib.grading.nbgrader_ext", "msglib.grading.sandbox"]
_context: list = []


def _ctx():
    if not _context:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        _context.append(ctx)
    return _context[0]


def start() -> None:
    """Start the fork server now, so that its imports (``PRELOAD``) overlap with the caller's set-up.

    Where it cannot start, nothing happens: :func:`autograde` then raises OSError and the caller
    runs nbgrader in a process of its own."""
    from multiprocessing import forkserver

    _ctx()
    try:
        forkserver.ensure_running()
    except OSError:
        pass


def _child(args: list[str], root: str, env: dict[str, str], log: str) -> None:
    os.setsid()
    os.environ.clear()
    os.environ.update(env)
    os.chdir(root)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.argv = ["nbgrader", *args]
    from nbgrader.apps.nbgraderapp import NbGraderApp

    try:
        NbGraderApp.launch_instance(argv=args)
    except SystemExit as exc:
        os._exit(exc.code if isinstance(exc.code, int) else 1)
    os._exit(0)


def autograde(args: list[str], root: Path, env: dict[str, str], log: Path, timeout: float) -> tuple[int, str]:
    """Run ``nbgrader <args>`` in a forked child; (returncode, output), -9 when stopped at ``timeout``.

    Any nbgrader command works (the batch's ``generate_feedback`` goes the same way)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    proc = _ctx().Process(target=_child, args=(args, str(root), env, str(log)), daemon=False)
    proc.start()
    proc.join(timeout)
    rc: int
    if proc.is_alive():
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            proc.kill()
        proc.join()
        rc = -9
    else:
        rc = proc.exitcode if proc.exitcode is not None else 1
        if rc < 0:      # killed by a signal (memory, a crash): an error of this submission
            rc = 128 - rc
    try:
        text = log.read_text(errors="replace")
    except OSError:
        text = ""
    if len(text) > 2_000_000:
        text = text[-2_000_000:]
        log.write_text(text)
    return rc, text


def stop() -> None:
    """Stop the fork server and wait for it, so the CPU time of every submission it ran is accounted to the
    grader (``time``, benchmarks) and no process of the batch outlives it."""
    if not _context:
        return
    from multiprocessing import forkserver

    try:
        forkserver._forkserver._stop()
    except Exception:  # noqa: BLE001 - best effort: the server exits by itself when the grader does
        pass
