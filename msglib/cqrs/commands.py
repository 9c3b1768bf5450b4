"""The write side: commands and the handler that turns them into events.

A command is a request ("deposit 50 into a1"); it may be refused. Handling
one is always the same four steps:

    validate  - the command's own fields (types, ranges), before any I/O;
    load      - the aggregate's events from the store (its current state);
    decide    - call the aggregate's method: it checks invariants and records events;
    append    - with expected_version = the version that was loaded.

If another writer appended in between, the append raises ConcurrencyError
and the handler starts again from *load* (the decision may now differ, e.g.
the balance is lower). ``append_with_retry`` is that loop; it is the seam the
course's exercise replaces.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field, fields
from typing import Any, Callable

from msglib.es.aggregate import Aggregate
from msglib.es.bank import BankAccount
from msglib.es.errors import ConcurrencyError, DomainError
from msglib.es.events import NO_STREAM, AppendResult, NewEvent, RecordedEvent
from msglib.es.order import Order
from msglib.es.store import EventStore

Decide = Callable[[list[RecordedEvent]], list[NewEvent]]


def append_with_retry(store: EventStore, stream: str, decide: Decide, max_attempts: int = 5) -> AppendResult | None:
    """Read the stream, decide new events from it, append them expecting the
    version that was read; on ConcurrencyError read again and decide again.

    Returns the AppendResult (None if ``decide`` returned no events). After
    ``max_attempts`` conflicts the last ConcurrencyError is raised: a caller
    never gets a silent "ok" for a write that did not happen.
    """
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
    for attempt in range(1, max_attempts + 1):
        history = store.read_stream(stream)
        new_events = decide(history)
        if not new_events:
            return None
        version = history[-1].version if history else 0
        try:
            return store.append(stream, new_events, expected_version=version if version else NO_STREAM)
        except ConcurrencyError:
            if attempt == max_attempts:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


class CommandRejected(DomainError):
    """A command was refused; the message says which command and why. Nothing was recorded."""

    def __init__(self, command: "Command", reason: str) -> None:
        self.command = command
        self.reason = reason
        super().__init__(f"{command!r} refused: {reason}")


@dataclass(frozen=True)
class Command:
    # Every command carries an id: events it causes get it as causation and correlation id.
    command_id: str = field(default_factory=lambda: str(uuid.uuid4()), kw_only=True, repr=False)


@dataclass(frozen=True)
class OpenAccount(Command):
    account_id: str
    owner: str


@dataclass(frozen=True)
class Deposit(Command):
    account_id: str
    amount: int


@dataclass(frozen=True)
class Withdraw(Command):
    account_id: str
    amount: int


@dataclass(frozen=True)
class CloseAccount(Command):
    account_id: str


@dataclass(frozen=True)
class PlaceOrder(Command):
    order_id: str
    user_id: str
    items: tuple  # of {"sku", "qty", "price"} dicts


@dataclass(frozen=True)
class PayOrder(Command):
    order_id: str
    amount: int


@dataclass(frozen=True)
class ShipOrder(Command):
    order_id: str


@dataclass(frozen=True)
class CancelOrder(Command):
    order_id: str
    reason: str = ""


# command -> (aggregate class, id field, what to do with the aggregate)
_ROUTES: dict[type, tuple[type[Aggregate], str, Callable[[Any, Any], Aggregate | None]]] = {
    OpenAccount: (BankAccount, "account_id", lambda acc, c: BankAccount.open(c.account_id, c.owner)),
    Deposit: (BankAccount, "account_id", lambda acc, c: acc.deposit(c.amount)),
    Withdraw: (BankAccount, "account_id", lambda acc, c: acc.withdraw(c.amount)),
    CloseAccount: (BankAccount, "account_id", lambda acc, c: acc.close()),
    PlaceOrder: (Order, "order_id", lambda o, c: Order.place(c.order_id, c.user_id, list(c.items))),
    PayOrder: (Order, "order_id", lambda o, c: o.pay(c.amount)),
    ShipOrder: (Order, "order_id", lambda o, c: o.ship()),
    CancelOrder: (Order, "order_id", lambda o, c: o.cancel(c.reason)),
}
_CREATES = (OpenAccount, PlaceOrder)


class CommandHandler:
    """Handles the bank and order commands over one event store."""

    def __init__(self, store: EventStore, *, append: Callable[..., AppendResult | None] = append_with_retry,
                 max_attempts: int = 5) -> None:
        self.store = store
        self.append = append
        self.max_attempts = max_attempts

    def handle(self, command: Command) -> AppendResult | None:
        """Validate, load, decide, append. Returns where the events went (use its
        ``last_position`` to wait for the read side); raises CommandRejected."""
        route = _ROUTES.get(type(command))
        if route is None:
            known = ", ".join(sorted(c.__name__ for c in _ROUTES))
            raise TypeError(f"no handler for command {type(command).__name__}; known commands: {known}")
        _validate(command)
        cls, id_field, act = route
        aggregate_id = getattr(command, id_field)
        stream = f"{cls.stream_prefix}-{aggregate_id}"

        def decide(history: list[RecordedEvent]) -> list[NewEvent]:
            if isinstance(command, _CREATES):
                if history:
                    raise CommandRejected(command, f"{stream!r} already exists (version {history[-1].version})")
                created = act(None, command)
                return created.collect_pending()
            if not history:
                raise CommandRejected(command, f"{stream!r} does not exist; create it first")
            aggregate = cls.replay(aggregate_id, history)
            act(aggregate, command)
            return aggregate.collect_pending()

        try:
            return self.append(_Tagged(self.store, command.command_id), stream, decide, self.max_attempts)
        except CommandRejected:
            raise
        except DomainError as exc:
            raise CommandRejected(command, str(exc)) from exc


class _Tagged:
    """The store, as seen by ``append``: every append is tagged with the command's id."""

    def __init__(self, store: EventStore, command_id: str) -> None:
        self._store = store
        self._command_id = command_id

    def append(self, stream: str, events: Any, expected_version: Any = "any", **kwargs: Any) -> AppendResult:
        kwargs.setdefault("correlation_id", self._command_id)
        kwargs.setdefault("causation_id", self._command_id)
        return self._store.append(stream, events, expected_version, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def _validate(command: Command) -> None:
    for f in fields(command):
        value = getattr(command, f.name)
        if f.name.endswith("_id") and (not isinstance(value, str) or not value):
            raise CommandRejected(command, f"{f.name} must be a non-empty string, got {value!r}")
    amount = getattr(command, "amount", None)
    if amount is not None and (isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0):
        raise CommandRejected(command, f"amount must be a positive integer (cents), got {amount!r}")
