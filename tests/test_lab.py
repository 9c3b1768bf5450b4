"""`make lab` serves the course: JupyterLab on notebooks/, with the Validate and widget extensions working and
the instructor tools off; `make lab-instructor` serves the repository root with Formgrader."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (ROOT / ".venv" / "bin" / "jupyter").exists(), reason="needs `make setup`")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, token: str, data: bytes | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, data=data, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        return resp.status, resp.read().decode()


class _Lab:
    """`make <target>` with JupyterLab on a free port of 127.0.0.1 (--allow-root comes from the Makefile)."""

    def __init__(self, target: str) -> None:
        self.port, self.token = _free_port(), "msglib-test-token"
        args = f"--no-browser --ip=127.0.0.1 --port={self.port} --IdentityProvider.token={self.token}"
        self.proc = subprocess.Popen(["make", "-s", "-o", ".venv/.installed", target, f"LAB_ARGS={args}"],
                                     cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.base = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "_Lab":
        for _ in range(120):
            try:
                if _get(f"{self.base}/api/status", self.token)[0] == 200:
                    return self
            except OSError:
                time.sleep(0.5)
        self.__exit__()
        pytest.fail("JupyterLab did not start within 60 s")

    def __exit__(self, *exc) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)


def _status(url: str, token: str) -> int:
    try:
        return _get(url, token)[0]
    except urllib.error.HTTPError as exc:
        return exc.code


def test_make_lab_serves_notebooks_with_validate_and_widgets():
    with _Lab("lab") as lab:
        base, token = lab.base, lab.token
        status, contents = _get(f"{base}/api/contents/00_why_messaging", token)
        assert status == 200 and "00_why_messaging.ipynb" in contents  # serving notebooks/
        status, page = _get(f"{base}/lab", token)
        assert status == 200
        config = page  # the page embeds the federated extensions it loads
        assert "@jupyter/nbgrader" in config and "@jupyter-widgets/jupyterlab-manager" in config
        import nbgrader
        assert _get(f"{base}/nbgrader_version?version={nbgrader.__version__}", token)[0] == 200
        body = urllib.parse.urlencode({"path": "00_why_messaging/00_why_messaging.ipynb"}).encode()
        status, text = _get(f"{base}/assignments/validate", token, data=body)
        result = json.loads(text)
        assert result["success"] is True, result
        report = result["value"]["failed"][0]["source"]  # the self-check's report: every exercise, its points
        assert "visible tests: 0/4 points" in report and "00-call_chain" in report and "FAIL" in report
        assert "00-queue_handler" in report and "not implemented yet" in report
        # learners do not get the instructor tools: not the server side, not the Lab's menus and panels
        assert _status(f"{base}/formgrader", token) == 404
        disabled = _disabled(page)
        for plugin in ("formgrader", "create-assignment", "assignment-list", "course-list"):
            assert f"@jupyter/nbgrader:{plugin}" in disabled, (plugin, disabled)
        assert "@jupyter/nbgrader:validate-assignment" not in disabled


def _disabled(page: str) -> list[str]:
    """The plugins the Lab page says are disabled (its embedded page config)."""
    start = page.index('id="jupyter-config-data"')
    body = page[page.index(">", start) + 1:page.index("</script>", start)]
    return json.loads(body).get("disabledExtensions", [])


def test_make_lab_instructor_serves_the_repository_root_with_formgrader():
    with _Lab("lab-instructor") as lab:
        status, contents = _get(f"{lab.base}/api/contents/", lab.token)
        names = {item["name"] for item in json.loads(contents)["content"]}
        assert {"solutions", "notebooks"} <= names
        assert _status(f"{lab.base}/formgrader", lab.token) in (200, 302)
        page = _get(f"{lab.base}/lab", lab.token)[1]
        assert "@jupyter/nbgrader:formgrader" not in _disabled(page)
