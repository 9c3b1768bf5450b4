"""nbgrader plug-ins the course's ``nbgrader_config.py`` names.

Kept apart from the rest of ``msglib.grading`` because importing it imports
nbgrader, which learners' kernels do not need.
"""
from __future__ import annotations

from nbclient import NotebookClient
from nbgrader.preprocessors import Execute as NbgraderExecute
from nbgrader.preprocessors import LimitOutput
from traitlets import Integer


class Execute(NbgraderExecute):
    """nbgrader's Execute without the second ``kernel_info`` request after start-up.

    nbconvert asks the kernel for ``kernel_info`` again right after the start-up
    handshake (which already exchanged one) and waits up to a cell timeout for the
    reply; on a loaded machine that reply was sometimes never seen, and the whole
    notebook then failed to autograde. Configured as ``c.Execute`` like the original.
    """

    def preprocess(self, nb, resources=None, km=None):
        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        with self.setup_kernel():
            for index, cell in enumerate(self.nb.cells):
                self.preprocess_cell(cell, resources, index)
        self.set_widgets_metadata()
        return self.nb, self.resources


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
