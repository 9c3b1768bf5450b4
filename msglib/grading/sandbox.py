"""One sandbox per submission: bubblewrap (``bwrap``) around every process that runs student code.

What a sandboxed process sees and may do:

* ``/submission``: a private, writable copy of that one submission (thrown away
  afterwards); its working directory;
* read-only: the Python installation, the virtual environment, the ``msglib``
  package, the course release (``notebooks/``) and the system's ``/usr``;
* nothing else of the repository: no ``solutions/``, no other submission, no
  ``gradebook.db``, no ``grades/``, no ``.git``;
* a fresh tmpfs ``/tmp`` and home; no network (``--unshare-net``); its own PID
  namespace (``--unshare-pid``: it cannot see or signal the grader, and every
  process it starts dies with it, ``--die-with-parent``); a clean environment
  (``--clearenv``: the grading salt never enters);
* resource limits set with ``prlimit`` right before the interpreter starts:
  address space (memory, 2 GiB by default), CPU seconds, file size, and the
  number of processes. RLIMIT_AS was chosen over a memory cgroup because it
  needs no privilege and no cgroup delegation on the instructor's machine or
  in CI; it caps virtual memory, which for a Python kernel is a little above
  its resident memory. RLIMIT_NPROC is not enforced for processes whose real
  uid is root, so when the grader runs as root the sandboxed program is
  switched to the unprivileged uid 65534 (``setpriv``) and the private copy is
  handed to that uid; otherwise bwrap maps the grader's own uid in a new user
  namespace, where the limit counts only the sandbox's processes.

The wall-clock limit is enforced from outside by whoever started the process
(:func:`run` here, the notebook client's cell timeout for kernels, and the
pipeline's per-submission supervisor).

Kernels: :class:`SandboxKernelManager` starts the Jupyter kernel of nbgrader's
run through bwrap. Without a network, the kernel talks ZeroMQ over Unix
sockets (``transport = "ipc"``) in a per-kernel directory bind-mounted into
the sandbox; nbgrader and the gradebook stay outside.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

INSTALL = "apt-get install bubblewrap"
SANDBOX_UID = 65534          # nobody: used when the grader runs as root (see the module docstring)
SLOT_UID_BASE = 61000        # ... or 61000 + n for the n-th submission graded at the same time
WORKDIR = "/submission"
HOME = "/home/student"
# environment variables a sandboxed process may inherit (everything else, the salt included, is dropped)
SAFE_ENV = ("LANG", "LC_ALL", "TZ", "MSGLIB_CELL_TIMEOUT", "PYTHONHASHSEED")
SYSTEM_READONLY = ("/usr", "/etc/ld.so.cache", "/etc/localtime", "/etc/alternatives", "/etc/fonts",
                   "/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/mime.types")


class SandboxUnavailable(RuntimeError):
    """bwrap is missing or does not work here."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed process tree (the wall clock is enforced from outside)."""

    memory_bytes: int = 2 << 30
    processes: int = 128
    cpu_seconds: int = 900
    file_bytes: int = 512 << 20
    tmp_bytes: int = 256 << 20

    def prlimit(self) -> list[str]:
        return ["/usr/bin/prlimit", f"--as={self.memory_bytes}", f"--nproc={self.processes}",
                f"--cpu={self.cpu_seconds}", f"--fsize={self.file_bytes}", "--core=0", "--"]


@dataclass
class Spec:
    """What goes into a sandbox besides the submission: read-only paths and limits."""

    readonly: list[str] = field(default_factory=list)
    limits: Limits = field(default_factory=Limits)
    uid: int = SANDBOX_UID     # when the grader is root: one uid per submission graded at the same time

    def to_json(self) -> str:
        return json.dumps({"readonly": self.readonly, "limits": asdict(self.limits), "uid": self.uid})

    @classmethod
    def from_json(cls, text: str) -> "Spec":
        data = json.loads(text)
        return cls(list(data["readonly"]), Limits(**data["limits"]), int(data.get("uid", SANDBOX_UID)))

    def for_slot(self, slot: int) -> "Spec":
        """The same sandbox with its own uid (RLIMIT_NPROC counts per uid: one submission's fork bomb
        must not starve another's kernel)."""
        return Spec(list(self.readonly), self.limits, SLOT_UID_BASE + slot)


def bwrap() -> str | None:
    """The bwrap executable, or None."""
    return shutil.which("bwrap")


_HELP: dict[str, str] = {}


def supports(option: str) -> bool:
    """Does this bwrap know ``option``? (``--disable-userns`` needs 0.8, ``--size`` 0.5; older ones run without.)"""
    exe = bwrap()
    if exe is None:
        return False
    if exe not in _HELP:
        try:
            _HELP[exe] = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            _HELP[exe] = ""
    return option in _HELP[exe]


def python_paths() -> list[str]:
    """The interpreter, the virtual environment and the msglib package (read-only in the sandbox)."""
    import msglib

    import site

    paths = [sys.base_prefix, sys.prefix, os.path.dirname(os.path.realpath(sys.executable)),
             str(Path(msglib.__file__).resolve().parent)]
    # site-packages where they really are (a venv may reach them through a symbolic link)
    paths += [os.path.realpath(p) for p in site.getsitepackages()]
    return _outermost(paths)


def default_spec(course: Path | None = None, limits: Limits | None = None) -> Spec:
    """The usual read-only set: Python, the venv, msglib and (if given) the course release."""
    extra = [str((course / "notebooks").resolve())] if course is not None and (course / "notebooks").is_dir() else []
    return Spec(_outermost(python_paths() + extra), limits or Limits())


def _outermost(paths: list[str]) -> list[str]:
    """Drop duplicates and paths already inside another one."""
    out: list[str] = []
    for p in sorted({os.path.abspath(p) for p in paths if p and os.path.exists(p)}, key=len):
        if not any(p == q or p.startswith(q.rstrip("/") + "/") for q in out):
            out.append(p)
    return sorted(out)


def _parents(path: str) -> list[str]:
    parts = Path(path).parts[1:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def as_root() -> bool:
    return os.geteuid() == 0


def command(argv: list[str], spec: Spec, *, workdir: Path | None = None, writable: list[Path] = (),
            env: dict[str, str] | None = None, chdir: str | None = None) -> list[str]:
    """The bwrap command line that runs ``argv`` in a sandbox (see the module docstring).

    ``workdir``: the private copy, mounted read-write at ``/submission`` (the working
    directory). ``writable``: more directories bound read-write at their own path
    (the kernel's socket directory). ``env``: variables to keep, filtered by ``SAFE_ENV``.
    """
    exe = bwrap()
    if exe is None:
        raise SandboxUnavailable(f"bubblewrap (bwrap) is not installed; install it: {INSTALL}")
    limits = spec.limits
    cmd = [exe, "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
           "--die-with-parent", "--new-session", "--clearenv"]
    if as_root():
        cmd += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        cmd += ["--unshare-user"] + (["--disable-userns"] if supports("--disable-userns") else [])
    size = ["--size", str(limits.tmp_bytes)] if supports("--size") else []
    cmd += ["--proc", "/proc", "--dev", "/dev",
            "--perms", "1777", *size, "--tmpfs", "/tmp",
            "--perms", "0777", *size, "--tmpfs", HOME]
    made: set[str] = {"/tmp", HOME, "/home"}
    for link in ("bin", "lib", "lib64", "sbin"):
        target = os.path.realpath(f"/{link}")
        if os.path.islink(f"/{link}") and target.startswith("/usr/"):
            cmd += ["--symlink", target.lstrip("/"), f"/{link}"]
        elif os.path.isdir(f"/{link}"):
            cmd += ["--ro-bind", f"/{link}", f"/{link}"]
    binds = [(p, "--ro-bind") for p in SYSTEM_READONLY if os.path.exists(p)]
    binds += [(p, "--ro-bind") for p in spec.readonly]
    binds += [(str(p), "--bind") for p in writable]
    for path, how in binds:
        for parent in _parents(path):
            if parent not in made:
                cmd += ["--perms", "0755", "--dir", parent]
                made.add(parent)
        cmd += [how, path, path]
        made.add(path)
    if workdir is not None:
        cmd += ["--bind", str(workdir), WORKDIR]
    cmd += ["--chdir", chdir or (WORKDIR if workdir is not None else "/tmp")]
    venv_bin = os.path.join(sys.prefix, "bin")
    clean = {"PATH": f"{venv_bin}:/usr/bin:/bin", "HOME": HOME, "TMPDIR": "/tmp", "LANG": "C.UTF-8",
             "MPLBACKEND": "Agg", "MPLCONFIGDIR": "/tmp/matplotlib", "MSGLIB_GRADING_RUN": "1",
             "MSGLIB_SANDBOX": "1", "PYTHONDONTWRITEBYTECODE": "1", "OPENBLAS_NUM_THREADS": "1",
             "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    for key, value in (env or {}).items():
        if key in SAFE_ENV or key.startswith("JPY_"):
            clean[key] = value
    for key, value in sorted(clean.items()):
        cmd += ["--setenv", key, value]
    cmd.append("--")
    if as_root():
        cmd += ["/usr/bin/setpriv", f"--reuid={spec.uid}", f"--regid={spec.uid}", "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all", "--"]
    return cmd + limits.prlimit() + list(argv)


class Cgroup:
    """A memory and process cap for a whole sandbox, when the grader may create cgroups (root, v1 or v2).

    RLIMIT_AS caps each process; a cgroup caps their sum (tmpfs pages included). Best effort: where no
    cgroup can be created, the rlimits alone apply (the report says which).
    """

    def __init__(self, dirs: list[Path]) -> None:
        self.dirs = dirs

    @staticmethod
    def _own(controller: str) -> str | None:
        try:
            for line in Path("/proc/self/cgroup").read_text().splitlines():
                _, names, path = line.split(":", 2)
                if controller in names.split(",") or (controller == "" and names == ""):
                    return path
        except OSError:
            return None
        return None

    @classmethod
    def create(cls, name: str, limits: Limits) -> "Cgroup | None":
        if not as_root():
            return None
        made: list[Path] = []
        try:
            memory, pids = Path("/sys/fs/cgroup/memory"), Path("/sys/fs/cgroup/pids")
            if memory.is_dir() and pids.is_dir():                      # cgroup v1
                for top, ctl in ((memory, "memory"), (pids, "pids")):
                    folder = top / (cls._own(ctl) or "/").lstrip("/") / name
                    folder.mkdir()
                    made.append(folder)
                (made[0] / "memory.limit_in_bytes").write_text(str(limits.memory_bytes))
                (made[1] / "pids.max").write_text(str(limits.processes))
                return cls(made)
            unified = Path("/sys/fs/cgroup")
            if (unified / "cgroup.controllers").exists():               # cgroup v2
                parent = unified / (cls._own("") or "/").lstrip("/")
                enabled = (parent / "cgroup.subtree_control").read_text().split()
                if "memory" in enabled and "pids" in enabled:
                    folder = parent / name
                    folder.mkdir()
                    made.append(folder)
                    (folder / "memory.max").write_text(str(limits.memory_bytes))
                    (folder / "pids.max").write_text(str(limits.processes))
                    return cls(made)
        except OSError:
            pass
        for folder in made:
            try:
                folder.rmdir()
            except OSError:
                pass
        return None

    def wrap(self, cmd: list[str]) -> list[str]:
        """``cmd`` started inside the cgroup (a shell moves itself in, then execs it)."""
        moves = "; ".join(f"echo $$ > {folder / 'cgroup.procs'}" for folder in self.dirs)
        return ["/bin/sh", "-c", f'{moves}; exec "$@"', "sh", *cmd]

    def remove(self) -> None:
        for folder in self.dirs:
            for _ in range(50):
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)


_cgroup_counter = [0]


def new_cgroup(limits: Limits) -> Cgroup | None:
    _cgroup_counter[0] += 1
    return Cgroup.create(f"msglib-sandbox-{os.getpid()}-{_cgroup_counter[0]}-{time.monotonic_ns() % 10**9}", limits)


def hand_over(*paths: Path, uid: int = SANDBOX_UID) -> None:
    """Make ``paths`` (recursively) writable by the sandbox's uid (only needed when the grader is root)."""
    if not as_root():
        return
    for top in paths:
        for folder, dirs, files in os.walk(top):
            os.chown(folder, uid, uid)
            for name in files:
                os.chown(os.path.join(folder, name), uid, uid, follow_symlinks=False)


def _no_links(folder: str, names: list[str]) -> list[str]:
    """copytree's ignore: symbolic links (to solutions/, another submission...) are never followed."""
    return [n for n in names if os.path.islink(os.path.join(folder, n))
            or n in ("gradebook.db", ".ipynb_checkpoints") or n.endswith(".orig")]


def without_hidden_tests(path: Path) -> None:
    """Empty the hidden-test blocks of a notebook file (nbgrader restores them into the autograded copy
    before it runs the kernel; the kernel's files must not hold them)."""
    try:
        nb = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    changed = False
    for cell in nb.get("cells", []) if isinstance(nb, dict) else []:
        source = cell.get("source", "")
        text = "".join(source) if isinstance(source, list) else str(source)
        if "### BEGIN HIDDEN TESTS" in text:
            kept, inside = [], False
            for line in text.splitlines(keepends=True):
                if "### BEGIN HIDDEN TESTS" in line:
                    inside = True
                elif "### END HIDDEN TESTS" in line:
                    inside = False
                elif not inside:
                    kept.append(line)
            cell["source"] = "".join(kept)
            cell["outputs"] = []
            changed = True
    if changed:
        path.write_text(json.dumps(nb))


def private_copy(source: Path | None, into: Path, uid: int = SANDBOX_UID) -> Path:
    """A private copy of one submission folder: its regular files only (no symlinks, no stray gradebooks),
    with hidden-test blocks emptied from its notebooks."""
    target = into / "submission"
    if source is not None and source.is_dir():
        shutil.copytree(source, target, symlinks=True, ignore=_no_links)
        for path in target.rglob("*.ipynb"):
            without_hidden_tests(path)
    else:
        target.mkdir(parents=True)
    hand_over(target, uid=uid)
    return target


@dataclass
class Completed:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool = False


def run(argv: list[str], spec: Spec, *, workdir: Path | None = None, timeout: float = 60, input: str | None = None,
        pass_fds: tuple[int, ...] = ()) -> Completed:
    """Run ``argv`` sandboxed, killed (the whole sandbox) after ``timeout`` seconds of wall clock."""
    start = time.monotonic()
    cgroup = new_cgroup(spec.limits)
    cmd = command(argv, spec, workdir=workdir)
    proc = subprocess.Popen(cgroup.wrap(cmd) if cgroup else cmd, stdin=subprocess.PIPE if input is not None
                            else subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, pass_fds=pass_fds, env={"PATH": "/usr/bin:/bin"})
    try:
        out, err = proc.communicate(input, timeout=timeout)
        return Completed(proc.returncode, out, err, time.monotonic() - start)
    except subprocess.TimeoutExpired:
        kill(proc)
        out, err = proc.communicate()
        return Completed(-9, out, err, time.monotonic() - start, timed_out=True)
    finally:
        if cgroup is not None:
            cgroup.remove()


def kill(proc: subprocess.Popen) -> None:
    """SIGKILL bwrap's process group; --die-with-parent and the PID namespace take everything inside with it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def caps() -> str:
    """Which mechanism caps a sandbox's memory and processes here (for the report)."""
    group = new_cgroup(Limits())
    if group is not None:
        group.remove()
        return "a cgroup per sandbox (memory and processes, summed) plus rlimits per process"
    if as_root():
        return "rlimits per process (RLIMIT_AS, RLIMIT_NPROC for the sandbox's own uid); no cgroup available"
    return "rlimits per process (RLIMIT_AS; RLIMIT_NPROC counted in the sandbox's user namespace)"


def check() -> tuple[bool, str]:
    """Does a sandbox actually start here? (``bwrap ... true`` with the grader's own options)."""
    if bwrap() is None:
        return False, f"bubblewrap (bwrap) is not installed; install it: {INSTALL}"
    needed = ["/usr/bin/prlimit"] + (["/usr/bin/setpriv"] if as_root() else [])
    missing = [p for p in needed if not os.path.exists(p)]
    if missing:
        return False, (f"{', '.join(missing)} missing (the sandbox sets its limits with them); "
                       "install: apt-get install util-linux")
    try:
        with tempfile.TemporaryDirectory(prefix="msglib-sbx-check-") as tmp:
            start = time.monotonic()
            done = run(["/bin/true"], Spec(python_paths()), workdir=private_copy(None, Path(tmp)), timeout=30)
            done.seconds = time.monotonic() - start
    except OSError as exc:
        return False, f"bwrap could not be started ({exc}); reinstall it: {INSTALL}"
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or ["no message"])[-1]
        return False, (f"bwrap is installed but cannot create a sandbox here ({why}); unprivileged user "
                       "namespaces may be disabled (sysctl kernel.unprivileged_userns_clone=1) or run the grader "
                       f"as root; bwrap itself: {INSTALL}")
    return True, f"bwrap starts a sandbox ({done.seconds * 1000:.0f} ms)"


# -- Jupyter kernels inside the sandbox ------------------------------------------------------

SPEC_ENV = "MSGLIB_SANDBOX_SPEC"

try:
    from jupyter_client.manager import AsyncKernelManager
except ImportError:  # pragma: no cover - the course environment always has jupyter_client
    AsyncKernelManager = object  # type: ignore[misc,assignment]


class SandboxKernelManager(AsyncKernelManager):  # type: ignore[misc,valid-type]
    """A kernel manager that starts the kernel inside bwrap, talking ZeroMQ over Unix sockets.

    Configured by the ``MSGLIB_SANDBOX_SPEC`` environment variable of the process that
    uses it (nbgrader's autograde, started by the pipeline). The kernel's working
    directory (the autograded copy of the submission) is copied privately and mounted
    at ``/submission``; interrupts go as messages (bwrap does not forward signals).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._sandbox_dir = Path(tempfile.mkdtemp(prefix="msglib-kernel-"))
        sockets = self._sandbox_dir / "sockets"
        sockets.mkdir()
        self.transport = "ipc"
        self.ip = str(sockets / "k")
        self.connection_file = str(sockets / "kernel.json")
        self.cache_ports = False
        self.startup_seconds: float | None = None

    @property
    def kernel_spec(self):  # type: ignore[override]
        spec = super().kernel_spec
        if spec is not None and spec.interrupt_mode != "message":
            spec.interrupt_mode = "message"
        return spec

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        spec = Spec.from_json(os.environ[SPEC_ENV]) if os.environ.get(SPEC_ENV) else default_spec()
        cwd = Path(kw.pop("cwd", None) or os.getcwd())
        work = private_copy(cwd, self._sandbox_dir, uid=spec.uid)
        sockets = self._sandbox_dir / "sockets"
        hand_over(sockets, uid=spec.uid)
        wrapped = command(kernel_cmd, spec, workdir=work, writable=[sockets], env=kw.get("env") or {})
        self._cgroup = new_cgroup(spec.limits)
        if self._cgroup is not None:
            wrapped = self._cgroup.wrap(wrapped)
        kw["env"] = {"PATH": "/usr/bin:/bin"}
        kw["cwd"] = str(self._sandbox_dir)
        self._launched_at = time.monotonic()
        await super()._async_launch_kernel(wrapped, **kw)

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if getattr(self, "_cgroup", None) is not None:
            self._cgroup.remove()
            self._cgroup = None
        if not restart:
            shutil.rmtree(self._sandbox_dir, ignore_errors=True)
