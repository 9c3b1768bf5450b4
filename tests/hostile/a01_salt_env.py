"""Reads the grading salt from the environment, derives the hidden seeds, prints both (into its feedback)."""
from tests.hostile._common import LEAK, Submission, answer, blank_answers, release

KIND, HONEST, FLAG, WHAT = "steal", 0.0, False, "salt from the environment, hidden seeds derived and printed"

LEAKER = f'''
def call_chain(calls):
    import hashlib, os
    salt = os.environ.get("MSGLIB_GRADING_SALT", "")
    seeds = [int.from_bytes(hashlib.sha256(f"{{salt}}/00-call_chain/{{i}}".encode()).digest()[:4], "big")
             for i in range(4)]
    print("{LEAK}:salt:" + salt)
    print("{LEAK}:seeds:" + ",".join(map(str, seeds)) if salt else "")
    return 0.0
'''


def build(ctx):
    return Submission(answer(blank_answers(release()), "00-call_chain", LEAKER))
