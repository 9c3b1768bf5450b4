"""Errors of the event store and its aggregates.

Each error names the thing that went wrong (stream, version, event type) and,
where there is one, the fix. Nothing already stored is changed by a failed
append: every check runs inside the append's transaction, before its commit.
"""
from __future__ import annotations


class EventStoreError(Exception):
    """Base class of every msglib.es error."""


class InvalidEventError(EventStoreError, ValueError, TypeError):
    """An argument the store refuses before touching the database: event data that is not a JSON
    object, metadata that is not a mapping, a non-string id, a negative limit...

    It is a ValueError and a TypeError too, so code that caught either still does.
    """


class DatabaseError(EventStoreError):
    """SQLite could not open or use the store's database; the message names the path and the fix."""

    def __init__(self, path: str, what: str, cause: BaseException) -> None:
        self.path = path
        self.cause = cause
        super().__init__(f"event store {path!r}: {what}: {cause}")


class ConcurrencyError(EventStoreError):
    """An append's expected version did not match the stream's actual version.

    Another writer appended to the stream after this one read it. Reload the
    stream, decide again on the fresh state, and retry the append.
    """

    def __init__(self, stream: str, expected: int | str, actual: int) -> None:
        self.stream = stream
        self.expected = expected
        self.actual = actual
        shown = "does not exist yet (version 0)" if actual == 0 else f"is at version {actual}"
        super().__init__(
            f"stream {stream!r}: expected version {expected!r} but the stream {shown}; "
            f"another writer appended first - reload the stream, decide again and retry"
        )


class DuplicateEventError(EventStoreError):
    """An event id in the append is already stored, but not as a retry of this same append."""

    def __init__(self, event_id: str, stored_stream: str, stored_version: int, detail: str) -> None:
        self.event_id = event_id
        self.stored_stream = stored_stream
        self.stored_version = stored_version
        super().__init__(
            f"event id {event_id} is already stored as {stored_stream!r} version {stored_version}; {detail}"
        )


class CorruptEventError(EventStoreError):
    """A stored event row could not be decoded."""

    def __init__(self, stream: str, version: int, position: int, detail: str) -> None:
        self.stream = stream
        self.version = version
        self.position = position
        super().__init__(
            f"corrupt event row: stream {stream!r} version {version} (position {position}): {detail}"
        )


class UnknownEventTypeError(EventStoreError):
    """Replay met an event type that the aggregate has no handler for."""

    def __init__(self, aggregate: str, event_type: str, stream: str | None, version: int | None,
                 schema_version: int | None = None) -> None:
        self.aggregate = aggregate
        self.event_type = event_type
        where = f" (stream {stream!r} version {version})" if stream is not None else ""
        schema = f", schema {schema_version}" if schema_version is not None else ""
        super().__init__(
            f"{aggregate} has no handler for event type {event_type!r}{schema}{where}. "
            f"If the type was renamed or its data changed shape, register an upcaster: "
            f"store.register_upcaster({event_type!r}, from_schema=N, upcast=fn); "
            f"otherwise add a method when_{event_type}(self, data) to {aggregate}."
        )


class EventSchemaError(EventStoreError):
    """An event of a known type lacks a field its handler needs: it was stored in an older shape."""

    def __init__(self, aggregate: str, event_type: str, missing: str, data: dict, stream: str | None,
                 version: int | None, schema_version: int | None) -> None:
        self.aggregate = aggregate
        self.event_type = event_type
        where = f" (stream {stream!r} version {version}, schema {schema_version})" if stream is not None else ""
        super().__init__(
            f"{aggregate} cannot apply {event_type!r}{where}: its data {data!r} has no field {missing!r}. "
            f"If the event's shape changed since it was stored, register an upcaster: "
            f"store.register_upcaster({event_type!r}, from_schema={schema_version or 1}, upcast=fn)."
        )


class StreamNotFoundError(EventStoreError):
    """Loading an aggregate whose stream has no events."""

    def __init__(self, stream: str) -> None:
        self.stream = stream
        super().__init__(f"stream {stream!r} has no events; create the aggregate before loading it")


class DomainError(EventStoreError):
    """A command was refused by an aggregate's invariants (nothing was recorded)."""
