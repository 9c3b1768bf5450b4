"""Which consumer gets the next message: round-robin, bounded by prefetch.

A queue with several consumers hands each message to exactly one of them
(competing consumers). RabbitMQ goes round the consumers in turn and skips
any that already hold ``prefetch`` unacknowledged messages (``basic.qos``);
``prefetch=0`` means no limit. So a slow consumer that has not acked its
messages stops receiving new ones, and the fast ones take over: prefetch is
what turns round-robin into load balancing.

The broker calls ``dispatcher(consumers, next_index)`` for every message it
is about to deliver, where ``next_index`` is the consumer whose turn it is.
The dispatcher returns the index of the chosen consumer, or ``None`` when none
has room (the message then waits in the queue). The broker moves the turn to
the one after the chosen consumer. This is a seam: module 01's exercise
plugs a learner's dispatcher in with ``Broker(dispatcher=...)``.
"""
from __future__ import annotations

from typing import Callable, NamedTuple, Sequence


class ConsumerView(NamedTuple):
    """What a dispatcher may look at: a consumer's tag, its limit and its load (read-only)."""

    tag: str
    prefetch: int        # 0 = unlimited
    unacked: int         # deliveries it has not acknowledged yet

    @property
    def has_room(self) -> bool:
        return self.prefetch == 0 or self.unacked < self.prefetch


Dispatcher = Callable[[Sequence[ConsumerView], int], "int | None"]


def round_robin(consumers: Sequence[ConsumerView], next_index: int) -> int | None:
    """The first consumer with room, starting at ``next_index`` and wrapping around."""
    n = len(consumers)
    for step in range(n):
        i = (next_index + step) % n
        c = consumers[i]
        if c.prefetch == 0 or c.unacked < c.prefetch:
            return i
    return None


__all__ = ["ConsumerView", "Dispatcher", "round_robin"]
