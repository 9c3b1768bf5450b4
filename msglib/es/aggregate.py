"""Aggregates: objects whose state is the fold of their events.

An aggregate never sets its state directly. A command method checks the
invariants against the current state, then *records* an event; recording
applies the event (the same code that replay runs) and keeps it as pending
until the repository appends it. So:

    state after commands == replay(stored events + pending events)

Handlers are methods named ``when_<EventType>(self, data)``. ``apply`` picks
one by the event's type; ``replay`` applies a stream of events in order.
``apply`` is also the seam the course's exercises replace.
"""
from __future__ import annotations

from typing import Any, Callable, ClassVar, Iterable, TypeVar

from msglib.es.errors import EventSchemaError, StreamNotFoundError, UnknownEventTypeError
from msglib.es.events import NO_STREAM, AppendResult, NewEvent, RecordedEvent
from msglib.es.store import EventStore

A = TypeVar("A", bound="Aggregate")


class Aggregate:
    """Base class: an id, a version, pending events, and apply/replay.

    Invariant: ``version`` = number of events applied (stored + pending);
    the stored part is ``version - len(pending)``.
    """

    stream_prefix: ClassVar[str] = "aggregate"
    # The shape and meaning of snapshot_state(). Bump it whenever a handler, an upcaster or the state's fields
    # change what a fold produces: snapshots taken under another version are then ignored (replayed past).
    snapshot_version: ClassVar[int] = 1
    _handlers: ClassVar[dict[str, Callable[[Any, dict], None]]] = {}

    def __init__(self, id: str) -> None:
        if not isinstance(id, str) or not id:
            raise ValueError(f"{type(self).__name__} id must be a non-empty string, got {id!r}")
        self.id = id
        self.version = 0
        self.pending: list[NewEvent] = []

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Dispatch table built once per class: "Deposited" -> when_Deposited.
        handlers: dict[str, Callable[[Any, dict], None]] = {}
        for klass in reversed(cls.__mro__):
            for name, fn in vars(klass).items():
                if name.startswith("when_") and callable(fn):
                    handlers[name[5:]] = fn
        cls._handlers = handlers

    @property
    def stream(self) -> str:
        return f"{self.stream_prefix}-{self.id}"

    # -- recording ----------------------------------------------------------
    def record(self, event_type: str, event_id: str | None = None, **data: Any) -> NewEvent:
        """Apply a new event to this object and keep it as pending."""
        event = NewEvent(event_type, data, event_id=event_id)
        self.apply(event)
        self.version += 1
        self.pending.append(event)
        return event

    def apply(self, event: NewEvent | RecordedEvent) -> None:
        """Change state by one event (does not touch ``version``)."""
        handler = self._handlers.get(event.type)
        if handler is None:
            raise UnknownEventTypeError(type(self).__name__, event.type, getattr(event, "stream", None),
                                        getattr(event, "version", None), getattr(event, "schema_version", None))
        try:
            handler(self, event.data)
        except KeyError as missing:
            raise EventSchemaError(type(self).__name__, event.type, missing.args[0] if missing.args else "?",
                                   event.data, getattr(event, "stream", None), getattr(event, "version", None),
                                   getattr(event, "schema_version", None)) from None

    @classmethod
    def replay(cls: type[A], id: str, events: Iterable[RecordedEvent], start: A | None = None) -> A:
        """Rebuild an aggregate from its stored events (optionally on top of a snapshot's object)."""
        aggregate = start if start is not None else cls(id)
        apply = aggregate.apply
        version = aggregate.version
        for event in events:
            apply(event)
            version += 1
        aggregate.version = version
        return aggregate

    def collect_pending(self) -> list[NewEvent]:
        """Hand over (and forget) the pending events."""
        events, self.pending = self.pending, []
        return events

    # -- snapshots ----------------------------------------------------------
    def snapshot_state(self) -> dict[str, Any]:
        """The state to store in a snapshot (JSON-able). Default: every public attribute
        except id, version and pending."""
        return {k: v for k, v in vars(self).items() if k not in ("id", "version", "pending")
                and not k.startswith("_")}

    @classmethod
    def from_snapshot(cls: type[A], id: str, version: int, state: dict[str, Any]) -> A:
        aggregate = cls(id)
        for key, value in state.items():
            setattr(aggregate, key, value)
        aggregate.version = version
        return aggregate

    def __repr__(self) -> str:
        state = ", ".join(f"{k}={v!r}" for k, v in self.snapshot_state().items())
        return f"{type(self).__name__}(id={self.id!r}, version={self.version}, {state})"


class Repository:
    """Loads aggregates of one class from an EventStore and saves their pending events.

    ``snapshot_every=N`` stores a snapshot whenever a save crosses a multiple
    of N events, so a load replays at most about N events. A snapshot records
    the aggregate's ``snapshot_version``; a load ignores a snapshot of another
    version and replays from the first event instead (a snapshot is a cache of
    a fold, and a new handler or upcaster makes it the cache of another fold).
    """

    def __init__(self, store: EventStore, cls: type[A], *, snapshot_every: int | None = None) -> None:
        if snapshot_every is not None and snapshot_every < 1:
            raise ValueError(f"snapshot_every must be >= 1 or None, got {snapshot_every}")
        self.store = store
        self.cls = cls
        self.snapshot_every = snapshot_every
        self.events_replayed = 0  # how many events the loads so far replayed (to see snapshots work)
        self.stale_snapshots = 0  # snapshots ignored because they were taken under another snapshot_version

    def stream_of(self, id: str) -> str:
        return f"{self.cls.stream_prefix}-{id}"

    def load(self, id: str, *, as_of_version: int | None = None, as_of_position: int | None = None,
             as_of_time: float | None = None, use_snapshots: bool = True) -> A:
        """The aggregate as of now, or as of a version of its stream, a position in ``$all``, or a time.

        ``as_of_position=p``: every event the store had committed up to global position p, the question
        "what did the system know at that point of its history?". ``as_of_time=t`` is *recording* time
        (the store's clock, when the store wrote the event), not business time (when the deposit happened
        in the world: put that in the event's data). It is turned into a position
        (:meth:`EventStore.position_at`), so the answer is always a prefix of the history, even if the
        clock stepped back in between.
        """
        stream = self.stream_of(id)
        if as_of_time is not None:
            at = self.store.position_at(as_of_time)
            as_of_position = at if as_of_position is None else min(at, as_of_position)
        if as_of_position is not None:
            # Within a stream, versions grow with positions: the events up to p are a prefix of the stream.
            prefix = [e for e in self.store.read_stream(stream, to_version=as_of_version) if e.position <= as_of_position]
            as_of_version = prefix[-1].version if prefix else 0
            if not prefix:
                raise StreamNotFoundError(stream)
        start = None
        after = 0
        if use_snapshots and self.snapshot_every is not None:
            snap = self.store.latest_snapshot(stream, max_version=as_of_version)
            if snap is not None and snap.schema_version != self.cls.snapshot_version:
                self.stale_snapshots += 1          # taken under another fold: replay from the first event
                snap = None
            if snap is not None:
                start = self.cls.from_snapshot(id, snap.version, snap.state)
                after = snap.version
        if as_of_position is not None:
            events = [e for e in prefix if e.version > after]
        else:
            events = self.store.read_stream(stream, after_version=after, to_version=as_of_version)
        if start is None and not events:
            raise StreamNotFoundError(stream)
        self.events_replayed += len(events)
        return self.cls.replay(id, events, start)

    def exists(self, id: str) -> bool:
        return self.store.stream_version(self.stream_of(id)) > 0

    def save(self, aggregate: A, *, correlation_id: str | None = None,
             causation_id: str | None = None) -> AppendResult | None:
        """Append the aggregate's pending events, expecting the version it was loaded at."""
        if not aggregate.pending:
            return None
        expected = aggregate.version - len(aggregate.pending)
        result = self.store.append(aggregate.stream, aggregate.pending, expected if expected else NO_STREAM,
                                   correlation_id=correlation_id, causation_id=causation_id)
        aggregate.pending = []
        every = self.snapshot_every
        if every is not None and result.last_version // every > (result.first_version - 1) // every:
            self.store.save_snapshot(aggregate.stream, aggregate.version, aggregate.snapshot_state(),
                                     schema_version=self.cls.snapshot_version)
        return result
