"""Turns the re-run's restore step into a no-op (every restore/snapshot function the grader has), then patches the checks."""
from tests.hostile._common import Submission, blank_answers, insert_after, patch_checks_source, release

KIND, HONEST, FLAG, WHAT = "tamper", 0.0, True, "disables the re-run's restore step"
EVIDENCE = r"setattr|assigns into msglib|guard|rerun|restore|importlib"

HOOK = '''
import importlib, sys
for _mod in ("msglib.grading.guard", "msglib.grading.rerun"):
    try:
        _m = importlib.import_module(_mod)
    except Exception:
        continue
    for _name in list(vars(_m)):
        if any(w in _name.lower() for w in ("restore", "snapshot", "enter_test", "rebind", "reset")):
            if callable(getattr(_m, _name)):
                setattr(_m, _name, lambda *a, **k: None)
''' + patch_checks_source()


def build(ctx):
    return Submission(insert_after(blank_answers(release()), "00-call_chain", HOOK))
