"""``python -m msglib <command>``: the course's command line.

    doctor                 check this machine's setup and say how to fix what is wrong
    check PATH...          learner self-check: run your notebook(s), report each exercise
    release [MODULE...]    instructor: generate notebooks/ from solutions/ with nbgrader
    grade [MODULE...]      instructor: autograde submitted/, export grades, write feedback
    feedback [MODULE...]   instructor, after hand-grading in Formgrader: feedback and grades with the hand grades
    serve [--port 9092]    a Kafka wire-protocol broker on msglib's log, for real Kafka clients
"""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m msglib", description="msglib course tools")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("doctor", help="check Python, packages, the kernel and the Jupyter extensions")
    chk = sub.add_parser("check", help="run your notebook(s) and report each exercise")
    chk.add_argument("paths", nargs="+", help="a notebook or a module folder, e.g. notebooks/00_why_messaging")
    chk.add_argument("--timeout", type=int, default=120, help="seconds per cell (default 120)")
    rel = sub.add_parser("release", help="generate the student release notebooks/ from solutions/")
    rel.add_argument("modules", nargs="*", help="module ids (default: all)")
    grd = sub.add_parser("grade", help="autograde every submission in submitted/, export grades and feedback")
    grd.add_argument("modules", nargs="*", help="module ids (default: every module that has submissions)")
    grd.add_argument("--student-timeout", type=int, default=900,
                     help="wall-clock seconds allowed per submission before it is stopped (default 900)")
    grd.add_argument("--no-verify", action="store_true", help="skip the independent re-run of each submission")
    grd.add_argument("--out", default="grades", help="folder for the CSV files and the report (default grades/)")
    grd.add_argument("-j", "--jobs", type=int, default=None,
                     help="submissions graded at the same time (default: the number of cores)")
    grd.add_argument("--no-sandbox", action="store_true",
                     help="grade without bubblewrap (student code runs as you; every report says so)")
    grd.add_argument("--hidden-feedback", choices=["none", "summary", "full"], default="summary",
                     help="what a failed hidden test shows in feedback: nothing, the property that failed "
                          "in words (default), or words and hint; never seeds, inputs or test source")
    grd.add_argument("--on-tamper", choices=["zero", "review"], default="review",
                     help="an exercise with tampering evidence: hold it for review (default) or score it 0")
    grd.add_argument("--memory-limit", type=float, default=2.0,
                     help="address-space limit of each sandboxed process, in GiB (default 2)")
    fb = sub.add_parser("feedback", help="after hand-grading in Formgrader: write feedback/ and grades/grades.csv")
    fb.add_argument("modules", nargs="*", help="module ids (default: every module with autograded submissions)")
    srv = sub.add_parser("serve", help="a Kafka wire-protocol broker on msglib's log (docs/wire-protocol.md)")
    from msglib.wire.cli import add_arguments
    add_arguments(srv)
    args = parser.parse_args(argv)
    if args.cmd == "serve":
        from msglib.wire.cli import run
        return run(args)
    from msglib.cli_args import problem
    bad = problem(args)   # one clear line and exit status 2 for a bad argument, never a traceback
    if bad:
        print(f"error: {bad}", file=sys.stderr)
        return 2

    if args.cmd == "doctor":
        from msglib.doctor import main as doctor
        return doctor()
    if args.cmd == "check":
        from msglib.grading.selfcheck import main as check
        return check(args.paths, timeout=args.timeout)
    if args.cmd == "feedback":
        from msglib.grading.feedback import main as feedback
        return feedback(args.modules)
    if args.cmd == "release":
        from msglib.grading.pipeline import release
        return release(args.modules)
    from msglib.grading.pipeline import grade
    from msglib.grading.sandbox import Limits
    if args.jobs is not None and args.jobs < 1:
        print("error: -j/--jobs must be at least 1", file=sys.stderr)
        return 2
    if args.memory_limit <= 0:
        print("error: --memory-limit must be a positive number of GiB, e.g. 2", file=sys.stderr)
        return 2
    return grade(args.modules, student_timeout=args.student_timeout, verify=not args.no_verify, out=args.out,
                 jobs=args.jobs, sandboxed=not args.no_sandbox, hidden_feedback=args.hidden_feedback,
                 on_tamper=args.on_tamper, limits=Limits(memory_bytes=int(args.memory_limit * (1 << 30))))


if __name__ == "__main__":
    sys.exit(main())
