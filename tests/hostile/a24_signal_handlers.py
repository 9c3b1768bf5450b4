"""An answer that ignores SIGINT, SIGTERM and SIGALRM and swallows KeyboardInterrupt, then never returns."""
from tests.hostile._common import Submission, answer, blank_answers, prepend, release

KIND, HONEST, FLAG, WHAT = "batch", 0.0, False, "signal handlers ignore every interrupt; endless answer"

HOOK = '''
import signal
for _s in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM, signal.SIGHUP, signal.SIGUSR1):
    signal.signal(_s, signal.SIG_IGN)
'''
LOOP = '''
def handle(message, service, forward):
    while True:
        try:
            while True:
                pass
        except BaseException:
            pass
'''


def build(ctx):
    return Submission(answer(prepend(blank_answers(release()), HOOK), "00-queue_handler", LOOP))
