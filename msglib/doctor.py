"""``python -m msglib doctor``: is this machine ready for the course? If not, what fixes it.

Checks, in the order a learner would hit the problems: Python's version, the
installed packages against msglib's declared bounds, that a Jupyter kernel
imports *this* msglib, that the nbgrader Validate extension and the widget
extension are enabled, that the course folders are where they should be, and
(for instructors) that the grading sandbox, bubblewrap, actually starts.
Each problem is printed with the command that fixes it.
"""
from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

SETUP = "make setup   (or: python3 -m venv .venv && .venv/bin/pip install -e '.[course]')"


@dataclass
class Finding:
    ok: bool
    what: str
    fix: str = ""


def check_python() -> Finding:
    v = sys.version_info
    if v < (3, 10):
        return Finding(False, f"Python {v.major}.{v.minor} is too old (msglib needs 3.10 or newer)",
                       "install Python 3.10+ and run: PYTHON=python3.11 make setup")
    return Finding(True, f"Python {v.major}.{v.minor}.{v.micro} ({sys.executable})")


def course_requirements() -> list[str]:
    """msglib's runtime requirements plus its `course` extra, as declared at install time."""
    reqs = metadata.requires("msglib") or []
    out = []
    for r in reqs:
        if ";" in r:
            spec, marker = r.split(";", 1)
            if "extra" in marker and "course" not in marker:
                continue
            r = spec
        out.append(r.strip())
    return out


def check_packages(requirements: list[str] | None = None) -> list[Finding]:
    from packaging.requirements import Requirement

    findings = []
    for text in requirements if requirements is not None else course_requirements():
        req = Requirement(text)
        try:
            version = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            findings.append(Finding(False, f"{req.name} is not installed (needs {req.specifier or 'any version'})",
                                    SETUP))
            continue
        if req.specifier and not req.specifier.contains(version, prereleases=True):
            findings.append(Finding(False, f"{req.name} {version} is outside the tested range {req.specifier}",
                                    f"{sys.executable} -m pip install '{req.name}{req.specifier}'"))
        else:
            findings.append(Finding(True, f"{req.name} {version}"))
    return findings


def check_kernel() -> Finding:
    """Start the default kernel and ask it which msglib it imports."""
    try:
        from jupyter_client.manager import KernelManager
    except ImportError:
        return Finding(False, "jupyter_client is missing, so no kernel can start", SETUP)
    import msglib

    km = kc = None
    try:
        from msglib.grading.notebooks import QUIET_KERNEL

        km = KernelManager(kernel_name="python3")
        km.start_kernel(extra_arguments=QUIET_KERNEL)
        kc = km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=60)
        collect = _Collector()
        reply = kc.execute_interactive("import msglib; print(msglib.__file__)", timeout=60, output_hook=collect)
        if reply["content"]["status"] != "ok":
            return Finding(False, "the python3 kernel cannot import msglib",
                           f"{sys.executable} -m pip install -e '.[course]'  (from the repository root)")
        seen = collect.text.strip()
        if Path(seen).resolve() != Path(msglib.__file__).resolve():
            return Finding(False, f"the python3 kernel imports a different msglib ({seen})",
                           f"{sys.executable} -m ipykernel install --sys-prefix  (so the kernel uses this environment)")
        return Finding(True, "a python3 kernel starts and imports this msglib")
    except Exception as exc:
        return Finding(False, f"the python3 kernel did not start ({type(exc).__name__}: {exc})",
                       f"{sys.executable} -m ipykernel install --sys-prefix")
    finally:
        if kc is not None:
            kc.stop_channels()
        if km is not None:
            km.shutdown_kernel()


class _Collector:
    def __init__(self) -> None:
        self.text = ""

    def __call__(self, msg: dict) -> None:
        if msg["msg_type"] == "stream":
            self.text += msg["content"]["text"]


def _jupyter(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "jupyter", *args], capture_output=True, text=True, timeout=120)
    return re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)


def check_extensions(lab: str | None = None, server: str | None = None) -> list[Finding]:
    lab = _jupyter("labextension", "list") if lab is None else lab
    server = _jupyter("server", "extension", "list") if server is None else server
    wanted = [
        (lab, r"@jupyter/nbgrader v\S+ enabled", "the nbgrader JupyterLab extension (Validate button)",
         "jupyter labextension enable @jupyter/nbgrader"),
        (lab, r"@jupyter-widgets/jupyterlab-manager v\S+ enabled", "the ipywidgets JupyterLab extension",
         f"{sys.executable} -m pip install 'ipywidgets>=8,<9'"),
        (server, r"nbgrader\.server_extensions\.validate_assignment enabled",
         "the nbgrader validate server extension",
         "jupyter server extension enable --sys-prefix nbgrader.server_extensions.validate_assignment"),
    ]
    return [Finding(bool(re.search(pattern, text)), ("" if re.search(pattern, text) else "not enabled: ") + what,
                    "" if re.search(pattern, text) else fix) for text, pattern, what, fix in wanted]


def check_course(root: Path | None = None) -> list[Finding]:
    root = root or Path.cwd()
    if not (root / "nbgrader_config.py").exists():
        return [Finding(True, "not inside the course repository: skipped the course-folder checks")]
    out = []
    for folder in ("notebooks", "solutions"):
        found = sorted((root / folder).glob("*/*.ipynb"))
        out.append(Finding(bool(found), f"{folder}/ holds {len(found)} notebook(s)",
                           "" if found else ("make release" if folder == "notebooks" else "git checkout -- solutions")))
    return out


def check_sandbox() -> Finding:
    """Instructors: ``make grade`` runs student code in a bubblewrap sandbox; start one to be sure it works."""
    from msglib.grading.sandbox import INSTALL, check

    ok, message = check()
    if ok:
        return Finding(True, f"grading sandbox: {message}")
    return Finding(False, f"grading sandbox (instructors only, for make grade): {message}",
                   f"sudo {INSTALL}   (Debian/Ubuntu; learners do not need it)")


def main() -> int:
    findings = [check_python(), *check_packages(), check_kernel(), *check_extensions(), *check_course(),
                check_sandbox()]
    for f in findings:
        print(("  ok   " if f.ok else "  FIX  ") + f.what)
        if not f.ok:
            print("       → " + f.fix)
    bad = [f for f in findings if not f.ok]
    print(f"\n{len(findings) - len(bad)} ok, {len(bad)} to fix." + ("" if bad else " You are ready: make lab"))
    return 1 if bad else 0
