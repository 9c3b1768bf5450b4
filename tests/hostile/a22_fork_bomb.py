"""A (bounded) fork bomb: hundreds of processes that sleep, to exhaust the process table during grading."""
from tests.hostile._common import Submission, blank_answers, insert_after, release

KIND, HONEST, FLAG, WHAT = "batch", 0.0, False, "fork bomb (bounded: 400 sleepers for 40 s)"

HOOK = '''
import os, time
_kids = 0
for _ in range(400):
    try:
        if os.fork() == 0:
            time.sleep(40)
            os._exit(0)
        _kids += 1
    except OSError:
        break
print("forked", _kids)
'''


def build(ctx):
    return Submission(insert_after(blank_answers(release()), "00-call_chain", HOOK))
