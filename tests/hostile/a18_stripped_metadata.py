"""An honest, correct submission whose cell metadata was stripped (an editor that drops it): it must keep its marks."""
from tests.hostile._common import FULL, Submission, solved

KIND, HONEST, FLAG, WHAT = "oddity", FULL, False, "stripped cell metadata, correct answers"


def build(ctx):
    nb = solved()
    for c in nb.cells:
        c.metadata = {}
    return Submission(nb)
