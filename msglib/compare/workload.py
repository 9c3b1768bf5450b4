"""One seeded workload that every broker model runs: what is published, when, and who reads it.

A comparison is only fair if every model sees exactly the same thing. So the
workload is plain data (:class:`Workload`, :class:`Subscriber`), the messages
it publishes are a pure function of ``(workload, seed)``, and so is everything
the consumers do: how long each message takes to process and whether a
consumer crashes after processing it (:class:`Behaviour`). Kafka, RabbitMQ,
SQS and Pulsar then differ only in how their mechanisms move those messages.

Time is simulated milliseconds; nothing here reads a clock.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Iterable

SECOND = 1_000.0
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR

ROUTING_KEYS = ("order.eu.created", "order.us.created", "order.eu.paid", "order.us.paid", "refund.eu.created")


@dataclass(frozen=True)
class Message:
    """One published message. ``seq`` is its place among the messages of its key (0, 1, 2...)."""

    id: int
    key: str
    seq: int
    produced_at: float     # ms: when the producer sent it
    size: int              # payload bytes
    routing_key: str       # what RabbitMQ would route on, e.g. "order.eu.created"
    tenant: str = "main"


@dataclass(frozen=True)
class Subscriber:
    """An application that wants the stream: ``consumers`` processes share its work.

    * ``pattern``: a topic pattern on the routing key (``"order.eu.*"``); None = everything.
    * ``joins_at``: when it subscribes (the queue is declared, the group or subscription created).
    * ``starts_at``: when its consumers start reading (>= ``joins_at``; offline until then).
    * ``from_beginning``: it asks for the messages published *before* it joined (a replay).
    * ``scale_out``: times at which one more consumer joins it.
    """

    name: str
    consumers: int = 1
    pattern: str | None = None
    joins_at: float = 0.0
    starts_at: float | None = None
    from_beginning: bool = False
    scale_out: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ValueError(f"a subscriber needs a name, got {self.name!r}")
        if not isinstance(self.consumers, int) or self.consumers < 0:
            raise ValueError(f"subscriber {self.name!r}: consumers must be an int >= 0, got {self.consumers!r}")
        if self.starts_at is not None and self.starts_at < self.joins_at:
            raise ValueError(f"subscriber {self.name!r}: starts_at ({self.starts_at}) is before joins_at "
                             f"({self.joins_at}); consumers cannot read before the subscription exists")

    @property
    def start(self) -> float:
        return self.joins_at if self.starts_at is None else self.starts_at


@dataclass(frozen=True)
class Workload:
    """The same seeded workload for every model. Defaults are small: a run takes milliseconds.

    Publishing: ``n_messages`` over ``n_keys`` keys, exponential gaps of mean
    ``interval_ms``, ``message_bytes`` each. Consuming: each message takes an
    exponential time of mean ``process_ms`` (``slow_factor`` times longer on the
    first ``slow_consumers`` consumers of every subscriber); with probability
    ``crash_prob`` the consumer dies *after* processing and *before* its ack or
    commit reaches the broker, and comes back ``restart_ms`` later.

    ``exactly_once`` asks each model for its strongest guarantee (Kafka and
    Pulsar transactions; queues have none). ``retention_ms`` is how long the
    models keep messages where they can (Kafka ``retention.ms``, SQS
    ``MessageRetentionPeriod`` capped at 14 days, Pulsar's retention policy).
    ``noisy_messages`` published by a second tenant every ``noisy_interval_ms``
    compete for a broker node that spends ``broker_service_ms`` per message.
    """

    n_messages: int = 200
    n_keys: int = 16
    interval_ms: float = 2.0
    message_bytes: int = 100
    subscribers: tuple[Subscriber, ...] = (Subscriber("app", 2),)
    process_ms: float = 1.0
    slow_consumers: int = 0
    slow_factor: float = 20.0
    crash_prob: float = 0.0
    restart_ms: float = 100.0
    prefetch: int = 10
    exactly_once: bool = False
    retention_ms: float = 7 * DAY
    routing_keys: tuple[str, ...] = ROUTING_KEYS
    broker_service_ms: float = 0.0
    noisy_messages: int = 0
    noisy_interval_ms: float = 0.05
    noisy_start_ms: float = 0.0
    drain_ms: float = 120 * SECOND

    def __post_init__(self) -> None:
        if not isinstance(self.n_messages, int) or self.n_messages < 0:
            raise ValueError(f"n_messages must be an int >= 0, got {self.n_messages!r}")
        if not isinstance(self.n_keys, int) or self.n_keys < 1:
            raise ValueError(f"n_keys must be an int >= 1, got {self.n_keys!r}")
        for name in ("interval_ms", "process_ms", "restart_ms", "broker_service_ms", "noisy_interval_ms",
                     "drain_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0 ms, got {getattr(self, name)!r}")
        if not 0 <= self.crash_prob < 1:
            raise ValueError(f"crash_prob must be in [0, 1), got {self.crash_prob!r}: with 1 nothing is ever acked")
        if self.slow_factor < 1:
            raise ValueError(f"slow_factor must be >= 1 (a slow consumer is slower), got {self.slow_factor!r}")
        if not isinstance(self.prefetch, int) or self.prefetch < 1:
            raise ValueError(f"prefetch must be an int >= 1, got {self.prefetch!r}")
        if self.message_bytes < 1:
            raise ValueError(f"message_bytes must be >= 1, got {self.message_bytes!r}")
        names = [s.name for s in self.subscribers]
        if len(set(names)) != len(names):
            raise ValueError(f"subscriber names must be unique, got {names}")
        if not self.routing_keys:
            raise ValueError("routing_keys must name at least one routing key")

    def with_(self, **changes) -> "Workload":
        """A copy with some fields changed (``dataclasses.replace``)."""
        return replace(self, **changes)

    # ------------------------------------------------------------------ what gets published
    def messages(self, seed: int) -> list[Message]:
        """The main tenant's messages, in publish order: a pure function of the workload and the seed."""
        rng = random.Random(f"workload/{seed}")
        t = 0.0
        next_seq: dict[str, int] = {}
        out = []
        for i in range(self.n_messages):
            if i:
                t += rng.expovariate(1.0 / self.interval_ms) if self.interval_ms > 0 else 0.0
            key = f"k{rng.randrange(self.n_keys)}"
            seq = next_seq.get(key, 0)
            next_seq[key] = seq + 1
            out.append(Message(i, key, seq, t, self.message_bytes, rng.choice(self.routing_keys)))
        return out

    def noisy(self, seed: int) -> list[Message]:
        """The noisy tenant's messages (a burst at a fixed rate); ids follow the main tenant's."""
        out = []
        for j in range(self.noisy_messages):
            out.append(Message(self.n_messages + j, f"n{j % 4}", j // 4, self.noisy_start_ms + j * self.noisy_interval_ms,
                               self.message_bytes, "noisy.event", tenant="noisy"))
        return out

    @property
    def publish_end_ms(self) -> float:
        """A bound on the last publish time (mean gap x count, with room for the randomness)."""
        main = 2.0 * self.interval_ms * self.n_messages + 10 * self.interval_ms
        noisy = self.noisy_start_ms + self.noisy_interval_ms * self.noisy_messages
        return max(main, noisy)

    @property
    def consumers(self) -> int:
        return max((s.consumers for s in self.subscribers), default=0)


class Behaviour:
    """What consumers do, decided by the seed alone, so that every model sees the same.

    The processing time and the crash decision of an *attempt* (the n-th time
    subscriber S processes message M) are drawn from a stream named after
    ``(seed, S, M, n)``: the same attempt costs the same in every model,
    whichever consumer happens to get it.
    """

    def __init__(self, workload: Workload, seed: int) -> None:
        self.workload = workload
        self.seed = seed
        self.attempts: dict[tuple[str, int], int] = {}

    def speed(self, index: int) -> float:
        """How many times slower than normal consumer ``index`` of a subscriber is."""
        return self.workload.slow_factor if index < self.workload.slow_consumers else 1.0

    def next_attempt(self, sub: str, msg: Message) -> tuple[float, bool]:
        """(processing time at normal speed, crash after processing?) for the next attempt."""
        n = self.attempts.get((sub, msg.id), 0)
        self.attempts[(sub, msg.id)] = n + 1
        rng = random.Random(f"{self.seed}/{sub}/{msg.id}/{n}")
        mean = self.workload.process_ms
        ms = rng.expovariate(1.0 / mean) if mean > 0 else 0.0
        crash = rng.random() < self.workload.crash_prob
        return ms, crash


def matching(messages: Iterable[Message], pattern: str | None) -> list[Message]:
    """The messages whose routing key matches ``pattern`` (None = all)."""
    from msglib.queue import topic_matches

    return [m for m in messages if pattern is None or topic_matches(pattern, m.routing_key)]


__all__ = ["Message", "Subscriber", "Workload", "Behaviour", "matching", "ROUTING_KEYS", "SECOND", "MINUTE",
           "HOUR", "DAY"]
