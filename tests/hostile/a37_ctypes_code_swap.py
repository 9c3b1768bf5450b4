"""Swaps the checks' code objects through ctypes (raw memory), which no setattr or __code__ assignment shows."""
from tests.hostile._common import Submission, blank_answers, insert_after, release

KIND, HONEST, FLAG, WHAT = "tamper", 0.0, True, "ctypes overwrites the checks' code in memory"
EVIDENCE = r"ctypes"

HOOK = '''
import ctypes, sys
import msglib.grading.ex00 as _ex00


def _pass(*a, **k):
    return None


_offset = 16 + 4 * ctypes.sizeof(ctypes.c_void_p)      # func_code in CPython 3.11's PyFunctionObject
for _n in ("check_call_chain", "hidden_call_chain", "check_handle", "hidden_handle"):
    _f = getattr(_ex00, _n)
    if sys.version_info[:2] == (3, 11) and _f.__code__ is ctypes.cast(id(_f) + _offset, ctypes.POINTER(ctypes.py_object))[0]:
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(_pass.__code__))
        ctypes.c_void_p.from_address(id(_f) + _offset).value = id(_pass.__code__)
'''


def build(ctx):
    return Submission(insert_after(blank_answers(release()), "00-call_chain", HOOK))
