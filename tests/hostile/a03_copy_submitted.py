"""At grade time, finds another student's submission in submitted/ and runs its answer cells as its own."""
from tests.hostile._common import FIND_COURSE, Submission, answer, release

KIND, HONEST, FLAG, WHAT = "cheat", 0.0, False, "copies another student's notebook from submitted/"

STEAL = FIND_COURSE + '''
def _copy(name):
    import glob, json, os
    root = _course_root()
    for path in sorted(glob.glob(os.path.join(root or "/nonexistent", "submitted", "*", "00_why_messaging", "*.ipynb"))):
        try:
            cells = json.load(open(path))["cells"]
        except Exception:
            continue
        for c in cells:
            src = "".join(c["source"])
            if c["cell_type"] == "code" and f"def {name}(" in src and "NotImplementedError" not in src \\
                    and "return 0.0" not in src and "_copy(" not in src:
                try:
                    exec(src, globals())
                    return
                except Exception:
                    pass


def call_chain(calls):
    return 0.0


def handle(message, service, forward):
    return True


_copy("call_chain")
_copy("handle")
'''


def build(ctx):
    nb = release()
    answer(nb, "00-call_chain", STEAL)
    answer(nb, "00-queue_handler", STEAL.replace('_copy("call_chain")\n', ""))
    return Submission(nb)
