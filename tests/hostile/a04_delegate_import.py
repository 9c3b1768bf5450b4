"""Both answers import msglib's own implementation of the exercise (``from msglib.chain import call_chain``)."""
from tests.hostile._common import Submission, answer, release

KIND, HONEST, FLAG, WHAT = "cheat", 0.0, True, "delegates to msglib.chain.call_chain / handle by import"
EVIDENCE = r"msglib's own|msglib\.chain"


def build(ctx):
    nb = release()
    answer(nb, "00-call_chain", "from msglib.chain import call_chain\n")
    answer(nb, "00-queue_handler", "from msglib.chain import handle\n")
    return Submission(nb)
