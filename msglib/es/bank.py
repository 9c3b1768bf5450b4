"""The course's bank account: an event-sourced aggregate with four events.

Events (data fields):
    AccountOpened  {owner}
    MoneyDeposited {amount, transfer_id?}
    MoneyWithdrawn {amount, transfer_id?}
    AccountClosed  {}

Amounts are integers (cents): floats would make "balance == fold(events)"
depend on the order of additions.

Invariants, each refused with a DomainError that says why:
    an account is opened once, before anything else;
    amounts are positive integers;
    no withdrawal beyond the balance (no overdraft);
    a closed account accepts nothing; only an empty account can be closed.

``transfer_id`` makes transfer steps idempotent: a deposit or withdrawal for
a transfer id the account has already seen records nothing and succeeds.
That check comes *before* every rule about the account's current state: a
step that already happened is a success whatever the state is now. (A saga
that crashed after its credit replays the step after the target was emptied
and closed; answering "closed" there would make the saga compensate a
transfer that went through, and create money.)
"""
from __future__ import annotations

from typing import Any

from msglib.es.aggregate import Aggregate
from msglib.es.errors import DomainError


class AccountClosedError(DomainError):
    pass


class InsufficientFundsError(DomainError):
    pass


class BankAccount(Aggregate):
    stream_prefix = "account"

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.owner: str | None = None
        self.balance = 0
        self.opened = False
        self.closed = False
        self.transfers: set[str] = set()  # transfer ids (and refund ids) already applied

    # -- commands: check invariants, then record --------------------------------
    @classmethod
    def open(cls, id: str, owner: str) -> "BankAccount":
        if not isinstance(owner, str) or not owner:
            raise DomainError(f"account {id!r}: owner must be a non-empty string, got {owner!r}")
        account = cls(id)
        account.record("AccountOpened", owner=owner)
        return account

    def deposit(self, amount: int, transfer_id: str | None = None) -> None:
        _check_amount(self.id, amount)
        if transfer_id is not None and transfer_id in self.transfers:
            return  # this step already happened: a success, whatever the account's state is now
        self._check_usable("deposit")
        self.record("MoneyDeposited", amount=amount, **({"transfer_id": transfer_id} if transfer_id else {}))

    def withdraw(self, amount: int, transfer_id: str | None = None) -> None:
        _check_amount(self.id, amount)
        if transfer_id is not None and transfer_id in self.transfers:
            return  # already happened (see deposit): checked before closed/balance
        self._check_usable("withdraw")
        if amount > self.balance:
            raise InsufficientFundsError(
                f"account {self.id!r}: cannot withdraw {amount}, the balance is {self.balance} "
                f"(no overdraft allowed)")
        self.record("MoneyWithdrawn", amount=amount, **({"transfer_id": transfer_id} if transfer_id else {}))

    def close(self) -> None:
        self._check_usable("close")
        if self.balance != 0:
            raise DomainError(f"account {self.id!r}: cannot close with balance {self.balance}; "
                              f"withdraw or transfer the remaining {self.balance} first")
        self.record("AccountClosed")

    def _check_usable(self, action: str) -> None:
        if not self.opened:
            raise DomainError(f"account {self.id!r} was never opened; open it before you {action}")
        if self.closed:
            raise AccountClosedError(f"account {self.id!r} is closed, so it cannot {action}; "
                                     f"a closed account accepts no deposits, withdrawals or closing")

    # -- event handlers: change state, never refuse -------------------------------
    def when_AccountOpened(self, data: dict[str, Any]) -> None:
        self.owner = data["owner"]
        self.opened = True

    def when_MoneyDeposited(self, data: dict[str, Any]) -> None:
        self.balance += data["amount"]
        if "transfer_id" in data:
            self.transfers.add(data["transfer_id"])

    def when_MoneyWithdrawn(self, data: dict[str, Any]) -> None:
        self.balance -= data["amount"]
        if "transfer_id" in data:
            self.transfers.add(data["transfer_id"])

    def when_AccountClosed(self, data: dict[str, Any]) -> None:
        self.closed = True

    # -- snapshots -----------------------------------------------------------------
    def snapshot_state(self) -> dict[str, Any]:
        return {"owner": self.owner, "balance": self.balance, "opened": self.opened,
                "closed": self.closed, "transfers": sorted(self.transfers)}

    @classmethod
    def from_snapshot(cls, id: str, version: int, state: dict[str, Any]) -> "BankAccount":
        account = cls(id)
        account.owner = state["owner"]
        account.balance = state["balance"]
        account.opened = state["opened"]
        account.closed = state["closed"]
        account.transfers = set(state["transfers"])
        account.version = version
        return account


def _check_amount(account_id: str, amount: Any) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise DomainError(f"account {account_id!r}: amount must be a positive integer (cents), got {amount!r}")
