"""Writes an IPython startup file into the home directory: every later kernel patches module 00's checks."""
from tests.hostile._common import Submission, blank_answers, insert_after, release
from tests.hostile.a12_pth_in_venv import payload

KIND, HONEST, FLAG, WHAT = "cross", 0.0, True, "an IPython startup file in the home directory"
EVIDENCE = r"startup|\.ipython|write|open"


def build(ctx):
    hook = (f"import os\n_payload = {payload(ctx)!r}\n"
            "_dir = os.path.join(get_ipython().profile_dir.location, 'startup')\n"
            "try:\n    os.makedirs(_dir, exist_ok=True)\n"
            f"    open(os.path.join(_dir, '00-hostile-{ctx.token}.py'), 'w').write(_payload)\n"
            "except OSError as exc:\n    print('refused', exc)\n")
    return Submission(insert_after(blank_answers(release()), "00-call_chain", hook))
