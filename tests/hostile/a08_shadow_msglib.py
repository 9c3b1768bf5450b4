"""Ships a ``msglib/`` folder beside the notebook: the real package, except that grading/ex00.py always passes."""
from tests.hostile._common import Submission, blank_answers, release

KIND, HONEST, FLAG, WHAT = "tamper", 0.0, True, "shadow msglib/ package next to the notebook"
EVIDENCE = r"shadow|msglib/|__init__\.py|sys\.path"

INIT = '''import os, sys
_here = os.path.dirname(os.path.abspath(__file__))
_real = None
for _finder in list(sys.meta_path):
    try:
        _spec = _finder.find_spec("msglib", None)
    except Exception:
        continue
    for _loc in (_spec.submodule_search_locations or []) if _spec else []:
        if os.path.abspath(_loc) != _here:
            _real = _loc
if _real is None:
    for _p in sys.path[1:]:
        _cand = os.path.join(os.path.abspath(_p or "."), "msglib")
        if os.path.abspath(_cand) != _here and os.path.isfile(os.path.join(_cand, "__init__.py")):
            _real = _cand
            break
__path__[:] = [_here, _real]
exec(compile(open(os.path.join(_real, "__init__.py")).read(), os.path.join(_real, "__init__.py"), "exec"))
'''
GRADING = '''import os
_here = os.path.dirname(os.path.abspath(__file__))
_real = os.path.join([p for p in __import__("msglib").__path__ if os.path.abspath(p) != os.path.dirname(_here)][0],
                     "grading")
__path__[:] = [_here, _real]
exec(compile(open(os.path.join(_real, "__init__.py")).read(), os.path.join(_real, "__init__.py"), "exec"))
'''
EX00 = '''import os
_real = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "x")
for _p in __import__("msglib.grading", fromlist=["x"]).__path__:
    if os.path.abspath(_p) != os.path.dirname(os.path.abspath(__file__)):
        exec(compile(open(os.path.join(_p, "ex00.py")).read(), "ex00.py", "exec"))
        break


def check_call_chain(*a, **k):
    return None


hidden_call_chain = check_handle = hidden_handle = check_call_chain
'''


def build(ctx):
    return Submission(blank_answers(release()), files={
        "msglib/__init__.py": INIT.encode(), "msglib/grading/__init__.py": GRADING.encode(),
        "msglib/grading/ex00.py": EX00.encode()})
