"""Reads the grader's source of an older design, where the re-run sent its evidence after the last test: the
answer does what the audit hook denies (a gc referrer walk), then ends its own process with ``os._exit(0)``
before any evidence could be flushed, hoping for a run with no flag at all."""
from tests.hostile._common import Submission, answer, blank_answers, release

KIND, HONEST, FLAG, WHAT = "tamper", 0.0, True, "a denied gc walk, then os._exit(0) before the evidence is sent"
EVIDENCE = r"gc\.get_referrers"

ATTACK = '''
import gc
import os
import sys


def call_chain(calls):
    if "ipykernel" not in sys.modules:  # only in the re-run (in nbgrader's kernel the exit kills the kernel)
        try:
            gc.get_referrers(call_chain)
        except BaseException:
            pass
        os._exit(0)
    return 0.0
'''


def build(ctx):
    return Submission(answer(blank_answers(release()), "00-call_chain", ATTACK))
