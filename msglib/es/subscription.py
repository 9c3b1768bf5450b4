"""Catch-up subscriptions: every event after a checkpoint, in ``$all`` order, then live.

A subscription remembers the position of the last event it handled (its
checkpoint, stored in the event store under its name). Started again, it
asks for everything *after* that position, so it first catches up on what it
missed and then keeps following new events. Because the store allocates
positions in commit order (see store.py), "everything after p" never misses
an event that commits later with a smaller position.

Delivery is at-least-once: the checkpoint is saved every ``checkpoint_every``
events, after the handler ran; a crash in between hands those events to the
handler again. A handler that must see each event exactly once keeps its own
checkpoint in the same transaction as its effect (msglib.cqrs projections do).
"""
from __future__ import annotations

from typing import Callable

from msglib.es.events import RecordedEvent
from msglib.es.store import EventStore


class Subscription:
    def __init__(self, store: EventStore, name: str, handler: Callable[[RecordedEvent], None], *,
                 page_size: int = 500, checkpoint_every: int = 100) -> None:
        if page_size < 1 or checkpoint_every < 1:
            raise ValueError("page_size and checkpoint_every must be >= 1")
        self.store = store
        self.name = name
        self.handler = handler
        self.page_size = page_size
        self.checkpoint_every = checkpoint_every
        self.position = store.get_checkpoint(name)  # last position handled
        self.delivered = 0
        self._polling = False
        self._more = False
        self._unlisten: Callable[[], None] | None = None

    def poll(self, max_events: int | None = None) -> int:
        """Hand every event committed after ``position`` to the handler, in order.
        Returns how many were delivered."""
        if self._polling:        # called again from inside the handler (it appended):
            self._more = True    # the outer loop picks the new events up
            return 0
        self._polling = True
        delivered = 0
        since_checkpoint = 0
        try:
            while max_events is None or delivered < max_events:
                self._more = False
                limit = self.page_size if max_events is None else min(self.page_size, max_events - delivered)
                page = self.store.read_all(self.position, limit)
                for event in page:
                    self.handler(event)
                    self.position = event.position
                    delivered += 1
                    since_checkpoint += 1
                    if since_checkpoint >= self.checkpoint_every:
                        self.store.set_checkpoint(self.name, self.position)
                        since_checkpoint = 0
                if len(page) < limit and not self._more:
                    break
        finally:
            if since_checkpoint:
                self.store.set_checkpoint(self.name, self.position)
            self._polling = False
            self.delivered += delivered
        return delivered

    def follow(self) -> None:
        """Catch up now, then deliver live: after every append made through this
        store object. (Appends from other processes are seen at the next poll.)"""
        self.poll()
        if self._unlisten is None:
            self._unlisten = self.store.on_append(lambda result: self.poll())

    def stop(self) -> None:
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None

    @property
    def lag(self) -> int:
        """Events committed but not yet handled."""
        return self.store.last_position() - self.position
