"""Calls the hops correctly but does not add their latencies: it returns a float subclass whose arithmetic and
comparisons always agree with whatever the check expects (the result is an int or float, as asked)."""
from tests.hostile._common import Submission, answer, blank_answers, release

KIND, HONEST, FLAG, WHAT = "tamper", 0.0, False, "a float subclass that agrees with every comparison"

LIAR = '''
class _Agreeable(float):
    def __sub__(self, other):
        return 0.0

    def __rsub__(self, other):
        return 0.0

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __abs__(self):
        return 0.0

    __hash__ = float.__hash__


def call_chain(calls):
    for call in calls:
        call()
    return _Agreeable(0.0)
'''


def build(ctx):
    return Submission(answer(blank_answers(release()), "00-call_chain", LIAR))
