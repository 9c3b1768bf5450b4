"""Finds every dict that holds the real checks (the module, the re-run's snapshot) with gc.get_referrers and
puts a passing check in each, so restoring the snapshot restores the patch."""
from tests.hostile._common import Submission, blank_answers, insert_after, release

KIND, HONEST, FLAG, WHAT = "tamper", 0.0, True, "poisons the re-run's snapshot through gc.get_referrers"
EVIDENCE = r"\bgc\b"

HOOK = '''
import gc
import msglib.grading.ex00 as _ex00


def _pass(*a, **k):
    return None


for _name in ("check_call_chain", "hidden_call_chain", "check_handle", "hidden_handle"):
    _real = getattr(_ex00, _name)
    for _ref in gc.get_referrers(_real):
        if isinstance(_ref, dict):
            for _k, _v in list(_ref.items()):
                if _v is _real:
                    _ref[_k] = _pass
    try:
        _real.__code__ = _pass.__code__
    except Exception:
        pass
'''


def build(ctx):
    return Submission(insert_after(blank_answers(release()), "00-call_chain", HOOK))
