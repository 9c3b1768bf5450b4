"""Registers an IPython input transformer that turns every test cell into ``pass`` before it runs."""
from tests.hostile._common import Submission, blank_answers, prepend, release

KIND, HONEST, FLAG, WHAT = "tamper", 0.0, True, "IPython input transformer turns test cells into pass"
EVIDENCE = r"transformer|get_ipython|IPython"

HOOK = '''
def _neutralise(lines):
    return ["pass\\n"] if any("ex00." in line for line in lines) else lines


ip = get_ipython()
ip.input_transformers_cleanup.append(_neutralise)
ip.input_transformers_post.append(_neutralise)
'''


def build(ctx):
    return Submission(prepend(blank_answers(release()), HOOK))
