"""Allocates (and touches) 3 GiB, more than a submission may use, then keeps going."""
from tests.hostile._common import Submission, blank_answers, insert_after, release

KIND, HONEST, FLAG, WHAT = "batch", 0.0, False, "memory bomb (3 GiB)"

HOOK = '''
_hog = []
try:
    for _ in range(30):
        _hog.append(bytearray(100 * 1024 * 1024))
        _hog[-1][::4096] = b"x" * len(_hog[-1][::4096])
except MemoryError:
    print("memory refused at", len(_hog) * 100, "MiB")
'''


def build(ctx):
    return Submission(insert_after(blank_answers(release()), "00-call_chain", HOOK))
