"""Copies an honest classmate's answers with every name changed and comments rewritten (similarity must flag it)."""
from tests.hostile._common import Submission, answer, release

KIND, HONEST, FLAG, WHAT = "copy", 10.0, False, "a classmate's answers, variables renamed"

# zzz_control's answers (tests/test_hostile.py CONTROL_B), names and comments changed
CALL = '''def call_chain(calls):
    """Sum the hop latencies in order."""
    elapsed_ms = 0.0
    for idx in range(len(calls)):
        hop_time = calls[idx]()     # may raise
        elapsed_ms = elapsed_ms + hop_time
    return elapsed_ms
'''
HANDLE = '''def handle(message, service, forward):
    """Process then ack."""
    try:
        outcome = service(message)
    except ServiceDown as failure:
        return False
    else:
        forward(outcome)
        return True
'''


def build(ctx):
    nb = release()
    answer(nb, "00-call_chain", CALL)
    answer(nb, "00-queue_handler", HANDLE)
    return Submission(nb)
