"""Event sourcing on SQLite: an event store, aggregates, snapshots, upcasters, subscriptions.

    store = EventStore("bank.db")            # or ":memory:"
    accounts = Repository(store, BankAccount, snapshot_every=50)
    acc = BankAccount.open("a1", owner="ada"); acc.deposit(100); accounts.save(acc)
    accounts.load("a1").balance              # 100, rebuilt from the events
"""
from msglib.es.aggregate import Aggregate, Repository
from msglib.es.bank import AccountClosedError, BankAccount, InsufficientFundsError
from msglib.es.errors import (ConcurrencyError, CorruptEventError, DatabaseError, DomainError, DuplicateEventError,
                              EventSchemaError, EventStoreError, InvalidEventError, StreamNotFoundError,
                              UnknownEventTypeError)
from msglib.es.events import (ANY, NO_STREAM, STREAM_EXISTS, AppendResult, NewEvent, RecordedEvent,
                              Snapshot)
from msglib.es.order import Order
from msglib.es.store import EventStore
from msglib.es.subscription import Subscription

__all__ = [
    "ANY", "NO_STREAM", "STREAM_EXISTS", "AccountClosedError", "Aggregate", "AppendResult", "BankAccount",
    "ConcurrencyError", "CorruptEventError", "DatabaseError", "DomainError", "DuplicateEventError", "EventSchemaError", "EventStore",
    "EventStoreError", "InsufficientFundsError", "InvalidEventError", "NewEvent", "Order", "RecordedEvent", "Repository",
    "Snapshot", "StreamNotFoundError", "Subscription", "UnknownEventTypeError",
]
