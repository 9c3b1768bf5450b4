"""Reads the grader's source: the re-run replaced ``signal.signal`` with a refusal, and an earlier design kept
the evidence in a list that refusal's ``__closure__`` led to. The answer tries a frame walk (denied and
recorded), then empties every list it can reach from the refusal, hoping no flag reaches the report. (The
re-run scores 0 for it only because it is re-run at all: a blank-scoring notebook the scan flagged is re-run.)"""
from tests.hostile._common import Submission, answer, blank_answers, release

KIND, HONEST, FLAG, WHAT = "tamper", 0.0, True, "empties the re-run's evidence list through signal.signal's closure"
EVIDENCE = r"_getframe|frame access|__closure__"

ATTACK = '''
import signal
import sys


def _erase(fn, seen=()):
    for cell in getattr(fn, "__closure__", None) or ():
        value = cell.cell_contents
        if isinstance(value, list):
            value.clear()
        elif callable(value) and value not in seen:
            _erase(value, seen + (fn,))


def call_chain(calls):
    try:
        sys._getframe(1)
    except BaseException:
        pass
    _erase(signal.signal)
    return 0.0
'''


def build(ctx):
    return Submission(answer(blank_answers(release()), "00-call_chain", ATTACK))
