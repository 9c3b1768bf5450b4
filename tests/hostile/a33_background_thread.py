"""A background thread re-applies passing checks every millisecond, racing whatever restores them before a test."""
from tests.hostile._common import Submission, blank_answers, insert_after, release

KIND, HONEST, FLAG, WHAT = "tamper", 0.0, True, "a thread keeps re-patching the checks"
EVIDENCE = r"thread|setattr|assigns into msglib"

HOOK = '''
import threading, time
import msglib.grading.ex00 as _ex00


def _repatch():
    end = time.time() + 120
    while time.time() < end:
        for n in ("check_call_chain", "hidden_call_chain", "check_handle", "hidden_handle"):
            setattr(_ex00, n, lambda *a, **k: None)
        time.sleep(0.001)


threading.Thread(target=_repatch, daemon=True).start()
'''


def build(ctx):
    return Submission(insert_after(blank_answers(release()), "00-call_chain", HOOK))
