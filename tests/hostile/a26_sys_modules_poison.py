"""Puts a fake msglib.grading.ex00 (checks that pass) in sys.modules and on the msglib.grading package."""
from tests.hostile._common import Submission, blank_answers, insert_after, release

KIND, HONEST, FLAG, WHAT = "tamper", 0.0, True, "sys.modules poisoning"
EVIDENCE = r"sys\.modules|assigns into msglib"

HOOK = '''
import sys, types
import msglib.grading
_fake = types.ModuleType("msglib.grading.ex00")
_fake.check_call_chain = _fake.hidden_call_chain = _fake.check_handle = _fake.hidden_handle = lambda *a, **k: None
sys.modules["msglib.grading.ex00"] = _fake
msglib.grading.ex00 = _fake
'''


def build(ctx):
    return Submission(insert_after(blank_answers(release()), "00-call_chain", HOOK))
