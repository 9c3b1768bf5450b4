"""nbgrader plug-ins the course's ``nbgrader_config.py`` names.

Kept apart from the rest of ``msglib.grading`` because importing it imports
nbgrader, which learners' kernels do not need.
"""
from __future__ import annotations

import os

from nbclient import NotebookClient
from nbgrader.preprocessors import Execute as NbgraderExecute
from nbgrader.preprocessors import LimitOutput
from traitlets import Integer


BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"


def kernel_env() -> dict[str, str]:
    """The kernel's environment: ours without the grading salt, marked as a graded child (so hidden
    seeds come only from the key handed in for each hidden test)."""
    env = {k: v for k, v in os.environ.items() if k != "MSGLIB_GRADING_SALT"}
    env.update({"MSGLIB_GRADING_RUN": "1", "MSGLIB_SANDBOX": "1"})
    return env


class Execute(NbgraderExecute):
    """nbgrader's Execute, for the course's grading.

    * no second ``kernel_info`` request after start-up: nbconvert asks again right
      after the handshake (which already exchanged one) and waits up to a cell timeout
      for the reply; on a loaded machine it was sometimes never seen, and the whole
      notebook failed to autograde;
    * the shell channel waits for replies in short polls (``notebooks.poll_in_slices``): a reply
      already on the socket was sometimes not seen for a whole cell timeout;
    * each cell's printed output is capped in the kernel (``output_cap``): a huge print is cut
      where it is written, so it cannot outlast the cell timeout on its way to nbclient;
    * ``%matplotlib inline`` only names the backend (``figures.defer_matplotlib_magic``):
      a grading run draws nothing, and the magic would import pyplot in every kernel;
    * msglib's own implementation of each exercise is stubbed in the kernel before any
      cell runs (``delegation.install_stubs``), as in the independent re-run;
    * the kernel never gets the grading salt: before each hidden test cell, the key
      for that student and exercise (``core.hidden_key``, derived here, outside the
      kernel) is handed in by a silent request, and taken back after the cell;
    * under ``msglib grade`` (``HIDDEN_IN_RERUN_ENV``) hidden test cells are not run at
      all: the independent re-run runs them and its verdict is their score, so here
      each gets one error output (``deferred_output``: 0 points until then) and the
      kernel never sees a hidden key.

    Configured as ``c.Execute`` like the original.
    """

    def preprocess(self, nb, resources=None, km=None):
        from msglib.grading.core import grading_salt, hidden_key
        from msglib.grading.notebooks import HIDDEN_IN_RERUN_ENV, deferred_output, exercise_of, poll_in_slices

        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        student = ((resources or {}).get("nbgrader") or {}).get("student")
        salt = grading_salt()
        defer_hidden = bool(student) and os.environ.get(HIDDEN_IN_RERUN_ENV) == "1"
        exercises = sorted({exercise_of(c.metadata["nbgrader"]["grade_id"]) for c in self.nb.cells
                            if c.metadata.get("nbgrader", {}).get("grade_id")})
        with self.setup_kernel(env=kernel_env()):
            # a reply already on the shell socket is found by the next short poll (notebooks.poll_in_slices)
            poll_in_slices(self.kc.shell_channel)
            # a cell that prints megabytes is cut at the source, not after it has flooded the sockets
            self._silent("install()", module="msglib.grading.output_cap")
            # nothing is drawn in a grading run: `%matplotlib inline` names the backend, imports nothing
            self._silent("defer_matplotlib_magic()", module="msglib.figures")
            if student:   # msglib's own implementations of the exercises refuse to work for the answers
                self._silent(f"install_stubs([e for e in {exercises!r} if e in __import__('msglib.grading."
                             "delegation', fromlist=['d']).REGISTRY])", module="msglib.grading.delegation")
            for index, cell in enumerate(self.nb.cells):
                gid = cell.metadata.get("nbgrader", {}).get("grade_id", "")
                hidden = student and cell.cell_type == "code" and BEGIN_HIDDEN in cell.source
                if hidden and defer_hidden:
                    cell.outputs, cell.execution_count = [deferred_output()], None
                    continue
                if hidden:
                    self._silent(f"use_hidden_key({hidden_key(salt, student, exercise_of(gid))!r})")
                try:
                    self.preprocess_cell(cell, resources, index)
                finally:
                    if hidden:
                        self._silent("use_hidden_key(None)")
        self.set_widgets_metadata()
        return self.nb, self.resources

    def create_kernel_manager(self):
        """The kernel manager, with its transport encrypted where it is TCP (``--no-sandbox``).

        ipykernel 7 warns "Kernel is running over TCP without encryption" when its
        sockets are plain TCP; jupyter_client 8.10's ``transport_encryption`` gives
        such a kernel CurveZMQ keys (its kernelspec declares ``curve`` support), so
        there is nothing to warn about. The sandboxed kernel talks over Unix sockets in
        a private directory (``SandboxKernelManager``) and is left as it is.
        """
        km = super().create_kernel_manager()
        if getattr(km, "transport", "tcp") == "tcp" and "transport_encryption" in km.trait_names():
            import zmq

            if zmq.has("curve") and km._kernel_supports_curve_encryption():
                km.transport_encryption = "auto"
        return km

    def _silent(self, call: str, module: str = "msglib.grading.core") -> None:
        """Run ``<module>.<call>`` in the kernel without a trace in the notebook."""
        from msglib.grading.notebooks import run_silently

        run_silently(self, f"__import__({module!r}, fromlist=['x']).{call}")


class LimitOutputBytes(LimitOutput):
    """nbgrader's LimitOutput caps lines; one line can still be megabytes.

    After the line limit, cap each cell's stream text at ``max_bytes`` so a
    submission that prints megabytes cannot bloat the gradebook, the autograded
    notebook or the feedback.
    """

    max_bytes = Integer(100_000, help="maximum characters of stream output kept per cell").tag(config=True)

    def preprocess_cell(self, cell, resources, cell_index):
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        if cell.cell_type != "code":
            return cell, resources
        budget = self.max_bytes
        kept = []
        for output in cell.outputs:
            if output.output_type == "stream":
                if budget <= 0:
                    continue
                if len(output.text) > budget:
                    output.text = output.text[:budget] + "\n... output truncated by the grader (too large) ...\n"
                budget -= len(output.text)
            kept.append(output)
        cell.outputs = kept
        return cell, resources


class ScrubHiddenTracebacks(LimitOutput.__bases__[0]):  # NbGraderPreprocessor
    """Feedback: reduce a hidden test cell's error to one line (``Name: message``).

    nbgrader's ClearHiddenTests removes the hidden block from the cell, but an
    IPython traceback quotes the failing lines, hidden ones included. Run this
    before ClearHiddenTests (it recognises the cells by their hidden block).
    """

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type == "code" and "### BEGIN HIDDEN TESTS" in cell.source:
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    output.traceback = [f"{output.ename}: {output.evalue}"]
        return cell, resources
