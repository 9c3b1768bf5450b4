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
import math
import os
import sqlite3
import threading
import time
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from msglib.es.errors import (ConcurrencyError, CorruptEventError, DatabaseError, DuplicateEventError,
                              EventStoreError, InvalidEventError)
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

    Errors: every method raises :class:`InvalidEventError` (a ValueError and
    TypeError) for an argument of the wrong type or range, and
    :class:`DatabaseError` naming the database path when SQLite fails (a
    folder or a file that is not a database, a missing folder, a lock held
    longer than ``timeout``, a closed store); never a raw ``sqlite3`` error.
    """

    def __init__(self, path: str | Path = ":memory:", *, clock: Callable[[], float] = time.time,
                 synchronous: str = "FULL", timeout: float = 30.0) -> None:
        """Open (or create) the store at ``path``.

        Raises :class:`InvalidEventError` for a path that is not a str or
        os.PathLike, a ``synchronous`` other than OFF/NORMAL/FULL/EXTRA, a
        clock that is not callable or a negative timeout; :class:`DatabaseError`
        when the path is a folder, its folder does not exist, or the file is
        not an SQLite database.
        """
        if not isinstance(synchronous, str) or synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise InvalidEventError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, got {synchronous!r}")
        if isinstance(path, os.PathLike):
            path = os.fspath(path)
        if not isinstance(path, str) or not path:
            raise InvalidEventError(f"path must be a non-empty str or pathlib.Path of a database file (or "
                                    f"':memory:'), got {type(path).__name__} {path!r:.60}")
        if not callable(clock):
            raise InvalidEventError(f"clock must be a function returning seconds, got {clock!r:.60}")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout >= 0:
            raise InvalidEventError(f"timeout must be a number of seconds >= 0, got {timeout!r}")
        self.path = path
        self.clock = clock
        self._lock = threading.RLock()
        if path != ":memory:" and not path.startswith("file:"):
            if os.path.isdir(path):
                raise DatabaseError(path, "cannot open the database",
                                    IsADirectoryError("it is a folder; give a file path such as "
                                                      f"{os.path.join(path, 'events.db')!r}"))
            folder = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(folder):
                raise DatabaseError(path, "cannot open the database",
                                    FileNotFoundError(f"the folder {folder!r} does not exist; create it first"))
        try:
            self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=timeout)
        except sqlite3.Error as exc:
            raise DatabaseError(path, "cannot open the database", exc) from None
        try:
            if path != ":memory:":
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
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            self._conn.close()
            hint = "; is it an SQLite database? give the path of a new file or of an event store" \
                if isinstance(exc, sqlite3.DatabaseError) and "not a database" in str(exc) else ""
            raise DatabaseError(path, "cannot open the database" + hint, exc) from None
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

        Every event is checked before anything is written: its data must be
        a JSON object (a dict with string keys, no NaN or infinity, nested
        values JSON too), its metadata None or a mapping of the same kind, its
        id a non-empty string used once in the append. Raises
        :class:`InvalidEventError` (also a ValueError/TypeError) for those and
        for a bad stream name, expected version or correlation/causation id;
        :class:`ConcurrencyError`, :class:`DuplicateEventError`, and
        :class:`DatabaseError` when SQLite fails.
        """
        if isinstance(events, NewEvent):
            events = [events]
        if not isinstance(stream, str) or not stream:
            raise InvalidEventError(f"stream name must be a non-empty string, got {stream!r}")
        if stream.startswith("$"):
            raise InvalidEventError(f"stream {stream!r}: names starting with '$' are reserved "
                                    f"($all is the global order)")
        if isinstance(events, (str, bytes, Mapping)) or not isinstance(events, Sequence):
            raise InvalidEventError(f"append to {stream!r}: events must be a NewEvent or a list of them, "
                                    f"got {type(events).__name__}")
        if not events:
            raise InvalidEventError(f"append to {stream!r} needs at least one event")
        _check_expected(expected_version)
        for name, value in (("correlation_id", correlation_id), ("causation_id", causation_id)):
            if value is not None and not isinstance(value, str):
                raise InvalidEventError(f"append to {stream!r}: {name} must be a str or None, got "
                                        f"{type(value).__name__} {value!r:.60}")
        # Everything that does not depend on the stream's state is prepared
        # before taking the write lock, to keep the locked section short.
        now = self.clock()
        tails = []
        ids = set()
        for event in events:
            if not isinstance(event, NewEvent):
                raise InvalidEventError(f"append to {stream!r}: expected NewEvent objects, got "
                                        f"{type(event).__name__}")
            data, meta = _event_json(stream, event)
            if not isinstance(event.event_id, str) or not event.event_id:
                raise InvalidEventError(f"event {event.type!r} for {stream!r}: event_id must be a non-empty "
                                        f"str, got {event.event_id!r:.60}")
            if event.event_id in ids:
                raise InvalidEventError(f"append to {stream!r}: event id {event.event_id} appears twice in the "
                                        f"same append; give each event its own id (leave event_id out for a "
                                        f"fresh one)")
            ids.add(event.event_id)
            tails.append((event.type, data, event.event_id, now, self._current_schema.get(event.type, 1),
                          correlation_id, causation_id, meta))
        try:
            return self._append(stream, events, expected_version, tails)
        except sqlite3.Error as exc:
            raise DatabaseError(self.path, f"append to {stream!r} failed", exc) from None
        except OverflowError:
            raise InvalidEventError(f"append to {stream!r}: a number is too large for SQLite (64-bit integers); "
                                    f"expected_version={expected_version!r:.40}") from None
        except UnicodeEncodeError as exc:   # a lone surrogate in a name or id: not storable text
            raise InvalidEventError(f"append to {stream!r}: a stream name, event type, id or correlation id "
                                    f"is not valid Unicode text ({exc.reason} at character {exc.start})") from None

    def _append(self, stream: str, events: Sequence[NewEvent], expected_version: ExpectedVersion,
                tails: list[tuple]) -> AppendResult:
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
        up to ``to_version`` and recorded at or before time ``until`` (temporal queries).

        Raises :class:`InvalidEventError` for arguments of the wrong type,
        :class:`CorruptEventError` for a stored row that cannot be decoded,
        :class:`DatabaseError` when SQLite fails.
        """
        _check_str("stream", stream)
        _check_count("after_version", after_version)
        if to_version is not None:
            _check_count("to_version", to_version)
        if until is not None and (isinstance(until, bool) or not isinstance(until, (int, float))):
            raise InvalidEventError(f"until must be None or a time in seconds, got {until!r:.60}")
        sql = f"SELECT {_COLUMNS} FROM events WHERE stream = ? AND version > ?"
        args: list[Any] = [stream, after_version]
        if to_version is not None:
            sql += " AND version <= ?"
            args.append(to_version)
        if until is not None:
            sql += " AND timestamp <= ?"
            args.append(until)
        sql += " ORDER BY version"
        rows = self._query(f"reading stream {stream!r}", sql, args)
        return self._decode(rows)

    def _query(self, what: str, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            try:
                return self._conn.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise DatabaseError(self.path, what, exc) from None
            except UnicodeEncodeError as exc:
                raise InvalidEventError(f"{what}: an argument is not valid Unicode text "
                                        f"({exc.reason} at character {exc.start})") from None
            except OverflowError:
                raise InvalidEventError(f"{what}: a number in {tuple(args)!r:.120} is too large for SQLite "
                                        f"(integers are 64-bit)") from None

    def read_all(self, after: int = 0, limit: int | None = None) -> list[RecordedEvent]:
        """Events of every stream in global position order, starting *after*
        position ``after`` (exclusive, like a checkpoint), at most ``limit`` of them.

        Raises :class:`InvalidEventError` unless ``after`` is an int >= 0 and
        ``limit`` None or an int >= 0; :class:`CorruptEventError` for a stored
        row that cannot be decoded; :class:`DatabaseError` when SQLite fails.
        """
        _check_count("after", after)
        if limit is None:
            rows = self._query("reading $all", f"SELECT {_COLUMNS} FROM events WHERE position > ? "
                                               f"ORDER BY position", (after,))
        else:
            _check_count("limit", limit)
            rows = self._query("reading $all", f"SELECT {_COLUMNS} FROM events WHERE position > ? "
                                               f"ORDER BY position LIMIT ?", (after, limit))
        return self._decode(rows)

    def iter_all(self, after: int = 0, page_size: int = 1000) -> Iterator[RecordedEvent]:
        """Every event after ``after`` in position order, fetched a page at a time.

        Raises what :meth:`read_all` raises, and :class:`InvalidEventError` for a page_size below 1.
        """
        _check_count("page_size", page_size, 1)
        while True:
            page = self.read_all(after, page_size)
            yield from page
            if len(page) < page_size:
                return
            after = page[-1].position

    def stream_version(self, stream: str) -> int:
        """The stream's current version (0 if it has no events).

        Raises :class:`InvalidEventError` for a stream name that is not a str, :class:`DatabaseError`.
        """
        _check_str("stream", stream)
        ((version,),) = self._query(f"reading the version of {stream!r}",
                                    "SELECT max(version) FROM events WHERE stream = ?", (stream,))
        return version or 0

    def last_position(self) -> int:
        """The highest committed global position (0 for an empty store). Raises :class:`DatabaseError`."""
        ((position,),) = self._query("reading the last position", "SELECT max(position) FROM events")
        return position or 0

    def position_at(self, time: float) -> int:
        """The end of the longest prefix of ``$all`` recorded at or before ``time`` (0 if none).

        Timestamps are *recording* time from the store's clock, and a clock can
        step back (NTP): "every event stamped <= t" need not be a prefix of the
        order the store committed in. This answer is one: it stops before the
        first event, in position order, stamped after ``time``. Raises
        :class:`InvalidEventError` (a TypeError) for a time that is not a number, :class:`DatabaseError`.
        """
        if isinstance(time, bool) or not isinstance(time, (int, float)):
            raise InvalidEventError(f"time must be a number of seconds on the store's clock, got {time!r}")
        ((first_later,),) = self._query(f"reading the position at time {time}",
                                        "SELECT min(position) FROM events WHERE timestamp > ?", (time,))
        return self.last_position() if first_later is None else first_later - 1

    def streams(self, prefix: str = "") -> list[str]:
        """Names of the streams that have events, optionally only those starting with ``prefix``.

        Raises :class:`InvalidEventError` for a prefix that is not a str, :class:`DatabaseError`.
        """
        if not isinstance(prefix, str):
            raise InvalidEventError(f"prefix must be a str, got {type(prefix).__name__} {prefix!r:.60}")
        rows = self._query("listing streams",
                           "SELECT DISTINCT stream FROM events WHERE substr(stream, 1, ?) = ? ORDER BY stream",
                           (len(prefix), prefix))
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
            if type(metadata) is not dict and metadata is not _NO_METADATA:
                raise CorruptEventError(stream, version, position,
                                        f"metadata must be a JSON object, found {type(metadata).__name__}")
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

        Raises :class:`InvalidEventError` (a ValueError/TypeError) for a
        from_schema below 1, an upcaster that is not callable or one already registered.
        """
        _check_str("event_type", event_type)
        _check_count("from_schema", from_schema, 1)
        if not callable(upcast):
            raise InvalidEventError(f"upcaster for {event_type!r} must be callable, got {upcast!r}")
        chain = self._upcasters.setdefault(event_type, {})
        if from_schema in chain:
            raise InvalidEventError(f"an upcaster for {event_type!r} schema {from_schema} is already registered")
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
        """Store ``state`` as the aggregate's state after ``version`` events.

        Raises :class:`InvalidEventError` for a version or schema_version below
        1 or a state that is not a JSON object; :class:`DatabaseError`.
        """
        _check_str("stream", stream)
        _check_count(f"snapshot of {stream!r}: version", version, 1)
        _check_count("schema_version", schema_version, 1)
        problem = _json_problem(state, "state") if type(state) is dict else \
            f"state must be a JSON object (a dict), got {type(state).__name__}"
        if problem:
            raise InvalidEventError(f"snapshot of {stream!r}: {problem}")
        snap = Snapshot(stream, version, state, schema_version, self.clock())
        self._query(f"saving a snapshot of {stream!r}", "INSERT OR REPLACE INTO snapshots VALUES (?,?,?,?,?)",
                    (stream, version, json.dumps(state, allow_nan=False), schema_version, snap.timestamp))
        return snap

    def latest_snapshot(self, stream: str, max_version: int | None = None,
                        until: float | None = None) -> Snapshot | None:
        """The newest snapshot of ``stream`` at or below ``max_version`` (and taken at or before ``until``).

        Raises :class:`InvalidEventError` for arguments of the wrong type,
        :class:`CorruptEventError` for a stored snapshot that is not JSON, :class:`DatabaseError`.
        """
        _check_str("stream", stream)
        if max_version is not None:
            _check_count("max_version", max_version)
        if until is not None and (isinstance(until, bool) or not isinstance(until, (int, float))):
            raise InvalidEventError(f"until must be None or a time in seconds, got {until!r:.60}")
        sql = "SELECT version, state, schema_version, timestamp FROM snapshots WHERE stream = ?"
        args: list[Any] = [stream]
        if max_version is not None:
            sql += " AND version <= ?"
            args.append(max_version)
        if until is not None:
            sql += " AND timestamp <= ?"
            args.append(until)
        sql += " ORDER BY version DESC LIMIT 1"
        rows = self._query(f"reading the snapshot of {stream!r}", sql, args)
        if not rows:
            return None
        row = rows[0]
        try:
            state = json.loads(row[1])
        except (TypeError, ValueError) as exc:
            raise CorruptEventError(stream, row[0], -1, f"snapshot state is not valid JSON ({exc})") from None
        return Snapshot(stream, row[0], state, row[2], row[3])

    # -- checkpoints (for subscriptions that keep them in the store) ---------
    def get_checkpoint(self, name: str) -> int:
        """The position subscriber ``name`` last stored (0 if none).

        Raises :class:`InvalidEventError` for a name that is not a non-empty str, :class:`DatabaseError`.
        """
        _check_str("checkpoint name", name)
        rows = self._query(f"reading checkpoint {name!r}", "SELECT position FROM checkpoints WHERE name = ?",
                           (name,))
        return rows[0][0] if rows else 0

    def set_checkpoint(self, name: str, position: int) -> None:
        """Store ``position`` (an int >= 0) as subscriber ``name``'s checkpoint.

        Raises :class:`InvalidEventError` for a name that is not a non-empty str
        or a position that is not an int >= 0 (``set_checkpoint("p", "x")``), :class:`DatabaseError`.
        """
        _check_str("checkpoint name", name)
        _check_count(f"checkpoint {name!r} position", position)
        self._query(f"writing checkpoint {name!r}", "INSERT OR REPLACE INTO checkpoints VALUES (?, ?)",
                    (name, position))

    # -- housekeeping -------------------------------------------------------
    @property
    def connection(self) -> sqlite3.Connection:
        """The raw connection (for inspection in notebooks and tests)."""
        return self._conn

    def close(self) -> None:
        """Close the connection; later calls raise :class:`DatabaseError`."""
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
    if isinstance(expected, str) and expected in (ANY, NO_STREAM, STREAM_EXISTS):
        return
    if isinstance(expected, bool) or not isinstance(expected, int) or expected < 0:
        raise InvalidEventError(f"expected_version must be an int >= 0, ANY, NO_STREAM or STREAM_EXISTS; "
                                f"got {expected!r:.60}")


def _check_str(name: str, value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidEventError(f"{name} must be a non-empty str, got {type(value).__name__} {value!r:.60}")


def _check_count(name: str, value: Any, low: int = 0) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or value > 2**63 - 1:
        raise InvalidEventError(f"{name} must be an int >= {low}, got {type(value).__name__} {value!r:.60}")


_MAX_DEPTH = 100


def _json_problem(value: Any, path: str, depth: int = 0) -> str | None:
    """Why ``value`` would not read back as itself through JSON, or None.

    ``json.dumps`` silently turns a key 1 into "1" and writes NaN, which is not
    JSON; the store refuses both instead of storing something that reads back
    differently (or not at all).
    """
    if value is None or isinstance(value, (str, bool, int)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{path} is {value!r}, which JSON cannot hold (no NaN or infinity)"
    if depth >= _MAX_DEPTH:
        return f"{path} is nested more than {_MAX_DEPTH} levels deep"
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return (f"{path} has the key {key!r} ({type(key).__name__}); JSON object keys are strings "
                        f"and it would read back as {json.dumps(str(key))}: use string keys")
            problem = _json_problem(item, f"{path}[{key!r}]", depth + 1)
            if problem:
                return problem
        return None
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            problem = _json_problem(item, f"{path}[{i}]", depth + 1)
            if problem:
                return problem
        return None
    return (f"{path} is a {type(value).__name__}, which is not JSON-serialisable "
            f"(use dict, list, str, int, float, bool or None)")


def _event_json(stream: str, event: NewEvent) -> tuple[str, str | None]:
    """The event's data and metadata as JSON text; InvalidEventError naming the problem otherwise."""
    data, metadata = event.data, event.metadata
    where = f"event {event.type!r} for {stream!r}"
    if type(data) is not dict:
        problem = f"data must be a JSON object (a dict), got {type(data).__name__} {data!r:.60}"
    else:
        problem = _json_problem(data, "data")
    if problem is None and metadata is not None:
        if not isinstance(metadata, Mapping):
            problem = f"metadata must be a mapping (a dict) or None, got {type(metadata).__name__} {metadata!r:.60}"
        else:
            metadata = dict(metadata)
            problem = _json_problem(metadata, "metadata")
    if problem:
        raise InvalidEventError(f"{where} is not JSON-serialisable as stored: {problem}")
    try:
        return json.dumps(data, allow_nan=False), (json.dumps(metadata, allow_nan=False) if metadata else None)
    except (TypeError, ValueError, RecursionError) as exc:  # pragma: no cover - _json_problem catches these
        raise InvalidEventError(f"{where} is not JSON-serialisable: {exc}") from None


def _version_matches(expected: ExpectedVersion, actual: int) -> bool:
    if expected == ANY:
        return True
    if expected == NO_STREAM:
        return actual == 0
    if expected == STREAM_EXISTS:
        return actual > 0
    return expected == actual
