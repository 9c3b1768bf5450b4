"""State stores: a dict in the task's memory, made durable by a compacted *changelog* topic.

Every write to a store is also a record of its changelog (key = the store key, value = the new value, or a
*tombstone*, value None, for a delete). Writes are buffered per key until the task commits (Kafka's record
cache does the same): only the last value of each key in a commit interval is sent. Because the changelog is
compacted, it keeps at least the latest value of every key, and reading it from the start rebuilds the store.

Invariant: after a commit, ``store == what the changelog (read to its end) says``. Under exactly-once the
changelog writes are in the same transaction as the input offsets, so a read_committed restore rebuilds exactly
the state that goes with the committed offsets.
"""
from __future__ import annotations

import bisect
import json
from itertools import repeat
from typing import Any, Callable, Iterator, NamedTuple


# ---------------------------------------------------------------------------------- serde
_ENCODER = json.JSONEncoder(separators=(",", ":"))     # one encoder: json.dumps(..., separators=) builds one per call


def encode(obj: Any) -> bytes | None:
    """Keys and values on topics are JSON (None stays None: a tombstone)."""
    if obj is None:
        return None
    # Fast paths for what stores hold most (counts, window keys): byte for byte what the encoder writes.
    kind = type(obj)
    if kind is int:
        return b"%d" % obj
    if kind is tuple and len(obj) == 2 and type(obj[1]) is int and type(obj[0]) is str and _plain_str(obj[0]):
        return b'["%s",%d]' % (obj[0].encode(), obj[1])
    return _ENCODER.encode(obj).encode()


def _plain_str(s: str) -> bool:
    """True if JSON writes ``s`` as itself in quotes: printable ASCII without a quote or a backslash."""
    return s.isascii() and s.isprintable() and '"' not in s and "\\" not in s


def tuplify(obj: Any) -> Any:
    """JSON turns tuples into lists; store keys are tuples again after a round trip."""
    return tuple(tuplify(x) for x in obj) if isinstance(obj, list) else obj


def decode(data: bytes | None) -> Any:
    return None if data is None else json.loads(data)


def decode_key(data: bytes | None) -> Any:
    return None if data is None else tuplify(json.loads(data))


def changelog_topic(application_id: str, store: str) -> str:
    """Kafka's name for a store's changelog: ``<application.id>-<store name>-changelog``."""
    return f"{application_id}-{store}-changelog"


# ---------------------------------------------------------------------------------- stores
class ChangelogWrite(NamedTuple):
    """One record for a changelog topic: ``producer.send(topic, value, key=key, partition=partition)``.
    (A named tuple: a commit makes thousands of them.)"""

    topic: str
    partition: int
    key: bytes
    value: bytes | None
    timestamp: int | None = None


_new_tuple = tuple.__new__        # builds a named tuple without a Python-level __new__ call per record


class KeyValueStore:
    """A key-value store with a changelog: ``data`` is the state, ``dirty`` the writes not yet logged."""

    versioned = False

    def __init__(self, name: str) -> None:
        self.name = name
        self.data: dict[Any, Any] = {}
        self.dirty: dict[Any, Any] = {}          # key -> latest value since the last flush (None: deleted)
        self._prefixes: dict[str, bytes] = {}     # str -> its JSON as the start of a window key (b"": escaped)

    def get(self, key: Any, default: Any = None) -> Any:
        return self.data.get(key, default)

    def put(self, key: Any, value: Any) -> None:
        if value is None:
            return self.delete(key)
        self.data[key] = value
        self.dirty[key] = value

    def delete(self, key: Any) -> None:
        self.data.pop(key, None)
        self.dirty[key] = None

    def items(self) -> Iterator[tuple[Any, Any]]:
        return iter(list(self.data.items()))

    def __len__(self) -> int:
        return len(self.data)

    def flush(self) -> list[tuple[bytes, bytes | None, int | None]]:
        """The changelog records for the writes since the last flush: ``(key, value, timestamp)``."""
        return [(w[2], w[3], w[4]) for w in self.flush_writes("", -1)]

    def flush_writes(self, topic: str, partition: int) -> list[ChangelogWrite]:
        """The writes since the last flush as records of changelog ``topic``/``partition`` (what :meth:`flush`
        gives, as :class:`ChangelogWrite`-s, the named tuples built by ``map`` without a Python call each)."""
        dirty = self.dirty
        prefixes = self._prefixes
        if len(prefixes) > 100_000:             # a cache, not a second copy of every key ever seen
            prefixes.clear()
        keys: list[bytes | None] = []
        append = keys.append
        for k in dirty:
            # encode() inlined for the commonest keys (window keys): a commit flushes thousands of them. A window
            # key ``(str, int)`` is ``["<str>",<int>]``: the ``["<str>",`` part is cached per string (b"" if
            # the string needs escaping: then encode() writes the key).
            if type(k) is tuple and len(k) == 2 and type(k[1]) is int and type(k[0]) is str:
                prefix = prefixes.get(k[0])
                if prefix is None:
                    k0 = k[0]
                    prefix = prefixes[k0] = (b'["%s",' % k0.encode()) if _plain_str(k0) else b""
                append(b"%s%d]" % (prefix, k[1]) if prefix else encode(k))
            else:
                append(encode(k))
        values = [b"%d" % v if type(v) is int else None if v is None else encode(v) for v in dirty.values()]
        dirty.clear()                           # the same dict: a processor may hold it (the window fast path)
        return list(map(_new_tuple, repeat(ChangelogWrite),
                        zip(repeat(topic), repeat(partition), keys, values, repeat(None))))

    def load(self, raw: dict[bytes, bytes]) -> None:
        """Replace the state by a restored changelog image ``{key bytes: value bytes}`` (no tombstones left)."""
        self.data = {decode_key(k): decode(v) for k, v in raw.items()}
        self.dirty = {}

    def snapshot(self) -> dict:
        return dict(self.data)


class VersionedKeyValueStore(KeyValueStore):
    """Several versions per key, each valid from its timestamp (Kafka 3.5's versioned store, KIP-889/914).

    ``data[key]`` is a list of ``(timestamp, value)`` sorted by timestamp (value None: deleted from then on).
    A second write with the same key and timestamp replaces the first."""

    versioned = True

    def __init__(self, name: str, lookup: Callable[[list, int], Any] | None = None) -> None:
        super().__init__(name)
        self.lookup = lookup or value_as_of
        self._pending: list[tuple[Any, Any, int]] = []

    def put_version(self, key: Any, value: Any, timestamp: int) -> None:
        versions = self.data.setdefault(key, [])
        i = bisect.bisect_left([t for t, _ in versions], timestamp)
        if i < len(versions) and versions[i][0] == timestamp:
            versions[i] = (timestamp, value)
        else:
            versions.insert(i, (timestamp, value))
        self._pending.append((key, value, timestamp))

    def get(self, key: Any, default: Any = None) -> Any:
        """The latest version *by timestamp* (not by arrival)."""
        versions = self.data.get(key)
        return versions[-1][1] if versions else default

    def get_as_of(self, key: Any, timestamp: int) -> Any:
        return self.lookup(list(self.data.get(key, ())), timestamp)

    def flush(self) -> list[tuple[bytes, bytes | None, int | None]]:
        out = [(encode(k), encode(v), ts) for k, v, ts in self._pending]
        self._pending = []
        return out

    def flush_writes(self, topic: str, partition: int) -> list[ChangelogWrite]:
        return [_new_tuple(ChangelogWrite, (topic, partition, k, v, ts)) for k, v, ts in self.flush()]

    def load_versions(self, records: list[tuple[bytes, bytes | None, int]]) -> None:
        self.data = {}
        for k, v, ts in records:
            self.put_version(decode_key(k), decode(v), ts)
        self._pending = []


def value_as_of(versions: list[tuple[int, Any]], timestamp: int) -> Any:
    """The table value a stream record at ``timestamp`` sees: the version with the greatest timestamp <= it.

    ``versions`` are ``(timestamp, value)`` in the order they arrived (not necessarily by timestamp); of two
    versions with the same timestamp the later one wins; a value None (a delete) means no row. None if no
    version is old enough."""
    best_ts, best = None, None
    for ts, value in versions:
        if ts <= timestamp and (best_ts is None or ts >= best_ts):
            best_ts, best = ts, value
    return best


# ---------------------------------------------------------------------------------- restore
def restore_from_changelog(consumer: Any, tp: Any, store: dict, end_offset: int) -> dict:
    """Rebuild a store from its changelog partition: read from the consumer's position up to ``end_offset``.

    ``consumer`` is assigned ``tp`` and positioned where ``store`` (``{key bytes: value bytes}``, maybe a
    standby's copy) left off. Each record overwrites its key; a tombstone (value None) deletes it. Records are
    applied in offset order, so the last write of each key wins, as compaction would keep it."""
    while consumer.position(tp) < end_offset:
        for records in consumer.poll(timeout_ms=50).values():
            for record in records:
                if record.value is None:
                    store.pop(record.key, None)
                else:
                    store[record.key] = record.value
    return store
