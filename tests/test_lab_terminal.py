"""The check command printed in every notebook works in JupyterLab's own terminal under `make lab`.

`make lab` starts the Lab's terminals as bash with lab/terminal.bashrc: the user's ~/.bashrc, then the
virtual environment first on PATH again. Without it the command failed with ModuleNotFoundError (nbformat)
wherever ~/.bashrc puts another Python first (pyenv here) or a login shell rebuilds PATH from /etc/profile.
The test starts `make lab` on a free port of 127.0.0.1, opens a terminal through the Lab's REST API, types
the command in it over the terminal's websocket and reads what comes back.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (ROOT / ".venv" / "bin" / "jupyter").exists(), reason="needs `make setup`")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _type(url: str, line: str, until: str, timeout: float) -> str:
    from tornado.websocket import websocket_connect

    ws = await websocket_connect(url)
    seen = ""
    try:
        ws.write_message(json.dumps(["stdin", line + "\r"]))
        deadline = time.monotonic() + timeout
        while until not in seen and time.monotonic() < deadline:
            try:
                msg = await asyncio.wait_for(ws.read_message(), max(0.1, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                break
            if msg is None:
                break
            kind, *data = json.loads(msg)
            if kind == "stdout":
                seen += "".join(data)
    finally:
        ws.close()
    return seen


def test_check_command_runs_in_the_lab_terminal(tmp_path):
    port, token = _free_port(), "msglib-terminal-test"
    args = f"--no-browser --ip=127.0.0.1 --port={port} --IdentityProvider.token={token}"
    proc = subprocess.Popen(["make", "-s", "-o", ".venv/.installed", "lab", f"LAB_ARGS={args}"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"token {token}"}
    try:
        for _ in range(240):
            try:
                with urllib.request.urlopen(urllib.request.Request(f"{base}/api/status", headers=headers), timeout=5):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("make lab: JupyterLab did not start within 120 s")
        req = urllib.request.Request(f"{base}/api/terminals", data=b"{}", headers=headers, method="POST")
        with urllib.request.urlopen(req, timeout=30) as resp:
            name = json.loads(resp.read())["name"]
        # what the notebooks print (a terminal of `make lab` starts at the repository root);
        # the marker after it proves the command finished, whatever it printed
        # (the terminal echoes what is typed: the markers are built so that the echo does not contain them)
        report = tmp_path / "check.txt"
        line = (f"python -m msglib check notebooks/00_why_messaging > {report} 2>&1; echo EX\"\"IT=$?; "
                "python -c 'import sys, nbformat; print(\"P\" + \"Y=\" + sys.prefix)'")
        out = asyncio.run(_type(f"ws://127.0.0.1:{port}/terminals/websocket/{name}?token={token}", line,
                                "PY=", timeout=240))
        check_output = report.read_text(errors="replace") if report.exists() else ""
        assert "PY=" + str(ROOT / ".venv") in out.replace("\r", "").replace("\n", ""), out[-2000:]
        assert "ModuleNotFoundError" not in check_output, check_output[-2000:]
        assert "EXIT=1" in out and "visible tests:" in check_output, (out[-2000:], check_output[-2000:])
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
