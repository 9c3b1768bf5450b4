"""Event shapes: what a writer hands the store, and what a reader gets back.

A stream's version counts its events: the first event is version 1 and an
empty (absent) stream is at version 0. (KurrentDB numbers revisions from 0;
msglib counts like the ``eventsourcing`` library, so "version" = "how many
events".) The global position orders every event of every stream: the
``$all`` order, starting at 1.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Union

# Expected-version values for EventStore.append (besides an exact int >= 0).
ANY = "any"                      # no check at all
NO_STREAM = "no_stream"          # the stream must not exist yet (same as exact 0)
STREAM_EXISTS = "stream_exists"  # the stream must have at least one event

ExpectedVersion = Union[int, str]


def new_event_id() -> str:
    """A unique event id: 48 bits of milliseconds, then 80 random bits, as 32 hex digits.

    Like a UUIDv7, ids made later sort later, so the store's unique index on
    event ids grows at its right edge: an append dirties one index page,
    not one random page per event (which costs real I/O on every commit).
    The time only orders ids; nothing relies on it being exact.
    """
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"


class NewEvent:
    """An event about to be appended: a type name, JSON-able data, a unique id.

    The id is what makes a retried append idempotent: appending the same ids
    again to the same stream stores them once. Any unique string will do; the
    default is time-ordered like a UUIDv7 (see ``new_event_id``).
    """

    __slots__ = ("type", "data", "event_id", "metadata")

    def __init__(self, type: str, data: dict[str, Any] | None = None, *,
                 event_id: str | None = None, metadata: dict[str, Any] | None = None) -> None:
        if not isinstance(type, str) or not type:
            raise ValueError(f"event type must be a non-empty string, got {type!r}")
        self.type = type
        self.data = {} if data is None else data
        self.event_id = event_id if event_id is not None else new_event_id()
        self.metadata = metadata

    def __repr__(self) -> str:
        return f"NewEvent({self.type!r}, {self.data!r})"


@dataclass(slots=True)
class RecordedEvent:
    """An event as stored: where it sits (stream, version, position) plus what it says."""

    position: int            # place in the global $all order
    stream: str
    version: int             # 1-based place in its stream
    type: str
    data: dict[str, Any]
    event_id: str
    timestamp: float         # seconds, from the store's clock at append time
    schema_version: int = 1  # after upcasting: the current schema of this type
    correlation_id: str | None = None
    causation_id: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)  # read-only when empty


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What an append stored. ``idempotent`` is True when nothing new was written
    because the very same events (same ids) were already there."""

    stream: str
    first_version: int
    last_version: int
    first_position: int
    last_position: int
    idempotent: bool = False


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An aggregate's state at ``version`` of ``stream``, so replay can start there."""

    stream: str
    version: int
    state: dict[str, Any]
    schema_version: int
    timestamp: float
