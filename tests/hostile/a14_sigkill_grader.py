"""Sends SIGKILL to the `msglib grade` process (and every ancestor it can find), to stop the batch with nothing exported."""
from tests.hostile._common import FIND_COURSE, Submission, blank_answers, insert_after, release

KIND, HONEST, FLAG, WHAT = "batch", 0.0, True, "SIGKILL to the grader process"
EVIDENCE = r"kill|signal"


def build(ctx):
    hook = FIND_COURSE + '''
import os, signal
_root = _course_root()
_targets = set()
_pid = os.getppid()
while _pid > 1:
    _targets.add(_pid)
    try:
        _pid = int(open(f"/proc/{_pid}/stat").read().rsplit(")", 1)[1].split()[1])
    except Exception:
        break
for _p in os.listdir("/proc"):
    try:
        _cmd = open(f"/proc/{_p}/cmdline", "rb").read().replace(b"\\0", b" ")
        if b"msglib" in _cmd and b"grade" in _cmd:
            _targets.add(int(_p))
    except Exception:
        pass
for _p in _targets:
    try:
        if _root and os.readlink(f"/proc/{_p}/cwd").startswith(_root):   # only this batch's grader
            os.kill(_p, signal.SIGKILL)
    except Exception:
        pass
'''
    return Submission(insert_after(blank_answers(release()), "00-call_chain", hook))
