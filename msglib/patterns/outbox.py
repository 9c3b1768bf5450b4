"""The transactional outbox: change the database and announce it, without a dual write.

The dual-write problem: a service that commits an order to its database and
*then* publishes ``OrderPlaced`` to a broker has two separate writes. A crash
between them loses the event (the order exists, nobody hears of it);
publishing first and committing second invents events for orders that never
existed (:func:`place_order_dual_write` shows the first).

The outbox makes the announcement part of the same database transaction::

    BEGIN
      INSERT INTO orders (...)                          -- the business change
      INSERT INTO outbox (event_id, ..., payload)       -- the event, as a row
    COMMIT                                              -- both, or neither

A separate **relay** then copies outbox rows to the broker, oldest first, and
marks each row published *after* the broker acknowledged the append::

    relay_once:  SELECT unpublished rows ORDER BY id  ->  for each row:
                 append to the topic  ->  UPDATE outbox SET published = 1

A crash between the append and the mark republishes that row on restart: the
relay is at-least-once, and the event's id travels with every copy (header
``id``) so that consumers dedupe (:mod:`msglib.patterns.idempotent`). Marking
*before* the append would turn that duplicate into a loss.

``relay_once(conn, topic, batch_size)`` is the seam: :class:`OutboxRelay` runs
any implementation of it under crashes and broker errors.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from msglib.log import Topic
from msglib.log.topic import RecordMetadata
from msglib.patterns.crash import CrashingConnection, Fault, InjectedCrash, connect, no_faults

OUTBOX_TABLE = """
CREATE TABLE IF NOT EXISTS outbox (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,   -- commit order = publish order
    event_id       TEXT    NOT NULL UNIQUE,             -- travels as header 'id': consumers dedupe by it
    aggregate_type TEXT    NOT NULL,
    aggregate_id   TEXT    NOT NULL,                    -- the record key: one aggregate, one partition, in order
    event_type     TEXT    NOT NULL,
    payload        TEXT    NOT NULL,                    -- JSON
    published      INTEGER NOT NULL DEFAULT 0
)"""

ORDERS_TABLE = """
CREATE TABLE IF NOT EXISTS orders (
    id       TEXT    PRIMARY KEY,
    customer TEXT    NOT NULL,
    total    INTEGER NOT NULL CHECK (total >= 0)
)"""

RelayOnce = Callable[[Any, Any, int], int]


class BrokerUnavailableError(Exception):
    """The broker did not acknowledge an append. Nothing is known to be written: retry later."""


def topic_for(aggregate_type: str) -> str:
    """The topic an aggregate type's events are routed to (Debezium's default: ``outbox.event.<type>``)."""
    return f"outbox.event.{aggregate_type}"


def create_tables(conn: Any) -> None:
    """The outbox and the example's ``orders`` table (idempotent: safe at every start)."""
    raw = getattr(conn, "raw", conn)
    raw.execute(OUTBOX_TABLE)
    raw.execute(ORDERS_TABLE)
    raw.commit()


def add_event(conn: Any, event_id: str, aggregate_type: str, aggregate_id: str, event_type: str,
              payload: dict) -> None:
    """Insert one outbox row. Call it inside the transaction that makes the business change."""
    for name, value in (("event_id", event_id), ("aggregate_type", aggregate_type),
                        ("aggregate_id", aggregate_id), ("event_type", event_type)):
        if not isinstance(value, str) or not value:
            raise ValueError(f"outbox {name} must be a non-empty string, got {value!r}; consumers dedupe by "
                             f"event_id and the relay keys records by aggregate_id")
    conn.execute("INSERT INTO outbox (event_id, aggregate_type, aggregate_id, event_type, payload) "
                 "VALUES (?, ?, ?, ?, ?)",
                 (event_id, aggregate_type, aggregate_id, event_type, json.dumps(payload, sort_keys=True)))


def place_order(conn: Any, order_id: str, customer: str, total: int, event_id: str | None = None) -> str:
    """The business operation: the order row and its ``OrderPlaced`` event in ONE transaction.

    Returns the event id. If anything fails (a duplicate order id, a negative
    total, a crash) neither row is committed, so nothing is ever published
    about an order that does not exist.
    """
    event_id = event_id or f"order-{order_id}-placed"
    with conn:
        conn.execute("INSERT INTO orders (id, customer, total) VALUES (?, ?, ?)", (order_id, customer, total))
        add_event(conn, event_id, "order", order_id, "OrderPlaced",
                  {"order_id": order_id, "customer": customer, "total": total})
    return event_id


def publish(topic: Any, event_id: str, aggregate_id: str, event_type: str, payload: str) -> RecordMetadata:
    """Append one outbox event to ``topic``: key = aggregate id, value = the JSON payload, headers id and type."""
    return topic.send(payload.encode(), key=aggregate_id.encode(),
                      headers=[("id", event_id.encode()), ("type", event_type.encode())])


def place_order_dual_write(conn: Any, topic: Any, order_id: str, customer: str, total: int) -> None:
    """The BROKEN way, for contrast: commit the order, then publish. A crash in between loses the event."""
    with conn:
        conn.execute("INSERT INTO orders (id, customer, total) VALUES (?, ?, ?)", (order_id, customer, total))
    payload = json.dumps({"order_id": order_id, "customer": customer, "total": total}, sort_keys=True)
    publish(topic, f"order-{order_id}-placed", order_id, "OrderPlaced", payload)


def relay_once(conn: Any, topic: Any, batch_size: int = 100) -> int:
    """msglib's relay step: publish up to ``batch_size`` unpublished rows, oldest first; return how many.

    Invariants: rows go out in ``id`` order (the order their transactions
    committed); a row is marked only after its append returned (so a crash
    can duplicate it, never lose it); a failed append stops the step, so no
    later row overtakes it.
    """
    rows = conn.execute("SELECT id, event_id, aggregate_id, event_type, payload FROM outbox "
                        "WHERE published = 0 ORDER BY id LIMIT ?", (batch_size,)).fetchall()
    for row_id, event_id, aggregate_id, event_type, payload in rows:
        publish(topic, event_id, aggregate_id, event_type, payload)     # may raise: nothing marked yet
        with conn:
            conn.execute("UPDATE outbox SET published = 1 WHERE id = ?", (row_id,))
    return len(rows)


def unpublished_count(conn: Any) -> int:
    """Rows the relay still owes the broker (deleted rows count as published).

    Ask through a connection of your own: the relay's connection would also
    count marks it has not committed yet.
    """
    raw = getattr(conn, "raw", conn)
    return raw.execute("SELECT COUNT(*) FROM outbox WHERE published = 0").fetchone()[0]


class FaultyTopic:
    """The broker as the relay sees it: ``fault`` before and after every append, and transient errors.

    ``fault("before append")`` / ``fault("after append")`` may crash the
    process (the append then did not / did happen). ``unavailable(n)`` returns
    True when the n-th append should fail with :class:`BrokerUnavailableError`
    (nothing written). ``on_append`` runs after each append, e.g. to let the
    application commit more orders while the relay works.
    """

    def __init__(self, topic: Topic, fault: Fault = no_faults, unavailable: Callable[[int], bool] = lambda n: False,
                 on_append: Callable[[], None] | None = None) -> None:
        self.topic = topic
        self.fault = fault
        self.unavailable = unavailable
        self.on_append = on_append
        self.attempts = 0
        self.dead = False

    def send(self, value: Any = None, key: Any = None, **kwargs: Any) -> RecordMetadata:
        if self.dead:
            raise InjectedCrash("the process already crashed; nothing runs after the crash (append)")
        self.attempts += 1
        try:
            self.fault("before append")
            if self.unavailable(self.attempts):
                raise BrokerUnavailableError(f"append {self.attempts} was not acknowledged: broker unavailable")
            meta = self.topic.send(value, key, **kwargs)
            self.fault("after append")
        except InjectedCrash:
            self.dead = True
            raise
        if self.on_append is not None:
            self.on_append()
        return meta

    def __getattr__(self, name: str) -> Any:
        return getattr(self.topic, name)


@dataclass
class RelayStats:
    steps: int = 0
    published: int = 0             # what relay_once reported
    crashes: int = 0
    broker_errors: int = 0


class OutboxRelay:
    """Runs a ``relay_once`` step against the outbox in ``db_path`` and a topic, restarting after crashes.

    A crash (:class:`InjectedCrash`) closes the connection uncommitted and
    reopens the file; a :class:`BrokerUnavailableError` is transient: the step
    is simply tried again later.
    """

    def __init__(self, db_path: str, topic: Any, relay_once: RelayOnce = relay_once, *, batch_size: int = 10,
                 fault: Fault = no_faults, unavailable: Callable[[int], bool] = lambda n: False,
                 on_append: Callable[[], None] | None = None) -> None:
        if not callable(relay_once):
            raise TypeError(f"relay_once must be a function relay_once(conn, topic, batch_size) -> int, "
                            f"got {type(relay_once).__name__}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.db_path = db_path
        self.relay_once = relay_once
        self.batch_size = batch_size
        self.fault = fault
        self.broker = FaultyTopic(topic, self._fault, unavailable, on_append)
        self.stats = RelayStats()
        self.conn = CrashingConnection(connect(db_path), self._fault)
        create_tables(self.conn)
        self.observer = connect(db_path)      # sees only what is committed, as any other process would

    def _fault(self, point: str) -> None:
        # One process: a crash seen by the broker client kills the database connection too, and vice versa.
        try:
            self.fault(point)
        except InjectedCrash:
            self.conn.dead = self.broker.dead = True
            raise

    def step(self) -> int:
        """One relay step; crashes and broker errors are handled here. Returns what the step reported."""
        self.stats.steps += 1
        try:
            n = self.relay_once(self.conn, self.broker, self.batch_size)
            if self.conn.dead or self.broker.dead:
                raise InjectedCrash("the process crashed inside relay_once")
        except InjectedCrash:
            self.restart()
            return 0
        except BrokerUnavailableError:
            self.stats.broker_errors += 1
            self._end_open_transaction()
            return 0
        if not isinstance(n, int) or isinstance(n, bool):
            raise TypeError(f"relay_once must return the number of rows it published (an int), got {n!r}")
        self.stats.published += n
        return n

    def _end_open_transaction(self) -> None:
        # A step that failed half-way may hold a write transaction open; the next step starts clean.
        if self.conn.raw.in_transaction:
            self.conn.raw.rollback()

    def restart(self) -> None:
        """The relay process died: drop the connection uncommitted, reopen the database file."""
        self.conn.close()
        self.stats.crashes += 1
        self.conn = CrashingConnection(connect(self.db_path), self._fault)
        self.broker.dead = False

    def run(self, max_steps: int = 10_000) -> RelayStats:
        """Step until the outbox has no unpublished row (or ``max_steps``, which a broken relay may hit)."""
        for _ in range(max_steps):
            if unpublished_count(self.observer) == 0:
                return self.stats
            self.step()
        return self.stats

    def close(self) -> None:
        self.conn.close()
        self.observer.close()


# -- judging what reached the topic ---------------------------------------------------------

@dataclass
class DeliveryReport:
    """What a downstream consumer saw, judged against what the database committed, in order."""

    expected: list[str]
    delivered: list[str]
    lost: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    duplicates: int = 0
    first_out_of_order: tuple[str, str] | None = None     # (event, the earlier event it overtook)

    @property
    def ok(self) -> bool:
        return not self.lost and not self.unexpected and self.first_out_of_order is None


def judge_delivery(expected: Sequence[str], delivered: Iterable[str]) -> DeliveryReport:
    """Compare delivered ids with the committed order: nothing lost, nothing invented, in order.

    Duplicates are allowed (at-least-once) and counted; order is judged on
    each id's *first* delivery, which is what a deduplicating consumer applies.
    """
    delivered = list(delivered)
    rank = {e: i for i, e in enumerate(expected)}
    report = DeliveryReport(list(expected), delivered)
    seen: set[str] = set()
    firsts: list[str] = []
    for e in delivered:
        if e not in rank:
            if e not in report.unexpected:
                report.unexpected.append(e)
            continue
        if e in seen:
            report.duplicates += 1
            continue
        seen.add(e)
        firsts.append(e)
    report.lost = [e for e in expected if e not in seen]
    for i in range(1, len(firsts)):
        if rank[firsts[i]] < rank[firsts[i - 1]]:
            report.first_out_of_order = (firsts[i - 1], firsts[i])
            break
    return report


def delivered_ids(topic: Topic, partition: int | None = None) -> list[str]:
    """The ``id`` header of every record in ``topic`` (one partition, or all of them one after another)."""
    parts = range(topic.num_partitions) if partition is None else [partition]
    out = []
    for p in parts:
        for r in topic[p].records():
            ids = [v for k, v in r.headers if k == "id"]
            out.append(ids[0].decode() if ids and ids[0] else f"<no id at offset {r.offset}>")
    return out
