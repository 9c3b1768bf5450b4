"""Replaces ``builtins.__import__`` so the test cells' ``from msglib.grading import ex00`` gets checks that pass."""
from tests.hostile._common import Submission, blank_answers, insert_after, release

KIND, HONEST, FLAG, WHAT = "tamper", 0.0, True, "replaces builtins.__import__"
EVIDENCE = r"__import__|builtins"

HOOK = '''
import builtins, types
_real_import = builtins.__import__
_fake = types.ModuleType("msglib.grading.ex00")
for _n in ("check_call_chain", "hidden_call_chain", "check_handle", "hidden_handle"):
    setattr(_fake, _n, lambda *a, **k: None)
_pkg = types.ModuleType("msglib.grading")
_pkg.ex00 = _fake


def _import(name, globals=None, locals=None, fromlist=(), level=0):
    if name == "msglib.grading" and fromlist and "ex00" in fromlist:
        return _pkg
    if name == "msglib.grading.ex00":
        return _fake
    return _real_import(name, globals, locals, fromlist, level)


builtins.__import__ = _import
'''


def build(ctx):
    return Submission(insert_after(blank_answers(release()), "00-call_chain", HOOK))
