"""Prints every environment variable that looks secret (salt, key, token, password, msglib settings)."""
from tests.hostile._common import LEAK, Submission, blank_answers, insert_after, release

KIND, HONEST, FLAG, WHAT = "steal", 0.0, False, "os.environ inspection"

HOOK = f'''
import os
for _k, _v in sorted(os.environ.items()):
    if any(w in _k.upper() for w in ("SALT", "KEY", "TOKEN", "SECRET", "PASSW")):
        print("{LEAK}:env:" + _k + "=" + _v)
'''


def build(ctx):
    return Submission(insert_after(blank_answers(release()), "00-call_chain", HOOK))
