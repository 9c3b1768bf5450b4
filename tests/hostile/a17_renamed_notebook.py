"""An honest, correct submission whose notebook file was renamed (a harmless oddity: it must keep its marks)."""
from tests.hostile._common import FULL, Submission, solved

KIND, HONEST, FLAG, WHAT = "oddity", FULL, False, "renamed notebook file, correct answers"


def build(ctx):
    return Submission(solved(), name="my work (final) v2.ipynb")
