"""Pre-fills every test cell with a passing output and kills its kernel before any test runs again."""
import nbformat

from tests.hostile._common import Submission, blank_answers, prepend, release

KIND, HONEST, FLAG, WHAT = "tamper", 0.0, False, "stale passing outputs, kernel killed before the tests"


def build(ctx):
    nb = blank_answers(release())
    for i, c in enumerate(nb.cells):
        if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade") \
                and not c.metadata["nbgrader"].get("solution"):
            c.outputs = [nbformat.v4.new_output("stream", name="stdout", text="passes the visible checks\n")]
            c.execution_count = i + 1
    prepend(nb, "import os\nos._exit(0)\n")
    return Submission(nb)
