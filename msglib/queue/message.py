"""Messages and deliveries in the RabbitMQ (AMQP 0-9-1) model.

A *message* is what a publisher sends: a body, a routing key, headers and a
few properties (``message_id``, ``expiration``). A *delivery* is one hand-over
of a message to one consumer: it carries a ``delivery_tag`` the consumer uses
to acknowledge it, and a ``redelivered`` flag that says "you (or someone) may
have seen this message before".

The broker keeps its own notes on a message next to the client's headers:
``deaths`` (why and where it was dead-lettered, the source of ``x-death``) and
``delivery_count`` (quorum queues' ``x-delivery-count``: every return before
RabbitMQ 4.3, only failed deliveries, ``basic.reject``, since). Keeping them apart is what lets the broker ignore an
``x-death`` header a client wrote itself.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Message:
    """One message as the broker stores it.

    ``expiration`` is the per-message TTL in ms (AMQP's ``expiration``
    property); ``None`` means it never expires on its own. ``routing_keys`` are
    the key it was published with plus any ``CC`` keys: dead-lettering reuses
    them all.
    """

    body: Any
    routing_key: str = ""
    headers: dict = field(default_factory=dict)
    message_id: str | None = None
    expiration: float | None = None
    timestamp: float = 0.0              # when it was published (simulated ms)
    exchange: str = ""                  # the exchange it was last published to
    routing_keys: list[str] = field(default_factory=list)
    # -- the broker's own notes (not client headers) --------------------------
    deaths: list[dict] = field(default_factory=list)  # newest first, one per (queue, reason)
    first_death: dict | None = None                   # queue, reason, exchange of the first death
    delivery_count: int = 0                           # counted returns to a quorum queue (see above)

    def copy(self) -> "Message":
        """An independent copy: each queue a message is routed to holds its own."""
        deaths = copy.deepcopy(self.deaths) if self.deaths else []
        return Message(self.body, self.routing_key, dict(self.headers), self.message_id, self.expiration,
                       self.timestamp, self.exchange, list(self.routing_keys), deaths,
                       dict(self.first_death) if self.first_death else None, self.delivery_count)

    def death_count(self, queue: str | None = None, reason: str | None = None) -> int:
        """How many times it was dead-lettered (optionally: from ``queue``, for ``reason``)."""
        return sum(d["count"] for d in self.deaths
                   if (queue is None or d["queue"] == queue) and (reason is None or d["reason"] == reason))


@dataclass
class Delivery:
    """One delivery of a message to a consumer (or to a ``get``)."""

    delivery_tag: int
    message: Message
    queue: str
    consumer_tag: str | None
    redelivered: bool
    delivered_at: float

    @property
    def body(self) -> Any:
        return self.message.body

    @property
    def headers(self) -> dict:
        return self.message.headers

    @property
    def message_id(self) -> str | None:
        return self.message.message_id

    @property
    def routing_key(self) -> str:
        return self.message.routing_key

    def __repr__(self) -> str:
        again = ", redelivered" if self.redelivered else ""
        return f"Delivery(#{self.delivery_tag} {self.message_id} from {self.queue!r}{again})"


__all__ = ["Message", "Delivery"]
