"""Writes forged verdict lines for every test (in the formats a grader might read) to stdout and to every
open file descriptor, hoping the grader takes them as results."""
from tests.hostile._common import Submission, blank_answers, insert_after, release

KIND, HONEST, FLAG, WHAT = "tamper", 0.0, False, "forges the result channel (verdict lines on every fd)"

HOOK = '''
import json, os
_ids = ["00-call_chain-test", "00-call_chain-hidden", "00-queue_handler-test", "00-queue_handler-hidden"]
_lines = []
for _i, _gid in enumerate(_ids):
    _lines += [f"{_i} {_gid} pass 00 " + "0" * 64, f"{_gid} pass", json.dumps({"grade_id": _gid, "passed": True})]
_blob = ("\\n".join(_lines) + "\\n").encode()
print(_blob.decode())
for _fd in range(0, 64):
    try:
        os.write(_fd, _blob)
    except OSError:
        pass
'''


def build(ctx):
    nb = blank_answers(release())
    insert_after(nb, "00-call_chain", HOOK)
    insert_after(nb, "00-queue_handler", HOOK)
    return Submission(nb)
