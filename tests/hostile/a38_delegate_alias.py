"""The answers are msglib's own functions bound to the answer names (no def at all)."""
from tests.hostile._common import Submission, answer, release

KIND, HONEST, FLAG, WHAT = "cheat", 0.0, True, "binds msglib.chain's functions as the answers"
EVIDENCE = r"msglib's own|msglib\.chain"


def build(ctx):
    nb = release()
    answer(nb, "00-call_chain", "import msglib.chain\ncall_chain = msglib.chain.call_chain\n")
    answer(nb, "00-queue_handler", "import msglib.chain\nhandle = msglib.chain.handle\n")
    return Submission(nb)
