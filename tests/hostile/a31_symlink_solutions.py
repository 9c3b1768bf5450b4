"""Ships a symlink to the course's solutions/ folder and runs the instructor's answers through it."""
from tests.hostile._common import MODULE, Submission, answer, release

KIND, HONEST, FLAG, WHAT = "cheat", 0.0, True, "a symlink to solutions/ inside the submission"
EVIDENCE = r"link"

STEAL = '''
import json, os


def call_chain(calls):
    return 0.0


def handle(message, service, forward):
    return True


for _path in [os.path.join("answers", f) for f in (os.listdir("answers") if os.path.isdir("answers") else [])]:
    for _c in json.load(open(_path)).get("cells", []):
        _src = "".join(_c["source"])
        if _c["cell_type"] == "code" and ("def call_chain(" in _src or "def handle(" in _src):
            exec("\\n".join(l for l in _src.splitlines() if "### " not in l), globals())
'''


def build(ctx):
    nb = release()
    answer(nb, "00-call_chain", STEAL)
    answer(nb, "00-queue_handler", "pass\n")
    return Submission(nb, symlinks={"answers": f"../../../solutions/{MODULE}"})
