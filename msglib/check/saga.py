"""Checker for the transfer saga (msglib.patterns.saga): is money conserved, whatever happened?

A transfer ``t`` touches accounts only through its three step ids,
``t:debit``, ``t:credit`` and ``t:refund`` (the ``transfer_id`` of the
account events it caused). Owners may deposit, cash out and close accounts
in between; those events carry no transfer id and are not the saga's
business. So "the saga neither creates nor loses money" is a statement about
the step events alone, read from the store after the run:

* each step id is applied **at most once** (idempotent steps);
* the money the transfer moved nets to **zero** once it is settled:
  ``completed`` = debit and credit, no refund; ``failed`` = nothing, or a
  debit and its refund, never a credit;
* ``stuck`` (the refund itself was refused, e.g. the source was closed
  meanwhile) is the one state where the debit stands alone: the saga owes
  the amount and says so, for a person to settle. A saga that reports
  ``failed`` or ``completed`` in that state hides lost money;
* a saga that has not reached a terminal status is reported as unfinished.

The checker reads the account streams, not the balances: it holds however
many deposits, cash-outs and closes were interleaved with the saga's crashes.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from msglib.es.store import EventStore

STEPS = ("debit", "credit", "refund")


@dataclass
class TransferVerdict:
    """What one transfer did to the accounts, and what is wrong with it (``problems``; empty = fine)."""

    transfer_id: str
    status: str
    amount: int
    applied: Counter = field(default_factory=Counter)    # step -> how many account events carry its id
    net: int = 0                                          # money the step events added to all accounts
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _transfer(store: EventStore, transfer_id: str) -> tuple[str, int]:
    """The saga's status and amount, folded from its own stream (without msglib's Transfer class)."""
    status, amount = "new", 0
    to_status = {"TransferStarted": "started", "SourceDebited": "debited", "SourceDebitFailed": "debit_failed",
                 "TargetCredited": "credited", "TargetCreditFailed": "credit_failed", "SourceRefunded": "refunded",
                 "SourceRefundFailed": "stuck", "TransferCompleted": "completed", "TransferFailed": "failed"}
    for event in store.read_stream(f"transfer-{transfer_id}"):
        status = to_status.get(event.type, status)
        if event.type == "TransferStarted":
            amount = event.data["amount"]
    return status, amount


def check_transfer(store: EventStore, transfer_id: str) -> TransferVerdict:
    """Judge one transfer saga by the account events it caused (see the module docstring)."""
    status, amount = _transfer(store, transfer_id)
    verdict = TransferVerdict(transfer_id, status, amount)
    step_of = {f"{transfer_id}:{step}": step for step in STEPS}
    for stream in store.streams("account-"):
        for event in store.read_stream(stream):
            step = step_of.get(event.data.get("transfer_id", ""))
            if step is None:
                continue
            verdict.applied[step] += 1
            sign = 1 if event.type == "MoneyDeposited" else -1
            verdict.net += sign * event.data["amount"]
            if (step == "debit") != (event.type == "MoneyWithdrawn"):
                verdict.problems.append(f"{event.type} in {stream} carries the id of the {step} step")
    problems = verdict.problems
    for step, n in sorted(verdict.applied.items()):
        if n > 1:
            problems.append(f"the {step} step changed an account {n} times (a replayed step must be a no-op)")
    debit, credit, refund = (verdict.applied[s] > 0 for s in STEPS)
    if status == "completed":
        if not (debit and credit) or refund:
            problems.append(f"status 'completed' but debit={debit}, credit={credit}, refund={refund}: money was "
                            f"{'created' if verdict.net > 0 else 'lost' if verdict.net < 0 else 'moved wrongly'}")
    elif status == "failed":
        if credit:
            problems.append("status 'failed' but the target was credited")
        if debit and not refund:
            problems.append(f"status 'failed' but the source was debited {amount} and never refunded: the money "
                            f"is lost, and the saga hides it (it should stop as 'stuck' for a person to settle)")
        if refund and not debit:
            problems.append(f"status 'failed' but the source was refunded {amount} it never paid: money created")
    elif status == "stuck":
        if not debit or credit or refund:
            problems.append(f"status 'stuck' but debit={debit}, credit={credit}, refund={refund}; stuck means the "
                            f"debit stands and neither a credit nor a refund happened")
    else:
        problems.append(f"the saga stopped in status {status!r}, not completed, failed or stuck")
    expected_net = -amount if status == "stuck" else 0
    if status in ("completed", "failed", "stuck") and verdict.net != expected_net:
        problems.append(f"the transfer's account events add up to {verdict.net:+d}, expected {expected_net:+d}: "
                        f"money was {'created' if verdict.net > expected_net else 'lost'}")
    return verdict


def check_transfers(store: EventStore) -> list[TransferVerdict]:
    """Every transfer saga in ``store``, judged; the ones with problems first."""
    ids = [s[len("transfer-"):] for s in store.streams("transfer-")]
    verdicts = [check_transfer(store, i) for i in ids]
    return sorted(verdicts, key=lambda v: (v.ok, v.transfer_id))


__all__ = ["TransferVerdict", "check_transfer", "check_transfers"]
