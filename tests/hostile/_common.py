"""What every attack of the corpus shares: the release notebook, its cells, and snippets of attack code.

An attack module defines ``KIND``, ``HONEST`` (the points its honest work earns,
out of module 00's 10 autograded points), ``WHAT`` (one line) and
``build(ctx) -> Submission``. ``ctx`` is a :class:`Context`.

Attacks that could reach past their own batch (rewriting a file others import,
a ``.pth``, an IPython startup file, a lingering process, signals) act only
inside the batch that built them: their payload first checks :func:`scope_check`
(the batch's token in the environment, or a working directory inside the
batch's course folder or a grading sandbox), so a grader that fails to stop
them cannot harm anything else on the machine.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
MODULE = "00_why_messaging"
NB_NAME = f"{MODULE}.ipynb"
FULL = 10.0                       # module 00's autograded points: 2 exercises x (2 visible + 3 hidden)
SCOPE_ENV = "MSGLIB_HOSTILE_SCOPE"
LEAK = "HOSTILE-LEAK"             # steal attacks print f"{LEAK}:<what>:<value>" with what they found


@dataclass
class Context:
    course: Path                  # the batch's course folder
    token: str                    # this batch's scope token (also in the grader's environment)
    salt: str                     # the instructor's grading salt for this batch
    control: str                  # an honest student whose work attacks may try to copy
    student: str = ""             # the attacking student's id


@dataclass
class Submission:
    nb: object | None = None                            # the notebook (None: only ``raw``)
    name: str = NB_NAME                                 # its file name in the submission folder
    files: dict[str, bytes] = field(default_factory=dict)     # extra files, relative to the submission folder
    symlinks: dict[str, str] = field(default_factory=dict)    # relative path -> link target
    raw: str | None = None                              # the notebook as text instead of ``nb``


def release():
    return nbformat.read(str(ROOT / "notebooks" / MODULE / NB_NAME), as_version=4)


def _source():
    return nbformat.read(str(ROOT / "solutions" / MODULE / NB_NAME), as_version=4)


def cell(nb, grade_id: str):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def solution(grade_id: str) -> str:
    """The instructor's answer cell, solution markers removed (a correct answer)."""
    src = cell(_source(), grade_id).source
    return "\n".join(ln for ln in src.splitlines() if not re.match(r"\s*### (BEGIN|END) SOLUTION", ln)) + "\n"


def solved():
    """The release with both autograded answers filled in correctly (an honest full-marks notebook)."""
    nb = release()
    for gid in ("00-call_chain", "00-queue_handler"):
        cell(nb, gid).source = solution(gid)
    return nb


def answer(nb, grade_id: str, source: str):
    cell(nb, grade_id).source = source
    return nb


def insert_after(nb, grade_id: str, source: str):
    """A new ordinary code cell right after the cell ``grade_id`` (a learner may add cells anywhere)."""
    index = nb.cells.index(cell(nb, grade_id))
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell(source))
    return nb


def prepend(nb, source: str):
    """A new ordinary code cell after the setup cell (before any exercise)."""
    index = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("locked"))
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell(source))
    return nb


def clone(nb):
    return copy.deepcopy(nb)


WRONG_CALL_CHAIN = "def call_chain(calls):\n    return 0.0\n"
WRONG_HANDLE = "def handle(message, service, forward):\n    return True\n"


def blank_answers(nb):
    """Both autograded answers wrong (honest score 0), so anything the attack earns is stolen."""
    answer(nb, "00-call_chain", WRONG_CALL_CHAIN)
    answer(nb, "00-queue_handler", WRONG_HANDLE)
    return nb


def scope_file(token: str) -> str:
    """The file tests/test_hostile.py puts in every submission folder of its batch (so in every sandbox copy)."""
    return f".hostile-scope-{token}"


def scope_check(ctx: Context) -> str:
    """Python source of a condition: this code runs inside ``ctx``'s batch (see the module docstring).

    Its token in the environment (an unsandboxed kernel of the batch), a working directory in the batch's
    course folder, or the batch's scope file in the working directory (a sandbox's copy of a submission of
    this batch, and of no other).
    """
    return (f"(__import__('os').environ.get({SCOPE_ENV!r}) == {ctx.token!r} "
            f"or __import__('os').getcwd().startswith({str(ctx.course)!r}) "
            f"or __import__('os').path.exists({scope_file(ctx.token)!r}))")


FIND_COURSE = '''
def _course_root():
    """Walk up from here to the instructor's course folder (nbgrader_config.py beside submitted/)."""
    import os
    here = os.path.abspath(os.getcwd())
    while True:
        if os.path.exists(os.path.join(here, "nbgrader_config.py")) and os.path.isdir(os.path.join(here, "submitted")):
            return here
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent
'''

# A check that passes: what every tampering attack tries to put in place of the real one.
PASSING_CHECKS = ("def _pass(*args, **kwargs):\n    return None\n")


def patch_checks_source(module_expr: str = "__import__('msglib.grading.ex00', fromlist=['x'])") -> str:
    """Source that replaces module 00's checks with ones that always pass."""
    return (PASSING_CHECKS +
            f"_ex00 = {module_expr}\n"
            "for _name in ('check_call_chain', 'hidden_call_chain', 'check_handle', 'hidden_handle'):\n"
            "    setattr(_ex00, _name, _pass)\n")
