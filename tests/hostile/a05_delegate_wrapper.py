"""Both answers are functions that only call msglib's implementation, through a helper in another cell."""
from tests.hostile._common import Submission, answer, prepend, release

KIND, HONEST, FLAG, WHAT = "cheat", 0.0, True, "delegates to msglib through wrappers and a helper cell"
EVIDENCE = r"msglib's own|msglib\.chain|independent re-run"


def build(ctx):
    nb = release()
    prepend(nb, "import msglib.chain as _impl\n\ndef _helper(*args):\n    return _impl.call_chain(*args)\n")
    answer(nb, "00-call_chain", "def call_chain(calls):\n    return _helper(calls)\n")
    answer(nb, "00-queue_handler", "def handle(message, service, forward):\n"
                                   "    return _impl.handle(message, service, forward)\n")
    return Submission(nb)
