"""JupyterLab's *Validate* button, answered by the course's self-check (learner mode of ``make lab``).

nbgrader's Validate lists only the failing cells. This server extension takes the same two routes its lab
extension calls (``/nbgrader_version``, ``/assignments/validate``) and answers with what
``python -m msglib check`` prints: every exercise with pass/fail and its points, the whole failure
message, the total. ``make lab`` enables it in place of nbgrader's ``validate_assignment`` extension for
that launch only; the button itself is nbgrader's.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web

# nbgrader's dialog puts "The following cell failed:" above each entry; the report is one entry that lists
# passes too, so that line is hidden (the dialog inserts the entry's ``error`` as HTML)
_HIDE_HEADING = "<style>.validation-failed > div > p { display: none; }</style>"


def report_for(path: Path, timeout: int = 120) -> tuple[bool, str]:
    """(every visible test passed, the self-check's report) for one notebook."""
    from msglib.grading.selfcheck import check_notebook, report

    out = io.StringIO()
    passed, earned, possible = report(check_notebook(path, timeout), out)
    text = out.getvalue().strip().splitlines()
    body = "\n".join(text[1:])  # the first line is the path
    total = (f"visible tests: {earned:g}/{possible:g} points. "
             + ("Everything checked here passes." if passed else "Some checks fail: see the → lines."))
    return passed, f"{total}\n\n{body}\n\nHidden tests run only when your instructor grades."


class ValidateHandler(JupyterHandler):
    @web.authenticated
    async def post(self) -> None:
        from tornado.ioloop import IOLoop

        try:
            relative = self.get_argument("path")
        except web.MissingArgumentError:
            relative = json.loads(self.request.body or b"{}").get("path", "")
        root = Path(self.settings["server_root_dir"]).expanduser().resolve()
        target = (root / relative).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            raise web.HTTPError(404, f"no notebook {relative!r} under the Lab's folder")
        try:
            _, text = await IOLoop.current().run_in_executor(None, report_for, target)
        except Exception as exc:  # the dialog shows it; the server goes on
            self.finish(json.dumps({"success": False, "value": f"{type(exc).__name__}: {exc}"}))
            return
        self.finish(json.dumps({"success": True, "value": {"failed": [{"source": text, "error": _HIDE_HEADING}]}}))


class VersionHandler(JupyterHandler):
    """The lab extension first asks whether the server side matches its version."""

    @web.authenticated
    def get(self) -> None:
        import nbgrader

        ok = self.get_argument("version", "") == nbgrader.__version__
        self.finish(json.dumps({"success": ok} if ok else {
            "success": False, "message": f"the Validate button is nbgrader {self.get_argument('version', '?')}, "
                                         f"the server has nbgrader {nbgrader.__version__}: run make setup"}))


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "msglib.grading.lab_validate"}]


def _load_jupyter_server_extension(serverapp) -> None:
    base = serverapp.web_app.settings["base_url"]
    serverapp.web_app.add_handlers(".*$", [(url_path_join(base, "assignments/validate"), ValidateHandler),
                                           (url_path_join(base, "nbgrader_version"), VersionHandler)])
