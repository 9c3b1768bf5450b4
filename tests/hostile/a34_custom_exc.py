"""Tells IPython to swallow every exception (set_custom_exc), so failing test cells show no error."""
from tests.hostile._common import Submission, blank_answers, prepend, release

KIND, HONEST, FLAG, WHAT = "tamper", 0.0, True, "IPython set_custom_exc swallows failures"
EVIDENCE = r"custom_exc|IPython"

HOOK = '''
def _swallow(shell, etype, value, tb, tb_offset=None):
    return None


get_ipython().set_custom_exc((BaseException,), _swallow)
'''


def build(ctx):
    return Submission(prepend(blank_answers(release()), HOOK))
