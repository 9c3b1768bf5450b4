"""Wrong answer in the notebook run; an endless loop that swallows every interrupt, only in the independent re-run."""
from tests.hostile._common import Submission, answer, blank_answers, release

KIND, HONEST, FLAG, WHAT = "batch", 0.0, False, "an endless loop only in the re-run"

LOOP = '''
def call_chain(calls):
    import os, signal, sys
    rerun = (any(m in sys.modules for m in ("msglib.grading.guard", "msglib.grading.rerun", "msglib.grading.verdicts"))
             or "__msglib_guard__" in globals() or os.path.exists(".hostile_first_run"))
    if not rerun:
        open(".hostile_first_run", "w").close()
        return 0.0
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM, signal.SIGHUP):
        try:
            signal.signal(s, signal.SIG_IGN)
        except Exception:
            pass
    while True:
        try:
            while True:
                pass
        except BaseException:
            pass
'''


def build(ctx):
    return Submission(answer(blank_answers(release()), "00-call_chain", LOOP))
