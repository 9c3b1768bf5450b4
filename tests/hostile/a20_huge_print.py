"""Correct answers, and a cell that prints 200 MB: the output is truncated, the work keeps its marks."""
from tests.hostile._common import FULL, Submission, insert_after, solved

KIND, HONEST, FLAG, WHAT = "oddity", FULL, False, "a 200 MB print with correct answers"


def build(ctx):
    return Submission(insert_after(solved(), "00-call_chain", "print('x' * 200_000_000)\n"))
