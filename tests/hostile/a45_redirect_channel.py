"""Reads the grader's source: the re-run's evidence leaves on a descriptor the moment it is found. The answer
points every descriptor at /dev/null (keeping copies), does what the audit hook denies, then puts the
descriptors back, so the evidence is written into /dev/null and the run ends normally."""
from tests.hostile._common import Submission, answer, blank_answers, release

KIND, HONEST, FLAG, WHAT = "tamper", 0.0, True, "redirects the re-run's verdict channel to /dev/null around a denied call"
EVIDENCE = r"closed or redirected|end-of-run record"

ATTACK = '''
import os
import sys


def call_chain(calls):
    if "ipykernel" in sys.modules:      # only in the re-run: nbgrader's kernel would lose its sockets
        return 0.0
    null = os.open(os.devnull, os.O_WRONLY)
    saved = {}
    for fd in range(0, 64):
        if fd == null or fd in saved.values():
            continue
        try:
            saved[fd] = os.dup(fd)
            os.dup2(null, fd)
        except OSError:
            saved.pop(fd, None)
    try:
        sys._getframe(1)                # denied: its evidence would go to /dev/null
    except BaseException:
        pass
    for fd, copy in saved.items():
        os.dup2(copy, fd)
        os.close(copy)
    return 0.0
'''


def build(ctx):
    return Submission(answer(blank_answers(release()), "00-call_chain", ATTACK))
