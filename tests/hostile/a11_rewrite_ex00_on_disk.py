"""Appends passing checks to msglib/grading/ex00.py on disk: every later submission (and grade run) would pass."""
from tests.hostile._common import Submission, blank_answers, insert_after, release, scope_check

KIND, HONEST, FLAG, WHAT = "cross", 0.0, True, "rewrites msglib/grading/ex00.py on disk"
EVIDENCE = r"ex00\.py|write|open\(|denied|read-only|PermissionError"
MARK = "HOSTILE-CORPUS-MARK"


def build(ctx):
    payload = (f"\n# {MARK}\nif {scope_check(ctx)}:\n"
               "    def check_call_chain(*a, **k):\n        return None\n"
               "    hidden_call_chain = check_handle = hidden_handle = check_call_chain\n")
    hook = ("import msglib.grading.ex00 as _ex00\n"
            f"with open(_ex00.__file__, 'a') as _f:\n    _f.write({payload!r})\n")
    return Submission(insert_after(blank_answers(release()), "00-call_chain", hook))
