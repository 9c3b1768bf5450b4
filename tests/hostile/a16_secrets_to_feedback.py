"""Prints every secret it can reach into its own outputs, hence its feedback: the salt, the hidden seeds, the
hidden-case key, and the hidden test cell's source (from IPython's input history)."""
from tests.hostile._common import LEAK, Submission, answer, blank_answers, release

KIND, HONEST, FLAG, WHAT = "steal", 0.0, False, "prints the salt, hidden seeds and hidden test source into feedback"

LEAKER = f'''
def call_chain(calls):
    import os, sys
    print("{LEAK}:salt:" + os.environ.get("MSGLIB_GRADING_SALT", ""))
    try:
        from msglib.grading import core
        print("{LEAK}:seeds:" + ",".join(map(str, core.seeds("00-call_chain", 4, hidden=True))))
        print("{LEAK}:key:" + str(getattr(core, "_hidden", {{}}).get("key")))
    except BaseException as exc:
        print("no seeds", type(exc).__name__)
    try:
        history = get_ipython().user_ns.get("In", [])
        if history and "hidden" in history[-1]:
            print("{LEAK}:source:" + history[-1])
    except BaseException:
        pass
    frame = sys._getframe()
    while frame is not None:
        if "hidden_" in (frame.f_code.co_name or ""):
            print("{LEAK}:frame:" + frame.f_code.co_name + ":" + repr(frame.f_locals.get("seed")))
        frame = frame.f_back
    return 0.0
'''


def build(ctx):
    return Submission(answer(blank_answers(release()), "00-call_chain", LEAKER))
