"""Change data capture: every committed row change, in commit order, on a topic.

Instead of asking the application to announce its changes, CDC reads them
from the database itself. Debezium tails the database's own transaction log
(Postgres WAL, MySQL binlog). SQLite has no log a reader can tail, so here
triggers write every insert, update and delete into a **change table**, in
the same transaction as the change::

    accounts  --INSERT/UPDATE/DELETE-->  trigger  -->  cdc_changes (seq, table, op, key, before, after)
                                                            |
                       connector: SELECT ... WHERE seq > position ORDER BY seq
                                                            v
                                              topic  +  stored position (connect-offsets)

``seq`` is monotonic (AUTOINCREMENT never reuses a number) and SQLite
serialises writers, so ``seq`` order is commit order; a rolled-back
transaction leaves no change rows. The :class:`CdcConnector` copies changes
after its stored position, then stores the new position. A crash between the
two re-sends the changes after the stored position (at-least-once, same
``seq``, so consumers dedupe); it never skips or reorders one.
"""
from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

from msglib.log import Record, Topic
from msglib.patterns.crash import Fault, InjectedCrash, connect, no_faults

CHANGES_TABLE = """
CREATE TABLE IF NOT EXISTS cdc_changes (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,   -- monotonic, never reused: the position
    table_name TEXT NOT NULL,
    op         TEXT NOT NULL CHECK (op IN ('c', 'u', 'd')),   -- create, update, delete (Debezium's codes)
    row_key    TEXT NOT NULL,
    before     TEXT,                                -- JSON row image before the change (NULL for 'c')
    after      TEXT                                 -- JSON row image after the change (NULL for 'd')
)"""

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _check_name(kind: str, name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"{kind} name {name!r} cannot be captured: use letters, digits and underscores only")
    return name


def capture(conn: Any, table: str) -> list[str]:
    """Install insert/update/delete triggers on ``table`` that feed ``cdc_changes``; returns the columns.

    The table needs a single-column primary key: it becomes the record key,
    so all changes of one row land in one partition, in order.
    """
    raw = getattr(conn, "raw", conn)
    _check_name("table", table)
    info = raw.execute(f"PRAGMA table_info({table})").fetchall()
    if not info:
        raise ValueError(f"table {table!r} does not exist; create it before capturing its changes")
    columns = [_check_name("column", row[1]) for row in info]
    pks = [row[1] for row in sorted(info, key=lambda r: r[5]) if row[5]]
    if len(pks) != 1:
        raise ValueError(f"table {table!r} has primary key {pks!r}; capture needs exactly one primary-key "
                         f"column to key the change records by (add an id column)")
    pk = pks[0]

    def image(alias: str) -> str:
        return "json_object(" + ", ".join(f"'{c}', {alias}.{c}" for c in columns) + ")"

    raw.execute(CHANGES_TABLE)
    raw.executescript(f"""
        CREATE TRIGGER IF NOT EXISTS cdc_{table}_insert AFTER INSERT ON {table} BEGIN
            INSERT INTO cdc_changes (table_name, op, row_key, before, after)
            VALUES ('{table}', 'c', NEW.{pk}, NULL, {image('NEW')});
        END;
        CREATE TRIGGER IF NOT EXISTS cdc_{table}_update AFTER UPDATE ON {table} BEGIN
            INSERT INTO cdc_changes (table_name, op, row_key, before, after)
            VALUES ('{table}', 'u', NEW.{pk}, {image('OLD')}, {image('NEW')});
        END;
        CREATE TRIGGER IF NOT EXISTS cdc_{table}_delete AFTER DELETE ON {table} BEGIN
            INSERT INTO cdc_changes (table_name, op, row_key, before, after)
            VALUES ('{table}', 'd', OLD.{pk}, {image('OLD')}, NULL);
        END;
    """)
    return columns


@dataclass(frozen=True)
class Change:
    """One captured row change."""

    seq: int
    table: str
    op: str                     # 'c' | 'u' | 'd'
    key: str
    before: dict | None
    after: dict | None

    @property
    def id(self) -> str:
        """The id consumers dedupe by: table and position."""
        return f"{self.table}:{self.seq}"

    def to_json(self) -> bytes:
        return json.dumps({"seq": self.seq, "table": self.table, "op": self.op, "key": self.key,
                           "before": self.before, "after": self.after}, sort_keys=True).encode()

    @classmethod
    def from_record(cls, record: Record) -> "Change":
        d = json.loads(record.value)
        return cls(d["seq"], d["table"], d["op"], d["key"], d["before"], d["after"])


def read_changes(conn: Any, after_seq: int, limit: int) -> list[Change]:
    """Up to ``limit`` committed changes with ``seq > after_seq``, in ``seq`` order."""
    raw = getattr(conn, "raw", conn)
    rows = raw.execute("SELECT seq, table_name, op, row_key, before, after FROM cdc_changes "
                       "WHERE seq > ? ORDER BY seq LIMIT ?", (after_seq, limit)).fetchall()
    return [Change(s, t, op, str(k), json.loads(b) if b else None, json.loads(a) if a else None)
            for s, t, op, k, b, a in rows]


def apply_changes(changes: list[Change]) -> dict[tuple[str, str], dict]:
    """Rebuild rows from changes: ``(table, key) -> row``. Applying a change twice is harmless."""
    rows: dict[tuple[str, str], dict] = {}
    for ch in changes:
        if ch.op == "d":
            rows.pop((ch.table, ch.key), None)
        else:
            rows[(ch.table, ch.key)] = dict(ch.after or {})
    return rows


class OffsetStorage:
    """Connectors' stored positions as records in a topic (Kafka Connect's ``connect-offsets``).

    Each store appends ``{connector: seq}``; loading takes the last record for the connector.
    """

    def __init__(self, topic: Topic | None = None) -> None:
        self.topic = topic or Topic("connect-offsets", 1, clock=lambda: 0)

    def store(self, connector: str, seq: int) -> None:
        self.topic.send(json.dumps({"seq": seq}).encode(), key=connector.encode(), partition=0)

    def load(self, connector: str) -> int:
        seq = 0
        for r in self.topic[0].records():
            if r.key == connector.encode():
                seq = json.loads(r.value)["seq"]
        return seq


# A transform turns a change into what is published: (key, value, headers), or None to skip it.
Transform = Callable[[Change], "tuple[bytes | None, bytes | None, list[tuple[str, bytes]]] | None"]


def change_event(change: Change) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """The default transform: key = the row key, value = the whole change, headers id and seq."""
    return (f"{change.table}:{change.key}".encode(), change.to_json(),
            [("id", change.id.encode()), ("seq", str(change.seq).encode())])


def outbox_router(invalid_op: str = "warn", tombstone_on_empty: bool = False) -> Transform:
    """Debezium's outbox event router as a transform: the outbox table's *inserts* become events.

    Inserts are published with key = aggregate id, value = payload, header
    ``id`` = event id. Deletes are dropped, so the application may delete an
    outbox row right after inserting it (the change table keeps the insert).
    The outbox is insert-only: an update is reported per ``invalid_op``:
    ``"warn"`` (a warning, skipped), ``"error"`` (skipped, counted in
    ``router.errors``), or ``"fatal"`` (raises: the connector stops).
    ``tombstone_on_empty``: an empty payload is published as a tombstone
    (value None: "delete this key" on a compacted topic) instead of as-is.
    """
    if invalid_op not in ("warn", "error", "fatal"):
        raise ValueError(f"invalid_op must be 'warn', 'error' or 'fatal', got {invalid_op!r}")

    def route(change: Change) -> tuple[bytes, bytes, list[tuple[str, bytes]]] | None:
        if change.op == "d":
            return None
        if change.op == "u":
            text = (f"outbox row {change.key} was updated (change seq {change.seq}); the outbox is insert-only: "
                    f"write a new event row instead")
            if invalid_op == "fatal":
                raise ValueError(text)
            if invalid_op == "warn":
                warnings.warn(text, stacklevel=2)
            route.errors.append(text)      # type: ignore[attr-defined]
            return None
        row = change.after or {}
        payload = row.get("payload")
        value = None if tombstone_on_empty and payload in (None, "", "null") else str(payload or "").encode()
        return (str(row["aggregate_id"]).encode(), value,
                [("id", str(row["event_id"]).encode()), ("type", str(row["event_type"]).encode())])

    route.errors = []                      # type: ignore[attr-defined]
    return route


@dataclass
class ConnectorStats:
    published: int = 0
    skipped: int = 0
    crashes: int = 0
    positions: list[int] = field(default_factory=list)     # every position stored, in order


class CdcConnector:
    """Tails ``cdc_changes`` in ``db_path`` into ``topic``, resumable from its stored position.

    Per poll: read changes after the position, append each, then store the
    last ``seq`` (the order that makes it at-least-once). ``fault`` is called
    before and after every append and before and after storing the position.
    """

    def __init__(self, db_path: str, topic: Topic, name: str = "cdc", *, offsets: OffsetStorage | None = None,
                 transform: Transform = change_event, batch_size: int = 10, fault: Fault = no_faults) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.db_path = db_path
        self.topic = topic
        self.name = name
        self.offsets = offsets or OffsetStorage()
        self.transform = transform
        self.batch_size = batch_size
        self.fault = fault
        self.stats = ConnectorStats()
        self.conn = connect(db_path)
        self.conn.execute(CHANGES_TABLE)
        self.conn.commit()
        self.position = self.offsets.load(name)

    def poll(self) -> int:
        """Publish the next batch of changes and store the position; returns how many changes were read."""
        changes = read_changes(self.conn, self.position, self.batch_size)
        for change in changes:
            out = self.transform(change)
            if out is None:
                self.stats.skipped += 1
                continue
            key, value, headers = out
            self.fault("before append")
            self.topic.send(value, key, headers=headers)
            self.fault("after append")
            self.stats.published += 1
        if changes:
            self.fault("before position store")
            self.offsets.store(self.name, changes[-1].seq)
            self.stats.positions.append(changes[-1].seq)
            self.position = changes[-1].seq
            self.fault("after position store")
        return len(changes)

    def restart(self) -> None:
        """The connector died: reopen the database, resume from the stored position (not the in-memory one)."""
        self.conn.close()
        self.stats.crashes += 1
        self.conn = connect(self.db_path)
        self.position = self.offsets.load(self.name)

    def run(self, max_restarts: int = 1000) -> ConnectorStats:
        """Poll until caught up with the change table, restarting after every crash."""
        while True:
            try:
                if self.poll() == 0:
                    return self.stats
            except InjectedCrash:
                if self.stats.crashes >= max_restarts:
                    raise
                self.restart()

    def close(self) -> None:
        self.conn.close()


def topic_changes(topic: Topic) -> list[Change]:
    """Every change record in ``topic`` (all partitions, each in its order)."""
    out = []
    for p in range(topic.num_partitions):
        out.extend(Change.from_record(r) for r in topic[p].records())
    return out
