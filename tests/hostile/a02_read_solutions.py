"""At grade time, finds the course's solutions/ folder and runs the instructor's answer cells as its own."""
from tests.hostile._common import FIND_COURSE, Submission, answer, release

KIND, HONEST, FLAG, WHAT = "cheat", 0.0, False, "reads solutions/ at grade time"

STEAL = FIND_COURSE + '''
def _steal(name):
    import glob, json, os, re
    root = _course_root()
    for path in glob.glob(os.path.join(root or "/nonexistent", "solutions", "00_why_messaging", "*.ipynb")):
        for c in json.load(open(path))["cells"]:
            src = "".join(c["source"])
            if c["cell_type"] == "code" and f"def {name}(" in src:
                src = "\\n".join(l for l in src.splitlines() if "### " not in l)
                exec(src, globals())
                return


def call_chain(calls):
    return 0.0


def handle(message, service, forward):
    return True


_steal("call_chain")
_steal("handle")
'''


def build(ctx):
    nb = release()
    answer(nb, "00-call_chain", STEAL)
    answer(nb, "00-queue_handler", STEAL.replace('_steal("call_chain")\n', ""))
    return Submission(nb)
