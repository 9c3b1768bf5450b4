"""A money transfer between two bank accounts as an orchestrated saga.

Two appends to two streams are two transactions: if the process dies after
the debit and before the credit, the money has left one account and arrived
nowhere (``transfer_without_saga`` shows it). A saga makes the transfer a
sequence of *local* steps, each committed on its own, with its progress
stored as events in its own stream ``transfer-<id>``:

    started --debit--> debited --credit--> credited --complete--> completed
       |                  |
       | debit refused    | credit refused
       v                  v
    debit_failed      credit_failed --refund--> refunded --fail--> failed
       |                  | refund refused
       +--fail--> failed  v
                        stuck (the money is owed; only a person can settle it)

Rules that make it safe to crash and resume anywhere:

* every step is idempotent: the account remembers the step's id
  (``<transfer id>:debit`` / ``:credit`` / ``:refund``), so running a step
  twice changes the balance once. The account answers "already done"
  *before* it looks at its current state: a step replayed after the account
  was closed in between is a success, not a refusal (a refusal there would
  compensate a transfer that went through and create money);
* the saga records a step's outcome *after* the step committed; a crash in
  between means the step runs again on resume, harmlessly;
* a refused credit is compensated by refunding the source (compensations
  run in reverse order of the steps: here there is only one to undo).

``msglib.check.saga`` judges a finished run by the account events each step
caused: money conserved, each step applied once, an honest status.

``next_step(transfer)`` - which step comes next in each state - is the
seam the course's exercise replaces. ``fault(point)`` is called at every
point where a crash or a refusal can be injected.
"""
from __future__ import annotations

from typing import Any, Callable

from msglib.es.aggregate import Aggregate, Repository
from msglib.es.bank import BankAccount
from msglib.es.errors import DomainError, StreamNotFoundError
from msglib.es.events import NO_STREAM
from msglib.es.store import EventStore

TERMINAL = ("completed", "failed", "stuck")


class InjectedCrash(Exception):
    """Raised by a fault hook to simulate the process dying at that point."""


class Transfer(Aggregate):
    """The saga's persisted state (an event-sourced aggregate of its own)."""

    stream_prefix = "transfer"

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.source = ""
        self.target = ""
        self.amount = 0
        self.status = "new"
        self.reason = ""

    def when_TransferStarted(self, d: dict[str, Any]) -> None:
        self.source, self.target, self.amount, self.status = d["source"], d["target"], d["amount"], "started"

    def when_SourceDebited(self, d: dict[str, Any]) -> None:
        self.status = "debited"

    def when_SourceDebitFailed(self, d: dict[str, Any]) -> None:
        self.status, self.reason = "debit_failed", d["reason"]

    def when_TargetCredited(self, d: dict[str, Any]) -> None:
        self.status = "credited"

    def when_TargetCreditFailed(self, d: dict[str, Any]) -> None:
        self.status, self.reason = "credit_failed", d["reason"]

    def when_SourceRefunded(self, d: dict[str, Any]) -> None:
        self.status = "refunded"

    def when_SourceRefundFailed(self, d: dict[str, Any]) -> None:
        # The compensation itself was refused (e.g. the source was closed meanwhile):
        # only an operator can settle this; the saga stops and says so.
        self.status, self.reason = "stuck", d["reason"]

    def when_TransferCompleted(self, d: dict[str, Any]) -> None:
        self.status = "completed"

    def when_TransferFailed(self, d: dict[str, Any]) -> None:
        self.status = "failed"


def next_step(transfer: Transfer) -> str | None:
    """msglib's orchestration: the next step for the saga's current status
    (None once it is finished). Steps: debit, credit, refund, complete, fail."""
    return {
        "started": "debit",
        "debited": "credit",
        "credited": "complete",
        "debit_failed": "fail",       # nothing was taken: nothing to compensate
        "credit_failed": "refund",    # undo the debit before failing
        "refunded": "fail",
    }.get(transfer.status)


STEPS = ("debit", "credit", "refund", "complete", "fail")


class TransferSagas:
    """Starts, runs and resumes transfer sagas over one event store."""

    def __init__(self, store: EventStore, *, next_step: Callable[[Transfer], str | None] = next_step,
                 fault: Callable[[str], None] | None = None, max_steps: int = 20) -> None:
        self.store = store
        self.accounts = Repository(store, BankAccount)
        self.transfers = Repository(store, Transfer)
        self.next_step = next_step
        self.fault = fault or (lambda point: None)
        self.max_steps = max_steps

    def start(self, transfer_id: str, source: str, target: str, amount: int) -> Transfer:
        """Record the intent (idempotent: starting the same transfer twice is one transfer)."""
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise DomainError(f"transfer {transfer_id!r}: amount must be a positive integer (cents), got {amount!r}")
        if source == target:
            raise DomainError(f"transfer {transfer_id!r}: source and target are the same account {source!r}")
        transfer = Transfer(transfer_id)
        transfer.record("TransferStarted", event_id=_step_id(transfer_id, "start"),
                        source=source, target=target, amount=amount)
        self.store.append(transfer.stream, transfer.pending, NO_STREAM)
        transfer.pending = []
        return transfer

    def run(self, transfer_id: str) -> Transfer:
        """Drive the saga until it finishes. Safe to call again after a crash at any point."""
        transfer = self.transfers.load(transfer_id)
        for _ in range(self.max_steps):
            step = self.next_step(transfer)
            if step is None:
                return transfer
            if step not in STEPS:
                raise ValueError(f"next_step returned {step!r} for status {transfer.status!r}; "
                                 f"expected one of {STEPS} or None")
            self.fault(f"before_{step}")
            outcome, data = self._perform(transfer, step)
            self.fault(f"after_{step}")   # the step committed; its outcome is not recorded yet
            transfer.record(outcome, event_id=_step_id(transfer_id, step), **data)
            self.transfers.save(transfer)
        raise RuntimeError(f"transfer {transfer_id!r} took more than {self.max_steps} steps "
                           f"(status {transfer.status!r}); next_step is probably looping")

    def transfer(self, transfer_id: str, source: str, target: str, amount: int) -> Transfer:
        if not self.transfers.exists(transfer_id):
            self.start(transfer_id, source, target, amount)
        return self.run(transfer_id)

    def unfinished(self) -> list[str]:
        """Ids of sagas that have not reached a terminal status (to resume after a crash)."""
        ids = [s[len("transfer-"):] for s in self.store.streams("transfer-")]
        return [i for i in ids if self.transfers.load(i).status not in TERMINAL]

    def _perform(self, t: Transfer, step: str) -> tuple[str, dict[str, Any]]:
        """Run one step against the accounts; return the event that records its outcome."""
        if step == "debit":
            err = self._move(t.source, "withdraw", t.amount, _step_id(t.id, "debit"), step)
            return ("SourceDebitFailed", {"reason": err}) if err else ("SourceDebited", {})
        if step == "credit":
            err = self._move(t.target, "deposit", t.amount, _step_id(t.id, "credit"), step)
            return ("TargetCreditFailed", {"reason": err}) if err else ("TargetCredited", {})
        if step == "refund":
            err = self._move(t.source, "deposit", t.amount, _step_id(t.id, "refund"), step)
            return ("SourceRefundFailed", {"reason": err}) if err else ("SourceRefunded", {})
        if step == "complete":
            return "TransferCompleted", {}
        return "TransferFailed", {"reason": t.reason}

    def _move(self, account_id: str, method: str, amount: int, step_id: str, step: str) -> str | None:
        """Withdraw/deposit with the step id; return the refusal reason, or None on success."""
        try:
            self.fault(f"during_{step}")  # a fault may refuse the step with a DomainError
            account = self.accounts.load(account_id)
            getattr(account, method)(amount, transfer_id=step_id)
            self.accounts.save(account, correlation_id=step_id.split(":")[0], causation_id=step_id)
        except (DomainError, StreamNotFoundError) as exc:
            return str(exc)
        return None


def _step_id(transfer_id: str, step: str) -> str:
    return f"{transfer_id}:{step}"


def transfer_without_saga(store: EventStore, source: str, target: str, amount: int,
                          crash_between: bool = False) -> None:
    """Two separate appends, no saga: a crash between them loses the money."""
    accounts = Repository(store, BankAccount)
    src = accounts.load(source)
    src.withdraw(amount)
    accounts.save(src)
    if crash_between:
        raise InjectedCrash("the process died after the debit and before the credit")
    dst = accounts.load(target)
    dst.deposit(amount)
    accounts.save(dst)
