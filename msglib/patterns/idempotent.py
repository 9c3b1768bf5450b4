"""The idempotent consumer: at-least-once delivery + dedupe by message id = effectively exactly-once.

A broker redelivers: the consumer may crash after doing the work and before
committing its offset, and a producer may retry an append that had in fact
succeeded. No protocol between a database and a broker makes "do the work"
and "acknowledge the message" one atomic step. What *can* be atomic is one
database transaction, so the consumer records the message id **in the same
transaction as the effect**::

    BEGIN
      INSERT INTO processed_messages (consumer_id, message_id, ...)   -- duplicate => primary-key error
      UPDATE wallets SET balance = balance + 25 WHERE account = 'ada'  -- the effect
    COMMIT
    ... then commit the offset (a crash here only causes a redelivery)

Either both rows commit or neither does. A redelivered message hits the
primary key, the transaction rolls back, and the consumer acknowledges it
without a second effect. Recording the id in a *separate* transaction
(:func:`record_id_separately`) reopens the gap: a crash between the two
commits either doubles the effect (effect first) or loses it (id first).

``handle(conn, message) -> "processed" | "duplicate"`` is the seam: the
consumer calls it for every message; :func:`idempotent` builds msglib's own.
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any, Callable

from msglib.log import Record, Topic
from msglib.patterns.crash import CrashingConnection, Fault, InjectedCrash, connect, no_faults

PROCESSED = "processed"
DUPLICATE = "duplicate"

Handle = Callable[[Any, "Message"], str]
Effect = Callable[[Any, "Message"], None]

PROCESSED_TABLE = """
CREATE TABLE IF NOT EXISTS processed_messages (
    consumer_id  TEXT    NOT NULL,
    message_id   TEXT    NOT NULL,
    processed_at INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (consumer_id, message_id)      -- a second insert of the same id fails: that is the dedupe
)"""

WALLETS_TABLE = """
CREATE TABLE IF NOT EXISTS wallets (
    account TEXT    PRIMARY KEY,
    balance INTEGER NOT NULL DEFAULT 0
)"""


class MissingMessageIdError(ValueError):
    """A message reached an idempotent consumer without an id to dedupe by."""


@dataclass(frozen=True)
class Message:
    """A message as the consumer sees it: a unique ``id``, a JSON ``payload``, its ``offset``.

    The id is chosen by whoever *created* the message (the outbox event id, a
    request id), never by the broker: a redelivery or a producer retry must
    carry the same id, or nothing can recognise it as a duplicate.
    """

    id: str
    payload: dict = field(default_factory=dict)
    key: str | None = None
    offset: int = -1

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise MissingMessageIdError(
                f"message at offset {self.offset} has no id (got {self.id!r}); an idempotent consumer dedupes by "
                f"message id, so the producer must give every message a unique, stable id (e.g. the outbox "
                f"event id) and keep it on retries")

    def send_to(self, topic: Topic, partition: int | None = None) -> int:
        """Append this message to ``topic`` (id in the ``id`` header); returns its offset."""
        key = self.key.encode() if self.key is not None else None
        meta = topic.send(json.dumps(self.payload, sort_keys=True).encode(), key=key, partition=partition,
                          headers=[("id", self.id.encode())])
        return meta.offset

    @classmethod
    def from_record(cls, record: Record) -> "Message":
        """Decode a log record written by :meth:`send_to` (or by the outbox relay, which uses the same shape)."""
        ids = [v for k, v in record.headers if k == "id"]
        if not ids or not ids[0]:
            raise MissingMessageIdError(
                f"record at offset {record.offset} has no 'id' header; an idempotent consumer dedupes by message "
                f"id, so have the producer set a unique 'id' header on every record (the outbox relay does)")
        try:
            payload = json.loads(record.value) if record.value is not None else {}
        except ValueError as exc:
            raise ValueError(f"record at offset {record.offset} does not hold a JSON payload ({exc}); "
                             f"publish messages with Message.send_to or the outbox relay") from None
        key = record.key.decode() if record.key is not None else None
        return cls(ids[0].decode(), payload, key, record.offset)


# -- the database side ----------------------------------------------------------------

def create_tables(conn: Any) -> None:
    """The dedupe table and the example's ``wallets`` table (idempotent: safe to run at every start)."""
    raw = getattr(conn, "raw", conn)
    raw.execute(PROCESSED_TABLE)
    raw.execute(WALLETS_TABLE)
    raw.commit()


def top_up(conn: Any, message: Message) -> None:
    """The example effect: add ``payload["amount"]`` to ``payload["account"]``'s wallet.

    It is *not* idempotent on its own: running it twice adds twice. That is
    the point; :func:`idempotent` makes the *handling* idempotent.
    """
    account, amount = message.payload.get("account"), message.payload.get("amount")
    if not isinstance(account, str) or not isinstance(amount, int) or isinstance(amount, bool):
        raise ValueError(f"message {message.id!r}: a top-up needs payload {{'account': str, 'amount': int}}, "
                         f"got {message.payload!r}")
    conn.execute("INSERT INTO wallets (account, balance) VALUES (?, ?) "
                 "ON CONFLICT (account) DO UPDATE SET balance = balance + excluded.balance", (account, amount))


def balances(conn: Any) -> dict[str, int]:
    """Every wallet's balance."""
    raw = getattr(conn, "raw", conn)
    return dict(raw.execute("SELECT account, balance FROM wallets ORDER BY account").fetchall())


def idempotent(effect: Effect, consumer_id: str, clock: Callable[[], int] = lambda: 0) -> Handle:
    """msglib's handle: the id row and the effect in ONE transaction.

    The id is inserted first, so a duplicate fails on the primary key before
    any work is done; the ``with conn:`` block rolls back on any error (the
    duplicate, a failing effect, a crash) and commits both rows otherwise.
    The dedupe scope is ``consumer_id``: two consumers of the same message
    each process it once.
    """
    if not consumer_id:
        raise ValueError("consumer_id must be a non-empty string: the dedupe scope (one per consumer group)")

    def handle(conn: Any, message: Message) -> str:
        with conn:
            try:
                conn.execute("INSERT INTO processed_messages (consumer_id, message_id, processed_at) "
                             "VALUES (?, ?, ?)", (consumer_id, message.id, clock()))
            except sqlite3.IntegrityError:
                return DUPLICATE            # seen before: acknowledge, do nothing
            effect(conn, message)
        return PROCESSED

    return handle


def record_id_separately(effect: Effect, consumer_id: str, id_first: bool = False) -> Handle:
    """A BROKEN handle, to show why one transaction matters: check, then two separate commits.

    ``id_first=False``: effect, commit, record id, commit -- a crash between
    the commits leaves the effect without the id, and the redelivery applies
    it again (a double). ``id_first=True``: record id, commit, effect, commit --
    a crash between them leaves the id without the effect, and the
    redelivery is skipped as a duplicate (a loss).
    """
    def seen(conn: Any, message: Message) -> bool:
        return conn.execute("SELECT 1 FROM processed_messages WHERE consumer_id = ? AND message_id = ?",
                            (consumer_id, message.id)).fetchone() is not None

    def record(conn: Any, message: Message) -> None:
        with conn:
            conn.execute("INSERT INTO processed_messages (consumer_id, message_id) VALUES (?, ?)",
                         (consumer_id, message.id))

    def handle(conn: Any, message: Message) -> str:
        if seen(conn, message):
            return DUPLICATE
        if id_first:
            record(conn, message)
        with conn:
            effect(conn, message)
        if not id_first:
            record(conn, message)
        return PROCESSED

    return handle


def prune_processed(conn: Any, consumer_id: str, now: int, retention_ms: int) -> int:
    """Forget ids processed more than ``retention_ms`` before ``now``; returns how many.

    The dedupe store cannot grow forever, so its window is explicit: a
    duplicate that arrives *later* than the window is processed again. An id
    processed exactly ``retention_ms`` ago is still remembered.
    """
    if retention_ms < 0:
        raise ValueError(f"retention_ms must be >= 0, got {retention_ms}")
    with conn:
        cur = conn.execute("DELETE FROM processed_messages WHERE consumer_id = ? AND processed_at < ?",
                           (consumer_id, now - retention_ms))
    return cur.rowcount


# -- the consumer ------------------------------------------------------------------------

class CommittedOffsets:
    """The broker's record of each consumer's committed offset (Kafka's ``__consumer_offsets``).

    It lives on the broker, so it survives the consumer's crash; the consumer
    resumes from it and re-reads everything after it (at-least-once).
    """

    def __init__(self) -> None:
        self._offsets: dict[tuple[str, int], int] = {}

    def commit(self, consumer_id: str, partition: int, offset: int) -> None:
        self._offsets[(consumer_id, partition)] = offset

    def committed(self, consumer_id: str, partition: int) -> int:
        return self._offsets.get((consumer_id, partition), 0)


@dataclass
class ConsumerStats:
    processed: int = 0          # handle returned "processed"
    duplicates: int = 0         # handle returned "duplicate"
    deliveries: int = 0         # handle was called (redeliveries included)
    crashes: int = 0
    outcomes: list[tuple[str, str]] = field(default_factory=list)   # (message id, outcome)


class IdempotentConsumer:
    """Reads one partition of a topic at-least-once and hands every message to ``handle``.

    Per message: ``handle(conn, message)`` (which owns its transaction), then
    the offset commit. A crash anywhere leaves the offset behind, so the
    restarted consumer (:meth:`restart`) sees the message again; only the
    handle's dedupe keeps the effect single. ``fault`` is called at every
    crash point, inside the handle's SQL too (through a
    :class:`~msglib.patterns.crash.CrashingConnection`).
    """

    def __init__(self, topic: Topic, db_path: str, consumer_id: str, handle: Handle, *, partition: int = 0,
                 offsets: CommittedOffsets | None = None, fault: Fault = no_faults) -> None:
        if not callable(handle):
            raise TypeError(f"handle must be a function handle(conn, message) -> 'processed' | 'duplicate', "
                            f"got {type(handle).__name__}; build msglib's with idempotent(effect, consumer_id)")
        self.topic = topic
        self.db_path = db_path
        self.consumer_id = consumer_id
        self.handle = handle
        self.partition = partition
        self.offsets = offsets or CommittedOffsets()
        self.fault = fault
        self.stats = ConsumerStats()
        self.conn = CrashingConnection(connect(db_path), fault)
        create_tables(self.conn)
        self.position = self.offsets.committed(consumer_id, partition)

    def poll(self, max_records: int = 100) -> int:
        """Handle up to ``max_records`` messages from the position; returns how many were acknowledged."""
        done = 0
        log = self.topic[self.partition]
        for record in log.records(self.position, min(log.log_end_offset, self.position + max_records)):
            self._handle_one(Message.from_record(record))
            self.offsets.commit(self.consumer_id, self.partition, record.offset + 1)   # the ack
            self.position = record.offset + 1
            done += 1
        return done

    def _handle_one(self, message: Message) -> None:
        self.stats.deliveries += 1
        outcome = self.handle(self.conn, message)
        if self.conn.dead:            # the handle swallowed the crash: the process is dead all the same
            raise InjectedCrash("the process crashed inside handle")
        if outcome not in (PROCESSED, DUPLICATE):
            raise ValueError(f"handle returned {outcome!r} for message {message.id!r}; it must return "
                             f"{PROCESSED!r} or {DUPLICATE!r}")
        if outcome == PROCESSED:
            self.stats.processed += 1
        else:
            self.stats.duplicates += 1
        self.stats.outcomes.append((message.id, outcome))
        self.fault("before offset commit")

    def restart(self) -> None:
        """The process died: drop the connection uncommitted, reopen the file, resume from the committed offset."""
        self.conn.close()
        self.stats.crashes += 1
        self.conn = CrashingConnection(connect(self.db_path), self.fault)
        self.position = self.offsets.committed(self.consumer_id, self.partition)

    def run(self, max_restarts: int = 1000) -> ConsumerStats:
        """Consume to the end of the partition, restarting after every crash."""
        end = self.topic[self.partition].log_end_offset
        while self.position < end:
            try:
                self.poll()
            except InjectedCrash:
                if self.stats.crashes >= max_restarts:
                    raise
                self.restart()
        return self.stats

    def close(self) -> None:
        self.conn.close()


# -- the checkpoint variant ------------------------------------------------------------------

TRACKING_TABLE = """
CREATE TABLE IF NOT EXISTS tracking (
    consumer_id TEXT    NOT NULL,
    partition   INTEGER NOT NULL,
    "offset"    INTEGER NOT NULL,
    PRIMARY KEY (consumer_id, partition, "offset")    -- handling one offset twice fails: already done
)"""


class TrackingConsumer:
    """The checkpoint variant: the *position* is stored with the effect, instead of message ids.

    For each record: ``INSERT INTO tracking (consumer_id, partition, offset)``
    and the effect, in one transaction. On start the consumer resumes after
    the highest tracked offset, so the broker's committed offset is not
    needed at all. This dedupes redeliveries of the same offset (a crash, a
    rewind), and needs no id from the producer; it does NOT dedupe a message
    the producer wrote twice (two offsets), which only an id can catch.
    (eventsourcing's ``Tracking`` records work the same way.)
    """

    def __init__(self, topic: Topic, db_path: str, consumer_id: str, effect: Effect, *, partition: int = 0,
                 fault: Fault = no_faults) -> None:
        self.topic = topic
        self.db_path = db_path
        self.consumer_id = consumer_id
        self.effect = effect
        self.partition = partition
        self.fault = fault
        self.crashes = 0
        self.already_done = 0
        self._open()

    def _open(self) -> None:
        self.conn = CrashingConnection(connect(self.db_path), self.fault)
        create_tables(self.conn)
        self.conn.raw.execute(TRACKING_TABLE)
        self.conn.raw.commit()
        self.position = self.max_tracked() + 1

    def max_tracked(self) -> int:
        """The highest offset handled (-1 if none): where a restart resumes."""
        row = self.conn.raw.execute('SELECT MAX("offset") FROM tracking WHERE consumer_id = ? AND partition = ?',
                                    (self.consumer_id, self.partition)).fetchone()
        return -1 if row[0] is None else row[0]

    def handle(self, message: Message) -> str:
        """The effect and the tracking row in one transaction; a tracked offset is already done."""
        with self.conn:
            try:
                self.conn.execute('INSERT INTO tracking (consumer_id, partition, "offset") VALUES (?, ?, ?)',
                                  (self.consumer_id, self.partition, message.offset))
            except sqlite3.IntegrityError:
                self.already_done += 1
                return DUPLICATE
            self.effect(self.conn, message)
        return PROCESSED

    def rewind(self, offset: int) -> None:
        """Re-read from ``offset`` (a replay): tracked offsets are recognised and skipped."""
        self.position = offset

    def run(self, max_restarts: int = 1000) -> None:
        """Consume to the end of the partition, restarting (from the tracking table) after every crash."""
        log = self.topic[self.partition]
        while self.position < log.log_end_offset:
            try:
                for record in log.records(self.position, log.log_end_offset):
                    self.handle(Message.from_record(record))
                    self.position = record.offset + 1
            except InjectedCrash:
                if self.crashes >= max_restarts:
                    raise
                self.crashes += 1
                self.conn.close()
                self._open()

    def close(self) -> None:
        self.conn.close()
