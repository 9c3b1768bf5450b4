"""The read side: projections fold events into SQLite read models.

A projection is a set of handlers ``when_<EventType>(self, conn, event)``
that update tables. A ProjectionRunner feeds it every event after its
checkpoint, in ``$all`` order, a batch at a time, and for each batch:

    BEGIN; apply each event's handler; UPDATE checkpoint = last position; COMMIT

Read-model changes and the checkpoint commit together or not at all, so a
projection killed at any point resumes exactly where its last commit ended:
no event is applied twice, none is skipped. (Storing the checkpoint in a
separate transaction gives either duplicates or gaps after a crash.)

The runner also offers: ``rebuild()`` (empty the tables, reset the
checkpoint, replay everything), ``lag()`` (how far behind the write side it
is) and ``wait_for(position)`` (read-your-writes: block until the read
model includes a given write, or time out).

``process_batch`` is the seam the course's exercise replaces; ``fault`` is
called before every SQL statement and commit the projection makes, so a
test can "kill" the projection between any two steps.
"""
from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Sequence

from msglib.es.events import RecordedEvent
from msglib.es.store import EventStore

CHECKPOINT_TABLE = """CREATE TABLE IF NOT EXISTS projection_checkpoints (
    name     TEXT PRIMARY KEY,
    position INTEGER NOT NULL   -- last $all position whose effects are in the read model
)"""


class Projection:
    """Base class. Subclasses set ``name`` and ``tables`` (DDL) and define
    ``when_<EventType>(self, conn, event)`` handlers; other event types are ignored."""

    name: ClassVar[str] = "projection"
    tables: ClassVar[Sequence[str]] = ()
    _handlers: ClassVar[dict[str, Callable[..., None]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        handlers: dict[str, Callable[..., None]] = {}
        for klass in reversed(cls.__mro__):
            for attr, fn in vars(klass).items():
                if attr.startswith("when_") and callable(fn):
                    handlers[attr[5:]] = fn
        cls._handlers = handlers

    def setup(self, conn: Any) -> None:
        for ddl in self.tables:
            conn.execute(ddl)

    def table_names(self) -> list[str]:
        return [ddl.split("EXISTS", 1)[1].split("(", 1)[0].strip() for ddl in self.tables]

    def reset(self, conn: Any) -> None:
        """Empty every table (inside the caller's transaction)."""
        for table in self.table_names():
            conn.execute(f"DELETE FROM {table}")

    def handle(self, conn: Any, event: RecordedEvent) -> None:
        handler = self._handlers.get(event.type)
        if handler is not None:
            handler(self, conn, event)


def read_checkpoint(conn: Any, name: str) -> int:
    row = conn.execute("SELECT position FROM projection_checkpoints WHERE name = ?", (name,)).fetchone()
    return row[0] if row else 0


def save_checkpoint(conn: Any, name: str, position: int) -> None:
    conn.execute("INSERT INTO projection_checkpoints (name, position) VALUES (?, ?) "
                 "ON CONFLICT(name) DO UPDATE SET position = excluded.position", (name, position))


def process_batch(conn: Any, projection: Projection, events: list[RecordedEvent]) -> None:
    """msglib's reference: apply a batch and move the checkpoint in ONE transaction."""
    conn.execute("BEGIN")
    try:
        for event in events:
            projection.handle(conn, event)
        save_checkpoint(conn, projection.name, events[-1].position)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


class Killed(Exception):
    """Raised by a fault hook: the projection process "dies" at this point."""


class FaultyConnection:
    """A sqlite3 connection that calls ``fault(point)`` before each statement and commit.

    Points are ``"execute: <first words of the SQL>"``, ``"commit"``. A fault
    that raises (e.g. Killed) stops the projection right there; whatever was
    not committed is rolled back when the connection is closed, as when a
    real process dies.
    """

    def __init__(self, conn: sqlite3.Connection, fault: Callable[[str], None]) -> None:
        self._conn = conn
        self._fault = fault

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        head = " ".join(sql.split()[:3])
        if not head.upper().startswith("ROLLBACK"):  # dying is never prevented from rolling back
            self._fault("commit" if head.upper().startswith(("COMMIT", "END")) else f"execute: {head}")
        return self._conn.execute(sql, params)

    def executemany(self, sql: str, seq: Any) -> sqlite3.Cursor:
        self._fault(f"execute: {' '.join(sql.split()[:3])}")
        return self._conn.executemany(sql, seq)

    def commit(self) -> None:
        self._fault("commit")
        self._conn.commit()

    def rollback(self) -> None:
        self._conn.rollback()

    def __enter__(self) -> "FaultyConnection":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.rollback()

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


@dataclass(frozen=True)
class Lag:
    """How far a read model is behind the write side."""

    events: int          # committed events not yet projected
    seconds: float       # age of the oldest unprojected event (0 when caught up)
    checkpoint: int
    head: int            # the store's last position


class ReadYourWritesTimeout(TimeoutError):
    def __init__(self, name: str, position: int, checkpoint: int, timeout: float) -> None:
        self.position, self.checkpoint = position, checkpoint
        super().__init__(
            f"read model {name!r} did not reach position {position} within {timeout} s "
            f"(it is at {checkpoint}, {position - checkpoint} event{'' if position - checkpoint == 1 else 's'} "
            f"behind); the write succeeded - "
            f"show a 'pending' state or retry the read later")


def wait_for_position(conn: Any, name: str, position: int, timeout: float, *,
                      clock: Callable[[], float] = time.monotonic,
                      sleep: Callable[[float], None] = time.sleep, poll: float = 0.01) -> int:
    """Read-your-writes: wait until projection ``name`` has applied ``position``.
    Returns its checkpoint, or raises ReadYourWritesTimeout after ``timeout`` seconds
    of ``clock`` time. ``clock`` and ``sleep`` are injectable so tests never sleep."""
    deadline = clock() + timeout
    while True:
        checkpoint = read_checkpoint(conn, name)
        if checkpoint >= position:
            return checkpoint
        if clock() >= deadline:
            raise ReadYourWritesTimeout(name, position, checkpoint, timeout)
        sleep(poll)


BatchProcessor = Callable[[Any, Projection, list[RecordedEvent]], None]


class ProjectionRunner:
    """Feeds one projection from an event store into a read-model database."""

    def __init__(self, store: EventStore, projection: Projection, db: str | Path | sqlite3.Connection = ":memory:",
                 *, batch_size: int = 100, process_batch: BatchProcessor = process_batch,
                 fault: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.time, synchronous: str = "FULL") -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.store = store
        self.projection = projection
        if isinstance(db, sqlite3.Connection):
            self._raw = db
            if db.isolation_level is not None:
                raise ValueError("pass a read-model connection opened with isolation_level=None "
                                 "(the runner manages its own transactions)")
        else:
            self._raw = sqlite3.connect(str(db), isolation_level=None, check_same_thread=False)
            if str(db) != ":memory:":
                self._raw.execute("PRAGMA journal_mode=WAL")
            if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
                raise ValueError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, got {synchronous!r}")
            # A simulated kill (closing the connection) loses exactly the uncommitted work whatever this
            # is; only power loss tells the settings apart. Tests and graders use OFF for speed.
            self._raw.execute(f"PRAGMA synchronous={synchronous.upper()}")
        self.conn: Any = self._raw if fault is None else FaultyConnection(self._raw, fault)
        self.batch_size = batch_size
        self.process_batch = process_batch
        self.clock = clock
        self._raw.execute(CHECKPOINT_TABLE)
        projection.setup(self._raw)

    @property
    def name(self) -> str:
        return self.projection.name

    def checkpoint(self) -> int:
        return read_checkpoint(self._raw, self.name)

    def run_once(self, max_events: int | None = None) -> int:
        """Process one batch after the checkpoint; return how many events it held."""
        limit = self.batch_size if max_events is None else min(self.batch_size, max_events)
        events = self.store.read_all(self.checkpoint(), limit)
        if events:
            self.process_batch(self.conn, self.projection, events)
        return len(events)

    def catch_up(self, max_events: int | None = None) -> int:
        """Process batches until nothing is left (or ``max_events`` were processed)."""
        done = 0
        while max_events is None or done < max_events:
            n = self.run_once(None if max_events is None else max_events - done)
            done += n
            if n == 0:
                break
        return done

    def rebuild(self) -> int:
        """Empty the read model and reset the checkpoint in one transaction, then replay everything."""
        self._raw.execute("BEGIN")
        try:
            self.projection.reset(self._raw)
            save_checkpoint(self._raw, self.name, 0)
            self._raw.execute("COMMIT")
        except BaseException:
            self._raw.execute("ROLLBACK")
            raise
        return self.catch_up()

    def lag(self) -> Lag:
        checkpoint = self.checkpoint()
        head = self.store.last_position()
        seconds = 0.0
        if head > checkpoint:
            oldest = self.store.read_all(checkpoint, 1)
            if oldest:
                seconds = max(0.0, self.clock() - oldest[0].timestamp)
        return Lag(head - checkpoint, seconds, checkpoint, head)

    def wait_for(self, position: int, timeout: float = 1.0, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, poll: float = 0.01) -> int:
        return wait_for_position(self._raw, self.name, position, timeout, clock=clock, sleep=sleep, poll=poll)

    def kill(self) -> None:
        """Simulate the process dying: close the connection without committing."""
        self._raw.close()

    def close(self) -> None:
        self._raw.close()
