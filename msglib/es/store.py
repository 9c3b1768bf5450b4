"""An event store on SQLite: streams, optimistic concurrency, a global order.

One table holds every event. Each row has two addresses:

* ``(stream, version)`` - its place in its own stream (1, 2, 3, ...), unique;
* ``position``         - its place in the global ``$all`` order, unique.

**Optimistic concurrency.** A writer says which version it last saw
(``expected_version``); the append checks it against the stream's actual
version inside the write transaction and raises ConcurrencyError on a
mismatch. Two writers that read version 4 can never both append version 5.

**Positions that no reader skips.** A reader that follows ``$all`` remembers
the last position it processed and asks for everything after it. That is
only safe if no event can commit *later* with a *smaller* position; with a
database sequence this happens (T1 takes 10, T2 takes 11, T2 commits, a
reader sees 11 and moves on, then T1 commits 10: skipped forever).
msglib allocates positions *under SQLite's write lock*: every append starts
with ``BEGIN IMMEDIATE`` (one writer at a time, across threads and processes)
and reads ``max(position)`` inside that transaction. The writer holding
position p commits or rolls back before any other writer can even read the
maximum, so commit order = position order. Invariant: once a reader sees
position p, every event that will ever have a position below p is already
visible to it. (A rolled-back position is simply reused by the next writer;
nobody saw it.) Postgres-based stores need a table lock (``eventsourcing``)
or a high-water mark with gap detection (Marten) for the same guarantee.

**Durability** is SQLite's: a file store uses WAL with ``synchronous=FULL`` by
default (fsync at every commit); ``synchronous="NORMAL"`` trades the last
commits on power loss for speed. ``":memory:"`` keeps everything in RAM.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from msglib.es.errors import ConcurrencyError, CorruptEventError, DuplicateEventError, EventStoreError
from msglib.es.events import (ANY, NO_STREAM, STREAM_EXISTS, AppendResult, ExpectedVersion, NewEvent,
                              RecordedEvent, Snapshot)

Upcaster = Callable[[dict], "dict | tuple[str, dict]"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    position       INTEGER PRIMARY KEY,   -- $all order, allocated under the write lock
    stream         TEXT    NOT NULL,
    version        INTEGER NOT NULL,      -- 1-based within the stream
    type           TEXT    NOT NULL,
    data           TEXT    NOT NULL,      -- a JSON object
    event_id       TEXT    NOT NULL UNIQUE,
    timestamp      REAL    NOT NULL,      -- seconds, from the store's clock
    schema_version INTEGER NOT NULL,
    correlation_id TEXT,
    causation_id   TEXT,
    metadata       TEXT,                  -- JSON object, NULL when empty
    UNIQUE (stream, version)
);
CREATE TABLE IF NOT EXISTS snapshots (
    stream         TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    state          TEXT    NOT NULL,
    schema_version INTEGER NOT NULL,
    timestamp      REAL    NOT NULL,
    PRIMARY KEY (stream, version)
);
CREATE TABLE IF NOT EXISTS checkpoints (
    name     TEXT PRIMARY KEY,
    position INTEGER NOT NULL
);
"""

_COLUMNS = ("position, stream, version, type, data, event_id, timestamp, schema_version, "
            "correlation_id, causation_id, metadata")
_INSERT = f"INSERT INTO events ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
# The stream's version and the global maximum position, read in one statement
# inside the write transaction (both use an index: no scan).
_HEAD = ("SELECT (SELECT max(version) FROM events WHERE stream = ?), "
         "(SELECT max(position) FROM events)")


class EventStore:
    """Streams of events in one SQLite database (a file path or ``":memory:"``).

    One EventStore object owns one SQLite connection and may be shared by
    threads (calls are serialised by a lock). Separate EventStore objects on
    the same file - in other threads or other processes - are separate
    connections and coordinate through SQLite's own locking.

    >>> store = EventStore(":memory:", clock=lambda: 0.0)
    >>> store.append("account-1", [NewEvent("Opened", {"owner": "ada"})], expected_version=NO_STREAM).last_version
    1
    >>> [e.type for e in store.read_stream("account-1")]
    ['Opened']
    """

    def __init__(self, path: str | Path = ":memory:", *, clock: Callable[[], float] = time.time,
                 synchronous: str = "FULL", timeout: float = 30.0) -> None:
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, got {synchronous!r}")
        self.path = str(path)
        self.clock = clock
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                     timeout=timeout)
        if self.path != ":memory:":
            self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
        self.synchronous = synchronous.upper()
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._conn.execute(statement)
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._upcasters: dict[str, dict[int, Upcaster]] = {}
        self._current_schema: dict[str, int] = {}
        self._listeners: list[Callable[[AppendResult], None]] = []

    # -- writing ------------------------------------------------------------
    def append(self, stream: str, events: NewEvent | Sequence[NewEvent],
               expected_version: ExpectedVersion = ANY, *, correlation_id: str | None = None,
               causation_id: str | None = None) -> AppendResult:
        """Append ``events`` to ``stream`` atomically (all or none).

        ``expected_version``: an int (the stream must be at exactly that
        version; 0 = empty), ``NO_STREAM``, ``STREAM_EXISTS`` or ``ANY``.
        Re-appending events whose ids are already stored in this stream, in
        the same order (a retry after a lost reply), stores nothing and
        returns the original result with ``idempotent=True``.
        """
        if isinstance(events, NewEvent):
            events = [events]
        if not isinstance(stream, str) or not stream:
            raise ValueError(f"stream name must be a non-empty string, got {stream!r}")
        if stream.startswith("$"):
            raise ValueError(f"stream {stream!r}: names starting with '$' are reserved ($all is the global order)")
        if not events:
            raise ValueError(f"append to {stream!r} needs at least one event")
        _check_expected(expected_version)
        # Everything that does not depend on the stream's state is prepared
        # before taking the write lock, to keep the locked section short.
        now = self.clock()
        tails = []
        for event in events:
            if not isinstance(event, NewEvent):
                raise TypeError(f"append to {stream!r}: expected NewEvent objects, got {type(event).__name__}")
            try:
                data = json.dumps(event.data)
                meta = json.dumps(event.metadata) if event.metadata else None
            except (TypeError, ValueError) as exc:
                raise ValueError(f"event {event.type!r} for {stream!r} is not JSON-serialisable: {exc}") from None
            tails.append((event.type, data, event.event_id, now, self._current_schema.get(event.type, 1),
                          correlation_id, causation_id, meta))
        conn = self._conn
        with self._lock:
            conn.execute("BEGIN IMMEDIATE")  # take the write lock now, not at the first INSERT
            try:
                actual, last_position = conn.execute(_HEAD, (stream,)).fetchone()
                actual = actual or 0
                last_position = last_position or 0
                if not _version_matches(expected_version, actual):
                    conn.execute("ROLLBACK")
                    earlier = self._find_earlier_append(stream, events)
                    if earlier is not None:
                        return earlier
                    raise ConcurrencyError(stream, expected_version, actual)
                rows = [(last_position + i, stream, actual + i) + tail for i, tail in enumerate(tails, 1)]
                conn.executemany(_INSERT, rows)
                conn.execute("COMMIT")
            except sqlite3.IntegrityError:
                # The only unique key a correct version check can still hit is event_id.
                conn.execute("ROLLBACK")
                earlier = self._find_earlier_append(stream, events)
                if earlier is None:  # pragma: no cover - would be a bug in the version check
                    raise
                return earlier
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        n = len(tails)
        result = AppendResult(stream, actual + 1, actual + n, last_position + 1, last_position + n)
        for listener in list(self._listeners):
            listener(result)
        return result

    def _find_earlier_append(self, stream: str, events: Sequence[NewEvent]) -> AppendResult | None:
        """If these exact events (ids, order, stream) are already stored, say where."""
        found = []
        for event in events:
            row = self._conn.execute("SELECT stream, version, position FROM events WHERE event_id = ?",
                                     (event.event_id,)).fetchone()
            found.append(row)
        if all(row is None for row in found):
            return None
        for event, row in zip(events, found):
            if row is None:
                first = next(r for r in found if r is not None)
                raise DuplicateEventError(
                    next(e.event_id for e, r in zip(events, found) if r is not None), first[0], first[1],
                    f"this append mixes already-stored and new events for {stream!r}; "
                    f"retry the earlier append unchanged, or give the new events fresh ids")
            if row[0] != stream:
                raise DuplicateEventError(event.event_id, row[0], row[1],
                                          f"it cannot also be appended to {stream!r}; give it a fresh id")
        versions = [row[1] for row in found]
        if versions != list(range(versions[0], versions[0] + len(versions))):
            raise DuplicateEventError(events[0].event_id, stream, versions[0],
                                      "the retried events are not stored together in this order")
        positions = [row[2] for row in found]
        return AppendResult(stream, versions[0], versions[-1], positions[0], positions[-1], idempotent=True)

    def on_append(self, listener: Callable[[AppendResult], None]) -> Callable[[], None]:
        """Call ``listener(result)`` after every commit made through *this* object
        (live following within one process). Returns a function that unregisters it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    # -- reading ------------------------------------------------------------
    def read_stream(self, stream: str, *, after_version: int = 0, to_version: int | None = None,
                    until: float | None = None) -> list[RecordedEvent]:
        """Events of one stream in version order: those after ``after_version``,
        up to ``to_version`` and recorded at or before time ``until`` (temporal queries)."""
        sql = f"SELECT {_COLUMNS} FROM events WHERE stream = ? AND version > ?"
        args: list[Any] = [stream, after_version]
        if to_version is not None:
            sql += " AND version <= ?"
            args.append(to_version)
        if until is not None:
            sql += " AND timestamp <= ?"
            args.append(until)
        sql += " ORDER BY version"
        with self._lock:
            rows = self._conn.execute(sql, args).fetchall()
        return self._decode(rows)

    def read_all(self, after: int = 0, limit: int | None = None) -> list[RecordedEvent]:
        """Events of every stream in global position order, starting *after*
        position ``after`` (exclusive, like a checkpoint), at most ``limit`` of them."""
        with self._lock:
            if limit is None:
                rows = self._conn.execute(
                    f"SELECT {_COLUMNS} FROM events WHERE position > ? ORDER BY position", (after,)).fetchall()
            else:
                rows = self._conn.execute(
                    f"SELECT {_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?",
                    (after, limit)).fetchall()
        return self._decode(rows)

    def iter_all(self, after: int = 0, page_size: int = 1000) -> Iterator[RecordedEvent]:
        """Every event after ``after`` in position order, fetched a page at a time."""
        while True:
            page = self.read_all(after, page_size)
            yield from page
            if len(page) < page_size:
                return
            after = page[-1].position

    def stream_version(self, stream: str) -> int:
        """The stream's current version (0 if it has no events)."""
        with self._lock:
            (version,) = self._conn.execute("SELECT max(version) FROM events WHERE stream = ?",
                                            (stream,)).fetchone()
        return version or 0

    def last_position(self) -> int:
        """The highest committed global position (0 for an empty store)."""
        with self._lock:
            (position,) = self._conn.execute("SELECT max(position) FROM events").fetchone()
        return position or 0

    def streams(self, prefix: str = "") -> list[str]:
        """Names of the streams that have events, optionally only those starting with ``prefix``."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT DISTINCT stream FROM events WHERE substr(stream, 1, ?) = ? ORDER BY stream",
                (len(prefix), prefix)).fetchall()
        return [row[0] for row in rows]

    def _decode(self, rows: Iterable[tuple]) -> list[RecordedEvent]:
        loads = _loads
        upcasters = self._upcasters
        out = []
        for position, stream, version, type_, data, event_id, ts, schema, corr, cause, meta in rows:
            try:
                payload = loads(data)
                metadata = loads(meta) if meta else _NO_METADATA
            except (TypeError, ValueError) as exc:
                raise CorruptEventError(stream, version, position, f"data is not valid JSON ({exc})") from None
            if type(payload) is not dict:
                raise CorruptEventError(stream, version, position,
                                        f"data must be a JSON object, found {type(payload).__name__}")
            if upcasters and type_ in upcasters:
                type_, payload, schema = self._upcast(stream, version, type_, payload, schema)
            out.append(RecordedEvent(position, stream, version, type_, payload, event_id, ts, schema,
                                     corr, cause, metadata))
        return out

    # -- schema evolution ---------------------------------------------------
    def register_upcaster(self, event_type: str, from_schema: int, upcast: Upcaster) -> None:
        """Upgrade stored ``event_type`` events of schema ``from_schema`` to
        ``from_schema + 1`` whenever they are read.

        ``upcast(data)`` returns the new data dict, or ``(new_type, data)`` to
        also rename the type (the chain then continues with ``new_type``'s
        upcasters from ``from_schema + 1``). New events of ``event_type`` are
        written at the newest schema, so they are never upcast.
        """
        if not isinstance(from_schema, int) or from_schema < 1:
            raise ValueError(f"from_schema must be an int >= 1, got {from_schema!r}")
        if not callable(upcast):
            raise TypeError(f"upcaster for {event_type!r} must be callable, got {upcast!r}")
        chain = self._upcasters.setdefault(event_type, {})
        if from_schema in chain:
            raise ValueError(f"an upcaster for {event_type!r} schema {from_schema} is already registered")
        chain[from_schema] = upcast
        self._current_schema[event_type] = max(self._current_schema.get(event_type, 1), from_schema + 1)

    def current_schema(self, event_type: str) -> int:
        """The schema version new ``event_type`` events are written with."""
        return self._current_schema.get(event_type, 1)

    def _upcast(self, stream: str, version: int, type_: str, data: dict, schema: int) -> tuple[str, dict, int]:
        while True:
            upcast = self._upcasters.get(type_, {}).get(schema)
            if upcast is None:
                return type_, data, schema
            out = upcast(data)
            if isinstance(out, tuple) and len(out) == 2 and isinstance(out[0], str):
                type_, data = out
            else:
                data = out
            if type(data) is not dict:
                raise EventStoreError(
                    f"upcaster for {type_!r} schema {schema} returned {type(data).__name__}, not a dict "
                    f"(while reading stream {stream!r} version {version}); it must return the new data dict "
                    f"or (new_type, data)")
            schema += 1

    # -- snapshots ----------------------------------------------------------
    def save_snapshot(self, stream: str, version: int, state: dict[str, Any], schema_version: int = 1) -> Snapshot:
        """Store ``state`` as the aggregate's state after ``version`` events."""
        if version < 1:
            raise ValueError(f"snapshot of {stream!r}: version must be >= 1, got {version}")
        snap = Snapshot(stream, version, state, schema_version, self.clock())
        with self._lock:
            self._conn.execute("INSERT OR REPLACE INTO snapshots VALUES (?,?,?,?,?)",
                               (stream, version, json.dumps(state), schema_version, snap.timestamp))
        return snap

    def latest_snapshot(self, stream: str, max_version: int | None = None,
                        until: float | None = None) -> Snapshot | None:
        """The newest snapshot of ``stream`` at or below ``max_version`` (and taken at or before ``until``)."""
        sql = "SELECT version, state, schema_version, timestamp FROM snapshots WHERE stream = ?"
        args: list[Any] = [stream]
        if max_version is not None:
            sql += " AND version <= ?"
            args.append(max_version)
        if until is not None:
            sql += " AND timestamp <= ?"
            args.append(until)
        sql += " ORDER BY version DESC LIMIT 1"
        with self._lock:
            row = self._conn.execute(sql, args).fetchone()
        if row is None:
            return None
        return Snapshot(stream, row[0], json.loads(row[1]), row[2], row[3])

    # -- checkpoints (for subscriptions that keep them in the store) ---------
    def get_checkpoint(self, name: str) -> int:
        with self._lock:
            row = self._conn.execute("SELECT position FROM checkpoints WHERE name = ?", (name,)).fetchone()
        return row[0] if row else 0

    def set_checkpoint(self, name: str, position: int) -> None:
        with self._lock:
            self._conn.execute("INSERT OR REPLACE INTO checkpoints VALUES (?, ?)", (name, position))

    # -- housekeeping -------------------------------------------------------
    @property
    def connection(self) -> sqlite3.Connection:
        """The raw connection (for inspection in notebooks and tests)."""
        return self._conn

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "EventStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_scan_once = json.JSONDecoder().scan_once
_NO_METADATA: Mapping[str, Any] = MappingProxyType({})  # shared, read-only: most events carry no metadata


def _loads(text: str) -> Any:
    """``json.loads`` for the text this store wrote with ``json.dumps``.

    Decoding is the hot spot of every read; ``json.loads`` spends most of its
    time on argument checks and whitespace regexes around the C scanner that
    does the real work. Rows hold exactly what ``json.dumps`` wrote (no
    surrounding whitespace), so calling the scanner and insisting that it
    consumed the whole text accepts and rejects the same inputs.
    """
    try:
        value, end = _scan_once(text, 0)
    except StopIteration:
        raise ValueError("no JSON value at character 0") from None
    if end != len(text):
        raise ValueError(f"extra data after the JSON value at character {end}")
    return value


def _check_expected(expected: ExpectedVersion) -> None:
    if expected in (ANY, NO_STREAM, STREAM_EXISTS):
        return
    if isinstance(expected, bool) or not isinstance(expected, int) or expected < 0:
        raise ValueError(f"expected_version must be an int >= 0, ANY, NO_STREAM or STREAM_EXISTS; got {expected!r}")


def _version_matches(expected: ExpectedVersion, actual: int) -> bool:
    if expected == ANY:
        return True
    if expected == NO_STREAM:
        return actual == 0
    if expected == STREAM_EXISTS:
        return actual > 0
    return expected == actual
