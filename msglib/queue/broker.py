"""A RabbitMQ-style broker on simulated time: exchanges, queues, consumers, acks, dead letters.

The life of a message::

    publish(exchange, key) ──► exchange routes ──► a copy in each matching queue
                                                   │  ready (waiting, FIFO)
                                  dispatch ◄───────┘
                                     │  round-robin over consumers with room (prefetch)
                                     ▼
                                 unacked (delivered, the broker still holds it)
              ack ──► gone     nack/reject(requeue=True) ──► ready again (where: see below)
                               nack/reject(requeue=False) ─► dead-lettered (reason "rejected")
              consumer crashes/cancels ──► every unacked message is ready again (redelivered)
              unacked longer than the consumer timeout ──► the consumer's channel is closed (as above;
                                                           since 4.3 on quorum queues only)

Where a requeued message goes: a classic queue puts it back at its old place;
a quorum queue does too while a delivery limit is in force (the default since
RabbitMQ 4.0), and puts it at the **back** when there is no limit (before 4.0
by default, or ``x-delivery-limit: -1``).

Which returns count towards a quorum queue's delivery limit depends on the
version (``Broker(rabbitmq_version=...)``, default :data:`CURRENT_RABBITMQ_VERSION`):
before 4.3 every return counts; since 4.3 only ``basic.reject`` does (a failed
delivery), not ``basic.nack``, a cancel or a consumer timeout. A message
published with ``mandatory=True`` that no queue takes comes back to the
publisher (``basic.return``, see :class:`Returned`). docs/fidelity.md lists each
rule with its version and source, and the tests that compare it with a real broker.

A message also leaves a queue as a *dead letter* when its TTL runs out
(``expired``), when it is pushed out of a full queue (``maxlen``) or when a
quorum queue has delivered it too often (``delivery_limit``). A queue with
``x-dead-letter-exchange`` republishes it there with an ``x-death`` header;
without one the message is dropped (and counted).

Queue arguments (``declare_queue(name, arguments={...})``), as RabbitMQ names them:

========================== ===================================================
``x-queue-type``           ``classic`` (default) or ``quorum``
``x-message-ttl``          ms a message may wait in the queue
``x-expires``              ms a queue may stay unused before it is deleted
``x-max-length``           most ready messages the queue holds
``x-overflow``             ``drop-head`` (default), ``reject-publish``, ``reject-publish-dlx``
``x-dead-letter-exchange`` where dead letters go
``x-dead-letter-routing-key`` their routing key (default: the original keys)
``x-delivery-limit``       quorum queues: failed deliveries allowed before dead-lettering
                           (default 20 since 4.0, none before; -1 = no limit)
``x-consumer-timeout``     ms a consumer may hold a delivery unacknowledged
                           (default: the broker's ``consumer_timeout_ms``, 30 min;
                           since 4.3 quorum queues only)
``x-dead-letter-strategy`` ``at-most-once`` (default: drop if the DLX cannot take it) or
                           ``at-least-once`` (quorum + ``reject-publish``: keep and retry)
========================== ===================================================

Everything runs on a :class:`msglib.sim.Simulation`: deliveries, TTLs and
queue expiry are events at simulated times, so a run is a pure function of its
seed. Deliveries reach a consumer's callback in an event of their own (never
inside ``publish``), so a callback may publish, ack or cancel freely.
"""
from __future__ import annotations

import heapq
import itertools
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from msglib.queue.dispatch import ConsumerView, Dispatcher, round_robin
from msglib.queue.message import Delivery, Message
from msglib.queue.routing import Binding, Exchange, TopicMatcher, topic_matches
from msglib.sim import Simulation

QUEUE_TYPES = ("classic", "quorum")
OVERFLOW_MODES = ("drop-head", "reject-publish", "reject-publish-dlx")
DEFAULT_QUORUM_DELIVERY_LIMIT = 20   # RabbitMQ 4.0 and later
DEFAULT_CONSUMER_TIMEOUT_MS = 30 * 60 * 1000.0   # RabbitMQ's consumer_timeout default (30 min)
CURRENT_RABBITMQ_VERSION = "4.3"     # the release whose rules msglib follows unless told otherwise
OLDEST_MODELLED_VERSION = (3, 10)
NO_ROUTE = 312                       # AMQP reply code of a basic.return
# arguments a queue accepts: name -> check of the value
_NON_NEGATIVE = ("message-ttl", "expires", "max-length", "consumer-timeout")
QUEUE_ARGUMENTS = ("queue-type", "message-ttl", "expires", "max-length", "overflow", "dead-letter-exchange",
                   "dead-letter-routing-key", "delivery-limit", "dead-letter-strategy", "consumer-timeout")


def parse_version(version: str) -> tuple[int, int]:
    """``"4.3"`` (or ``"4.3.1"``) -> ``(4, 3)``; a clear error for anything msglib does not model."""
    match = re.fullmatch(r"(\d+)\.(\d+)(?:\.\d+)?", str(version))
    if match is None:
        raise ValueError(f"rabbitmq_version must look like '4.3' or '3.10.8', got {version!r}")
    parsed = (int(match.group(1)), int(match.group(2)))
    if parsed < OLDEST_MODELLED_VERSION:
        raise ValueError(f"msglib models RabbitMQ 3.10 and later, got {version!r}; use e.g. '3.10' or "
                         f"'{CURRENT_RABBITMQ_VERSION}'")
    return parsed


class BrokerError(Exception):
    """Base class: an operation the broker refuses (AMQP would close the channel)."""


class NotFound(BrokerError):
    """A queue or exchange that does not exist."""


class PreconditionFailed(BrokerError):
    """Redeclaring with different settings, an unknown delivery tag, a bad argument..."""


class DispatchError(BrokerError):
    """The dispatcher chose a consumer that cannot take the message."""


@dataclass
class PublishResult:
    """Where a published message went. ``confirmed`` is the publisher confirm (ack)."""

    routed: list[str] = field(default_factory=list)     # queues that accepted a copy
    rejected: list[str] = field(default_factory=list)   # full queues with x-overflow reject-publish(-dlx)
    message_id: str | None = None
    returned: bool = False                               # mandatory and unroutable: a basic.return

    @property
    def unroutable(self) -> bool:
        return not self.routed and not self.rejected

    @property
    def confirmed(self) -> bool:
        """A confirm is a nack when any matching queue refused the message."""
        return not self.rejected


@dataclass
class Returned:
    """A ``basic.return``: a ``mandatory`` message that no queue took, handed back to its publisher."""

    message: Message
    exchange: str
    routing_key: str
    reply_code: int = NO_ROUTE
    reply_text: str = "NO_ROUTE"


@dataclass
class _Entry:
    """A message waiting in a queue. ``seq`` fixes its place: a requeued message goes back there."""

    seq: int
    message: Message
    enqueued_at: float
    expires_at: float | None
    redelivered: bool = False


@dataclass
class _Unacked:
    entry: _Entry
    consumer_tag: str | None     # None: fetched with get()
    delivered_at: float = 0.0


@dataclass
class Consumer:
    """A subscription: the broker pushes deliveries to ``callback`` while it has room."""

    tag: str
    queue: str
    callback: Callable[[Delivery], Any]
    prefetch: int = 0             # most unacked deliveries at once; 0 = unlimited
    auto_ack: bool = False        # acked as soon as sent (at-most-once)
    unacked: set[int] = field(default_factory=set)
    active: bool = True
    on_cancel: Callable[[str], Any] | None = None   # told why the broker closed it
    closed_reason: str | None = None                # e.g. "consumer-timeout"
    timeout_timer: Any = None                       # the pending consumer-timeout check


class Queue:
    """One queue: ready messages in FIFO order, unacked deliveries, consumers, counters."""

    def __init__(self, broker: "Broker", name: str, arguments: dict) -> None:
        self.broker = broker
        self.name = name
        self.arguments = dict(arguments)
        # a heap of (seq, entry): FIFO by seq, and a requeued message goes back to its old place
        self.ready: list[tuple[int, _Entry]] = []
        self.unacked: dict[int, _Unacked] = {}
        self.consumers: list[Consumer] = []
        self.next_consumer = 0                     # whose turn it is (round-robin)
        self.last_used = broker.sim.now
        self.deleted = False
        self.stats: dict[str, int] = {"published": 0, "delivered": 0, "redelivered": 0, "acked": 0,
                                      "requeued": 0}
        self.dead_lettered: dict[str, int] = {}    # reason -> count (sent to the DLX)
        self.dropped: dict[str, int] = {}          # reason -> count (no DLX, cycle, missing DLX...)
        self.messages_dlx = 0                      # at-least-once: dead letters waiting for their target
        self._dispatch_pending = False

    # -- settings: a queue argument wins over a policy -------------------------------
    def setting(self, name: str, default: Any = None) -> Any:
        key = "x-" + name
        if key in self.arguments:
            return self.arguments[key]
        if not self.broker.policies:
            return default
        policy = self.broker.policy_for(self.name)
        if policy is not None and name in policy:
            return policy[name]
        return default

    @property
    def type(self) -> str:
        return self.arguments.get("x-queue-type", "classic")

    @property
    def delivery_limit(self) -> int | None:
        """Failed deliveries allowed before a message is dead-lettered; None = unlimited.

        Classic queues have none. A quorum queue's default is 20 since RabbitMQ
        4.0 and none before (the broker's ``rabbitmq_version`` decides).
        """
        if self.type != "quorum":
            return None
        limit = self.setting("delivery-limit", self.broker.default_delivery_limit)
        return None if limit is None or limit < 0 else int(limit)

    @property
    def requeue_at_back(self) -> bool:
        """A quorum queue with no delivery limit puts a requeued message at the back; else its old place."""
        return self.type == "quorum" and self.delivery_limit is None

    @property
    def consumer_timeout_ms(self) -> float | None:
        """How long a consumer may hold a delivery unacknowledged (None: no limit).

        Since RabbitMQ 4.3 only quorum queues enforce it; classic queues no longer do.
        """
        if self.type == "classic" and self.broker.version >= (4, 3):
            return None
        return self.setting("consumer-timeout", self.broker.consumer_timeout_ms)

    # -- what the management UI shows -------------------------------------------------
    @property
    def messages_ready(self) -> int:
        return len(self.ready)

    @property
    def messages_unacknowledged(self) -> int:
        return len(self.unacked)

    @property
    def messages(self) -> int:
        return len(self.ready) + len(self.unacked)

    def ready_messages(self) -> list[Message]:
        """The ready messages in delivery order (a copy, for inspection)."""
        return [e.message for _, e in sorted(self.ready)]

    def __repr__(self) -> str:
        return (f"Queue({self.name!r}, {self.type}, ready={self.messages_ready}, "
                f"unacked={self.messages_unacknowledged}, consumers={len(self.consumers)})")


class Broker:
    """Exchanges, queues and consumers on one simulated clock.

    ``topic_matcher`` decides topic bindings and ``dispatcher`` picks the
    consumer for each delivery; both default to msglib's own and are the
    seams module 01's exercises plug into. ``trace=True`` records every
    step in ``broker.events`` as ``(time, kind, queue, message_id, detail)``.
    """

    DLX_RETRY_MS = 1_000.0     # at-least-once dead-lettering: how often a refused dead letter is retried

    def __init__(self, sim: Simulation | None = None, *, topic_matcher: TopicMatcher = topic_matches,
                 dispatcher: Dispatcher = round_robin, delivery_delay_ms: float = 0.0,
                 trace: bool = False, rabbitmq_version: str = CURRENT_RABBITMQ_VERSION,
                 consumer_timeout_ms: float | None = DEFAULT_CONSUMER_TIMEOUT_MS,
                 on_return: Callable[[Returned], Any] | None = None) -> None:
        self.version = parse_version(rabbitmq_version)
        self.rabbitmq_version = rabbitmq_version
        if consumer_timeout_ms is not None and (not isinstance(consumer_timeout_ms, (int, float))
                                                or consumer_timeout_ms <= 0):
            raise ValueError(f"consumer_timeout_ms must be a number of ms > 0, or None for no timeout; "
                             f"got {consumer_timeout_ms!r}")
        self.consumer_timeout_ms = consumer_timeout_ms
        self.on_return = on_return
        self.returned: list[Returned] = []        # every basic.return, in order
        self.sim = sim if sim is not None else Simulation(0)
        self.topic_matcher = topic_matcher
        self.dispatcher = dispatcher
        self.delivery_delay_ms = delivery_delay_ms
        self.exchanges: dict[str, Exchange] = {"": Exchange("", "direct")}
        self.queues: dict[str, Queue] = {}
        self.consumers: dict[str, Consumer] = {}
        self.policies: dict[str, tuple[re.Pattern, dict]] = {}
        self.unroutable = 0
        self.trace = trace
        self.events: list[tuple[float, str, str, str | None, dict]] = []
        self._tags = itertools.count(1)
        self._tag_queue: dict[int, Queue] = {}     # unacked delivery tag -> its queue
        self._seq = itertools.count()
        self._consumer_ids = itertools.count(1)
        self._message_ids = itertools.count(1)     # per broker: a seeded run names its messages the same way

    # ------------------------------------------------------------------ version rules
    @property
    def default_delivery_limit(self) -> int | None:
        """A quorum queue's delivery limit when none is set: 20 since RabbitMQ 4.0, none before."""
        return DEFAULT_QUORUM_DELIVERY_LIMIT if self.version >= (4, 0) else None

    def counts_as_failed(self, how: str) -> bool:
        """Does a requeue by ``how`` ("reject", "nack", "cancel", "timeout") add to ``delivery-count``?

        Before 4.3 a quorum queue counted every return. Since 4.3 only
        ``basic.reject`` counts (the consumer says processing failed);
        ``basic.nack``, a closed channel and a consumer timeout do not.
        """
        return True if self.version < (4, 3) else how == "reject"

    def _log(self, kind: str, queue: str, message: Message | None, **detail: Any) -> None:
        if self.trace:
            self.events.append((self.sim.now, kind, queue, message.message_id if message else None, detail))

    # ------------------------------------------------------------------ topology
    def declare_exchange(self, name: str, type: str = "direct") -> Exchange:
        """Create an exchange (idempotent; a different type for an existing name is an error)."""
        if not name:
            raise PreconditionFailed("the default exchange '' always exists; give your exchange a name")
        old = self.exchanges.get(name)
        if old is not None:
            if old.type != type:
                raise PreconditionFailed(f"exchange {name!r} exists with type {old.type!r}, not {type!r}; "
                                         "delete it first or use another name")
            return old
        ex = Exchange(name, type, self._match)
        self.exchanges[name] = ex
        return ex

    def _match(self, pattern: str, key: str) -> bool:
        return self.topic_matcher(pattern, key)

    def delete_exchange(self, name: str) -> None:
        if name == "":
            raise PreconditionFailed("the default exchange cannot be deleted")
        self.exchanges.pop(name, None)

    def declare_queue(self, name: str, arguments: dict | None = None) -> Queue:
        """Create a queue, or return the existing one if the arguments are the same."""
        if not name:
            raise PreconditionFailed("a queue needs a name")
        arguments = dict(arguments or {})
        _validate_arguments(name, arguments)
        old = self.queues.get(name)
        if old is not None:
            if old.arguments != arguments:
                raise PreconditionFailed(f"queue {name!r} exists with arguments {old.arguments}, not {arguments}; "
                                         "declare it with the same arguments, or delete it first")
            self._touch(old)
            return old
        q = Queue(self, name, arguments)
        self.queues[name] = q
        self._touch(q)
        return q

    def delete_queue(self, name: str) -> int:
        """Delete a queue with its messages (they are not dead-lettered). Returns how many were dropped."""
        q = self._queue(name)
        dropped = q.messages
        q.deleted = True
        for c in q.consumers:
            c.active = False
            self.consumers.pop(c.tag, None)
            if c.timeout_timer is not None:
                c.timeout_timer.cancel()
                c.timeout_timer = None
        for tag in q.unacked:
            self._tag_queue.pop(tag, None)
        q.consumers, q.unacked, q.ready = [], {}, []
        del self.queues[name]
        for ex in self.exchanges.values():
            ex.bindings = [b for b in ex.bindings if b.queue != name]
        return dropped

    def purge(self, name: str) -> int:
        """Drop every ready message (not dead-lettered). Returns how many."""
        q = self._queue(name)
        n = len(q.ready)
        q.ready.clear()
        return n

    def bind(self, queue: str, exchange: str, routing_key: str = "", arguments: dict | None = None) -> Binding:
        """Route messages from ``exchange`` matching ``routing_key`` (or header ``arguments``) to ``queue``."""
        self._queue(queue)
        ex = self._exchange(exchange)
        if exchange == "":
            raise PreconditionFailed("queues are bound to the default exchange by their name; bind to a named exchange")
        b = Binding(exchange, queue, routing_key, tuple(sorted((arguments or {}).items())))
        if b not in ex.bindings:
            ex.bindings.append(b)
        return b

    def unbind(self, queue: str, exchange: str, routing_key: str = "", arguments: dict | None = None) -> None:
        ex = self._exchange(exchange)
        b = Binding(exchange, queue, routing_key, tuple(sorted((arguments or {}).items())))
        ex.bindings = [x for x in ex.bindings if x != b]

    def set_policy(self, name: str, pattern: str, definition: dict) -> None:
        """Settings for every queue whose name matches ``pattern`` (a regex), e.g.
        ``{"dead-letter-exchange": "dlx", "message-ttl": 5000}``. A queue's own
        ``x-`` argument wins over a policy. The latest matching policy applies."""
        for key in definition:
            if key not in QUEUE_ARGUMENTS or key == "queue-type":
                raise PreconditionFailed(f"policy {name!r}: unknown key {key!r}; use one of "
                                         f"{', '.join(a for a in QUEUE_ARGUMENTS if a != 'queue-type')} (no 'x-' prefix)")
        self.policies[name] = (re.compile(pattern), dict(definition))

    def clear_policy(self, name: str) -> None:
        self.policies.pop(name, None)

    def policy_for(self, queue: str) -> dict | None:
        found = None
        for regex, definition in self.policies.values():
            if regex.search(queue):
                found = definition
        return found

    def _queue(self, name: str) -> Queue:
        q = self.queues.get(name)
        if q is None:
            raise NotFound(f"no queue {name!r}; declare it first with declare_queue({name!r})")
        return q

    def _exchange(self, name: str) -> Exchange:
        ex = self.exchanges.get(name)
        if ex is None:
            raise NotFound(f"no exchange {name!r}; declare it first with declare_exchange({name!r}, type)")
        return ex

    # ------------------------------------------------------------------ publish
    def publish(self, exchange: str, routing_key: str, body: Any = None, *, headers: dict | None = None,
                message_id: str | None = None, expiration: float | None = None,
                mandatory: bool = False) -> PublishResult:
        """Publish one message. ``expiration`` is its own TTL in ms.

        ``headers["CC"]`` / ``headers["BCC"]`` (lists of keys) route it with
        extra routing keys; ``BCC`` is removed before any queue sees it.
        ``mandatory=True``: if no queue takes it, the broker hands it back
        (``basic.return``, reply 312 NO_ROUTE) to ``on_return`` and records it
        in ``broker.returned``; without the flag it is silently dropped.
        """
        ex = self._exchange(exchange)
        if expiration is not None and expiration < 0:
            raise PreconditionFailed(f"expiration must be >= 0 ms, got {expiration}")
        headers = dict(headers or {})
        cc = list(headers.get("CC", []))
        bcc = list(headers.pop("BCC", []))
        msg = Message(body, routing_key, headers, message_id or f"m{next(self._message_ids)}", expiration, self.sim.now,
                      exchange, [routing_key] + cc)
        targets = self._route(ex, msg.routing_keys + bcc, headers)
        result = PublishResult(message_id=msg.message_id)
        if not targets:
            self.unroutable += 1
            self._log("unroutable", "", msg, exchange=exchange, routing_key=routing_key)
            if mandatory:
                returned = Returned(msg, exchange, routing_key)
                self.returned.append(returned)
                result.returned = True
                if self.on_return is not None:
                    # like the real broker, the return reaches the publisher asynchronously
                    self.sim.schedule(self.delivery_delay_ms, self.on_return, returned)
        for name in targets:
            q = self.queues[name]
            q.stats["published"] += 1
            (result.routed if self._enqueue(q, msg.copy()) else result.rejected).append(name)
        return result

    def _route(self, ex: Exchange, keys: list[str], headers: dict) -> list[str]:
        if ex.name == "":
            return [k for k in dict.fromkeys(keys) if k in self.queues]
        return [q for q in ex.route(keys, headers) if q in self.queues]

    def _enqueue(self, q: Queue, msg: Message) -> bool:
        """Put ``msg`` at the tail of ``q``, applying max-length. False if the queue refused it."""
        limit = q.setting("max-length")
        overflow = q.setting("overflow", "drop-head")
        # a quorum queue's reject-publish lets the queue overshoot its limit by (at least) one message
        slack = 1 if q.type == "quorum" and overflow == "reject-publish" else 0
        if limit is not None and overflow != "drop-head" and len(q.ready) >= limit + slack:
            self._log("rejected", q.name, msg, reason="maxlen")
            if overflow == "reject-publish-dlx":
                self._dead_letter(q, msg, "maxlen")
            return False
        ttls = [t for t in (q.setting("message-ttl"), msg.expiration) if t is not None]
        expires_at = self.sim.now + min(ttls) if ttls else None
        entry = _Entry(next(self._seq), msg, self.sim.now, expires_at)
        heapq.heappush(q.ready, (entry.seq, entry))
        if self.trace:
            self._log("enqueue", q.name, msg)
        if limit is not None and overflow == "drop-head":
            while len(q.ready) > limit:            # drop-head: the oldest make room for the newest
                _, head = heapq.heappop(q.ready)
                self._dead_letter(q, head.message, "maxlen")
        self._schedule_dispatch(q)
        if expires_at is not None:
            self.sim.at(expires_at, self._expire, q)
        return True

    # ------------------------------------------------------------------ expiry
    def _expire(self, q: Queue) -> None:
        """Dead-letter expired messages at the head of the queue.

        Like RabbitMQ's classic queues, only the head is examined: a message
        with a short TTL behind one with a long TTL waits for it (a reason to
        prefer one TTL per queue over per-message TTLs for delays).
        """
        if q.deleted:
            return
        while q.ready and q.ready[0][1].expires_at is not None and q.ready[0][1].expires_at <= self.sim.now:
            _, entry = heapq.heappop(q.ready)
            msg = entry.message
            self._log("expired", q.name, msg)
            self._dead_letter(q, msg, "expired")

    # ------------------------------------------------------------------ dead letters
    def _dead_letter(self, q: Queue, msg: Message, reason: str) -> None:
        """``msg`` leaves ``q`` for ``reason``: republish it to the queue's DLX, or drop it.

        At-most-once (the default): if the DLX is missing or routes nowhere,
        the message is dropped and counted. At-least-once
        (``x-dead-letter-strategy``): the source queue keeps it and tries
        again every ``DLX_RETRY_MS`` until every target queue took it. A
        target that took it on an earlier try then holds a duplicate.
        """
        dlx = q.setting("dead-letter-exchange")
        if dlx is None:
            q.dropped[reason] = q.dropped.get(reason, 0) + 1
            self._log("dropped", q.name, msg, reason=reason)
            return
        # like RabbitMQ, at-least-once applies only to quorum queues with reject-publish (else at-most-once)
        at_least_once = (q.setting("dead-letter-strategy", "at-most-once") == "at-least-once"
                         and q.type == "quorum" and q.setting("overflow") == "reject-publish")
        if dlx not in self.exchanges and not at_least_once:   # lost, but counted
            q.dropped["dlx-missing"] = q.dropped.get("dlx-missing", 0) + 1
            self._log("dropped", q.name, msg, reason=reason, why=f"dead-letter exchange {dlx!r} does not exist")
            return
        q.dead_lettered[reason] = q.dead_lettered.get(reason, 0) + 1
        record_death(msg, q.name, reason, self.sim.now)
        dlrk = q.setting("dead-letter-routing-key")
        if dlrk is not None:
            keys = [dlrk]
            msg.headers.pop("CC", None)
        else:
            keys = list(msg.routing_keys)
        msg.exchange = dlx
        msg.delivery_count = 0
        msg.headers.pop("x-delivery-count", None)
        self._forward_dead_letter(q, msg, keys, at_least_once)

    def _forward_dead_letter(self, q: Queue, msg: Message, keys: list[str], at_least_once: bool) -> None:
        ex = self.exchanges.get(msg.exchange)
        targets = self._route(ex, keys, msg.headers) if ex is not None else []
        self._log("dead-lettered", q.name, msg, exchange=msg.exchange, to=targets)
        refused = not targets
        if not targets and not at_least_once:
            q.dropped["dlx-unroutable"] = q.dropped.get("dlx-unroutable", 0) + 1
        for name in targets:
            target = self.queues[name]
            if _is_automatic_cycle(msg, name):
                target.dropped["cycle"] = target.dropped.get("cycle", 0) + 1
                self._log("dropped", name, msg, reason="cycle")
                continue
            target.stats["published"] += 1
            if not self._enqueue(target, msg.copy()):
                refused = True
        if refused and at_least_once:
            q.messages_dlx += 1                    # still the source queue's responsibility
            self.sim.schedule(self.DLX_RETRY_MS, self._retry_dead_letter, q, msg, keys)

    def _retry_dead_letter(self, q: Queue, msg: Message, keys: list[str]) -> None:
        if q.deleted:
            return
        q.messages_dlx -= 1
        self._forward_dead_letter(q, msg, keys, True)

    # ------------------------------------------------------------------ consumers
    def consume(self, queue: str, callback: Callable[[Delivery], Any], *, prefetch: int = 0,
                auto_ack: bool = False, consumer_tag: str | None = None,
                on_cancel: Callable[[str], Any] | None = None) -> str:
        """Subscribe ``callback`` to ``queue``. Returns the consumer tag.

        Ready messages (a backlog) are delivered at once, up to ``prefetch``.
        ``on_cancel(reason)`` is called if the broker closes the consumer
        (``"consumer-timeout"``: it held a delivery unacked too long).
        """
        q = self._queue(queue)
        if not isinstance(prefetch, int) or prefetch < 0:
            raise PreconditionFailed(f"prefetch must be an int >= 0 (0 = unlimited), got {prefetch!r}")
        tag = consumer_tag or f"ctag-{next(self._consumer_ids)}"
        if tag in self.consumers:
            raise PreconditionFailed(f"consumer tag {tag!r} is already in use")
        c = Consumer(tag, queue, callback, prefetch, auto_ack, on_cancel=on_cancel)
        self.consumers[tag] = c
        q.consumers.append(c)
        self._touch(q)
        self._schedule_dispatch(q)
        return tag

    def cancel(self, consumer_tag: str, *, _how: str = "cancel") -> int:
        """Stop a consumer (or simulate its crash). Its unacked messages go back to the queue,
        marked redelivered. Returns how many were requeued."""
        c = self.consumers.pop(consumer_tag, None)
        if c is None:
            raise PreconditionFailed(f"no consumer with tag {consumer_tag!r}")
        c.active = False
        if c.timeout_timer is not None:
            c.timeout_timer.cancel()
            c.timeout_timer = None
        q = self.queues.get(c.queue)
        if q is None:
            return 0
        i = q.consumers.index(c)
        q.consumers.remove(c)
        if q.next_consumer > i:
            q.next_consumer -= 1
        if q.consumers:
            q.next_consumer %= len(q.consumers)
        else:
            q.next_consumer = 0
        tags = sorted(c.unacked)
        for tag in tags:
            self._return(q, tag, requeue=True, how=_how)
        self._touch(q)
        return len(tags)

    # ------------------------------------------------------------------ consumer timeout
    def _watch(self, q: Queue, c: Consumer) -> None:
        """Arm ``c``'s consumer-timeout check if it holds deliveries and none is pending."""
        timeout = q.consumer_timeout_ms
        if timeout is None or c.timeout_timer is not None or not c.unacked:
            return
        oldest = min(q.unacked[t].delivered_at for t in c.unacked)
        c.timeout_timer = self.sim.at(max(self.sim.now, oldest + timeout), self._check_timeout, q, c)

    def _check_timeout(self, q: Queue, c: Consumer) -> None:
        c.timeout_timer = None
        if not c.active or q.deleted or not c.unacked:
            return
        timeout = q.consumer_timeout_ms
        if timeout is None:
            return
        oldest = min(q.unacked[t].delivered_at for t in c.unacked)
        if self.sim.now - oldest < timeout:
            self._watch(q, c)
            return
        # RabbitMQ closes the channel (PRECONDITION_FAILED); its unacked deliveries are requeued
        self._log("consumer-timeout", q.name, None, consumer=c.tag, held_ms=self.sim.now - oldest)
        c.closed_reason = "consumer-timeout"
        self.cancel(c.tag, _how="timeout")
        if c.on_cancel is not None:
            c.on_cancel("consumer-timeout")

    def _schedule_dispatch(self, q: Queue) -> None:
        if not q._dispatch_pending and q.consumers:
            q._dispatch_pending = True
            self.sim.schedule(0.0, self._dispatch, q)

    def _dispatch(self, q: Queue) -> None:
        q._dispatch_pending = False
        if q.deleted:
            return
        self._expire(q)
        while q.ready and q.consumers:
            # an auto-ack consumer has no unacked messages and no limit
            views = [ConsumerView(c.tag, 0 if c.auto_ack else c.prefetch, len(c.unacked)) for c in q.consumers]
            start = q.next_consumer % len(q.consumers)
            i = self.dispatcher(views, start)
            if i is None:
                if any(v.has_room for v in views):
                    raise DispatchError(f"the dispatcher returned None, but a consumer has room: "
                                        f"{_describe(views)}, next_index={start}; a message is stuck")
                return
            if not isinstance(i, int) or not 0 <= i < len(q.consumers):
                raise DispatchError(f"the dispatcher returned {i!r}; it must be an index 0..{len(q.consumers) - 1} "
                                    "or None")
            c = q.consumers[i]
            if not views[i].has_room:
                raise DispatchError(f"the dispatcher chose consumer {c.tag!r}, which already holds "
                                    f"{views[i].unacked} unacked messages with prefetch={c.prefetch}")
            q.next_consumer = (i + 1) % len(q.consumers)
            _, entry = heapq.heappop(q.ready)
            self._deliver(q, entry, c)

    def _deliver(self, q: Queue, entry: _Entry, c: Consumer | None) -> Delivery:
        tag = next(self._tags)
        d = Delivery(tag, entry.message, q.name, c.tag if c else None, entry.redelivered, self.sim.now)
        q.stats["delivered"] += 1
        if entry.redelivered:
            q.stats["redelivered"] += 1
        if self.trace:
            self._log("deliver", q.name, entry.message, consumer=d.consumer_tag, tag=tag,
                      redelivered=entry.redelivered)
        if c is not None and c.auto_ack:
            q.stats["acked"] += 1               # at-most-once: the broker forgets it now
        else:
            q.unacked[tag] = _Unacked(entry, c.tag if c else None, self.sim.now)
            self._tag_queue[tag] = q
            if c is not None:
                c.unacked.add(tag)
                if c.timeout_timer is None:
                    self._watch(q, c)
        if c is not None:
            self.sim.schedule(self.delivery_delay_ms, self._call, c, d)
        return d

    def _call(self, c: Consumer, d: Delivery) -> None:
        # a consumer cancelled meanwhile does not see it (its unacked copy went back to the queue)
        if c.active and (c.auto_ack or d.delivery_tag in c.unacked):
            c.callback(d)

    def get(self, queue: str, auto_ack: bool = False) -> Delivery | None:
        """``basic.get``: pull the next ready message, or None."""
        q = self._queue(queue)
        self._touch(q)
        self._expire(q)
        if not q.ready:
            return None
        _, entry = heapq.heappop(q.ready)
        d = self._deliver(q, entry, None)
        if auto_ack:
            q.unacked.pop(d.delivery_tag, None)
            self._tag_queue.pop(d.delivery_tag, None)
            q.stats["acked"] += 1
        return d

    # ------------------------------------------------------------------ acknowledgements
    def ack(self, delivery_tag: int, multiple: bool = False) -> None:
        """The consumer is done: the broker deletes the message."""
        for q, tag in self._find(delivery_tag, multiple):
            u = q.unacked.pop(tag)
            self._forget(u, tag)
            self._tag_queue.pop(tag, None)
            q.stats["acked"] += 1
            if self.trace:
                self._log("ack", q.name, u.entry.message, tag=tag)
            self._schedule_dispatch(q)

    def nack(self, delivery_tag: int, requeue: bool = True, multiple: bool = False) -> None:
        """Negative acknowledgement: back to the queue (``requeue``) or dead-lettered as ``rejected``.

        Since RabbitMQ 4.3 a requeueing ``basic.nack`` says "not processed",
        not "failed": a quorum queue does not count it towards the delivery limit.
        """
        for q, tag in self._find(delivery_tag, multiple):
            self._return(q, tag, requeue=requeue, reason="rejected", how="nack")

    def reject(self, delivery_tag: int, requeue: bool = True) -> None:
        """AMQP's ``basic.reject``: like :meth:`nack` for one delivery, and since RabbitMQ 4.3
        the way to say "processing failed" (it counts towards a quorum queue's delivery limit)."""
        for q, tag in self._find(delivery_tag, False):
            self._return(q, tag, requeue=requeue, reason="rejected", how="reject")

    def _find(self, delivery_tag: int, multiple: bool) -> list[tuple[Queue, int]]:
        q = self._tag_queue.get(delivery_tag)
        if q is not None:
            u = q.unacked[delivery_tag]
            if not multiple:
                return [(q, delivery_tag)]
            # multiple: this tag and every earlier unacked tag of the same consumer
            return [(q, t) for t in sorted(q.unacked) if t <= delivery_tag
                    and q.unacked[t].consumer_tag == u.consumer_tag]
        raise PreconditionFailed(f"unknown delivery tag {delivery_tag}: it was already acked or nacked, or its "
                                 "consumer was cancelled and the message requeued (acks must use a live tag once)")

    def _forget(self, u: _Unacked, tag: int) -> None:
        if u.consumer_tag is not None:
            c = self.consumers.get(u.consumer_tag)
            if c is not None:
                c.unacked.discard(tag)
                if not c.unacked and c.timeout_timer is not None:
                    c.timeout_timer.cancel()          # nothing held: nothing can time out
                    c.timeout_timer = None

    def _return(self, q: Queue, tag: int, *, requeue: bool, reason: str = "rejected", how: str = "cancel") -> None:
        """An unacked delivery comes back (``how``: reject, nack, cancel, timeout): requeue it, or dead-letter it."""
        u = q.unacked.pop(tag)
        self._forget(u, tag)
        self._tag_queue.pop(tag, None)
        entry, msg = u.entry, u.entry.message
        if not requeue:
            self._log("rejected", q.name, msg, tag=tag)
            self._dead_letter(q, msg, reason)
            self._schedule_dispatch(q)
            return
        limit = q.delivery_limit
        if q.type == "quorum" and self.counts_as_failed(how):
            msg.delivery_count += 1
            msg.headers["x-delivery-count"] = msg.delivery_count
            if limit is not None and msg.delivery_count > limit:
                self._log("delivery-limit", q.name, msg, count=msg.delivery_count)
                self._dead_letter(q, msg, "delivery_limit")
                self._schedule_dispatch(q)
                return
        entry.redelivered = True
        q.stats["requeued"] += 1
        if q.requeue_at_back:
            entry.seq = next(self._seq)        # quorum queue without a limit: behind everything else
        heapq.heappush(q.ready, (entry.seq, entry))
        self._log("requeue", q.name, msg, tag=tag)
        self._schedule_dispatch(q)

    # ------------------------------------------------------------------ queue expiry (x-expires)
    def _touch(self, q: Queue) -> None:
        q.last_used = self.sim.now
        expires = q.setting("expires")
        if expires is not None:
            self.sim.schedule(expires, self._maybe_expire_queue, q, q.last_used)

    def _maybe_expire_queue(self, q: Queue, used_at: float) -> None:
        if q.deleted or q.last_used != used_at or q.consumers:
            return
        self._log("queue-expired", q.name, None, messages=q.messages)
        q.dropped["queue-expired"] = q.dropped.get("queue-expired", 0) + q.messages
        self.delete_queue(q.name)           # its messages are not dead-lettered


# ---------------------------------------------------------------------- x-death bookkeeping
def record_death(msg: Message, queue: str, reason: str, now: float) -> None:
    """Note that ``msg`` died in ``queue`` for ``reason`` and rewrite its ``x-death`` headers.

    Invariants: ``deaths`` has one entry per (queue, reason), newest first; a
    repeat increments that entry's ``count`` and moves it to the front.
    ``x-first-death-*`` are written once; ``x-last-death-*`` every time. An
    expired message's TTL moves into ``original-expiration``, so it does not
    expire again in the next queue.
    """
    for i, d in enumerate(msg.deaths):
        if d["queue"] == queue and d["reason"] == reason:
            d["count"] += 1
            d["time"] = now
            msg.deaths.insert(0, msg.deaths.pop(i))
            break
    else:
        d = {"queue": queue, "reason": reason, "count": 1, "time": now, "exchange": msg.exchange,
             "routing-keys": list(msg.routing_keys)}
        if reason == "expired" and msg.expiration is not None:
            d["original-expiration"] = msg.expiration
        msg.deaths.insert(0, d)
    if reason == "expired":
        msg.expiration = None
    if msg.first_death is None:
        msg.first_death = {"queue": queue, "reason": reason, "exchange": msg.exchange}
    h = msg.headers
    h["x-death"] = [dict(d, **{"routing-keys": list(d["routing-keys"])}) for d in msg.deaths]
    h["x-first-death-queue"] = msg.first_death["queue"]
    h["x-first-death-reason"] = msg.first_death["reason"]
    h["x-first-death-exchange"] = msg.first_death["exchange"]
    h["x-last-death-queue"] = queue
    h["x-last-death-reason"] = reason
    h["x-last-death-exchange"] = msg.exchange


def _is_automatic_cycle(msg: Message, target: str) -> bool:
    """Dead-lettering back into a queue the message already died in, with no rejection on the way,
    is a loop nobody can break (e.g. two queues expiring into each other): drop it."""
    been_there = any(d["queue"] == target for d in msg.deaths)
    return been_there and all(d["reason"] != "rejected" for d in msg.deaths)


def _validate_arguments(name: str, arguments: dict) -> None:
    for key, value in arguments.items():
        if not key.startswith("x-") or key[2:] not in QUEUE_ARGUMENTS:
            raise PreconditionFailed(f"queue {name!r}: unknown argument {key!r}; known: "
                                     f"{', '.join('x-' + a for a in QUEUE_ARGUMENTS)}")
        short = key[2:]
        if short in _NON_NEGATIVE and (not isinstance(value, (int, float)) or value < 0):
            raise PreconditionFailed(f"queue {name!r}: {key} must be a number >= 0, got {value!r}")
    qtype = arguments.get("x-queue-type", "classic")
    if qtype not in QUEUE_TYPES:
        raise PreconditionFailed(f"queue {name!r}: x-queue-type must be one of {QUEUE_TYPES}, got {qtype!r}")
    if arguments.get("x-overflow", "drop-head") not in OVERFLOW_MODES:
        raise PreconditionFailed(f"queue {name!r}: x-overflow must be one of {OVERFLOW_MODES}, "
                                 f"got {arguments['x-overflow']!r}")
    strategy = arguments.get("x-dead-letter-strategy")
    if strategy is not None:
        if strategy not in ("at-most-once", "at-least-once"):
            raise PreconditionFailed(f"queue {name!r}: x-dead-letter-strategy is 'at-most-once' or 'at-least-once', "
                                     f"got {strategy!r}")
        if strategy == "at-least-once" and (qtype != "quorum" or arguments.get("x-overflow") != "reject-publish"):
            raise PreconditionFailed(f"queue {name!r}: at-least-once dead-lettering needs a quorum queue with "
                                     "'x-overflow': 'reject-publish' (so the source can refuse new messages while "
                                     "it holds dead letters)")
    if "x-consumer-timeout" in arguments and not arguments["x-consumer-timeout"] > 0:
        raise PreconditionFailed(f"queue {name!r}: x-consumer-timeout is a number of ms > 0")
    if "x-delivery-limit" in arguments:
        if qtype != "quorum":
            raise PreconditionFailed(f"queue {name!r}: x-delivery-limit needs a quorum queue; add "
                                     "'x-queue-type': 'quorum'")
        if not isinstance(arguments["x-delivery-limit"], int) or arguments["x-delivery-limit"] < -1:
            raise PreconditionFailed(f"queue {name!r}: x-delivery-limit is an int >= 0, or -1 for no limit")


def _describe(views: list[ConsumerView]) -> str:
    return "[" + ", ".join(f"{v.tag}: {v.unacked}/{v.prefetch or '∞'}" for v in views) + "]"


__all__ = ["Broker", "Queue", "Consumer", "PublishResult", "Returned", "BrokerError", "NotFound",
           "PreconditionFailed", "DispatchError", "record_death", "parse_version", "QUEUE_ARGUMENTS",
           "DEFAULT_QUORUM_DELIVERY_LIMIT", "DEFAULT_CONSUMER_TIMEOUT_MS", "CURRENT_RABBITMQ_VERSION"]
