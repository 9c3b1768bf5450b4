"""An SQS-style queue: consumers *pull*, a received message is hidden, not handed over.

RabbitMQ pushes a message to one consumer and waits for its ack. SQS has no
consumers it knows about: anyone may ``receive_message``. Receiving hides the
message for the *visibility timeout*; if the receiver deletes it in time, it
is gone, otherwise it reappears for someone else and its
``ApproximateReceiveCount`` goes up. There is no "nack": failing is simply
not deleting.

A poison message would reappear forever, so a queue may have a *redrive
policy*: once a message has been received ``max_receive_count`` times, the
next receive moves it to the dead-letter queue instead. Later, a *message
move task* redrives the DLQ back to its source, oldest first, at a capped rate.

What msglib models (AWS SQS Developer Guide facts):

* visibility timeout per queue (default 30 s, 0 s to 12 h) or per receive;
  ``change_message_visibility(t)`` counts ``t`` from *now*, and a message may
  not stay hidden more than 12 h after its receive;
* a receipt handle per receive; only the latest one deletes or changes the
  message. ``delete_message`` with an older handle *succeeds* (AWS: the call
  succeeds but the message might not be deleted): msglib's choice is that it
  deletes nothing, returns False and counts it in ``stats["stale_deletes"]``;
* delay per queue or per message (up to 15 min) before a new message is visible;
* retention (default 4 days, 1 min to 14 days) from the message's *first*
  enqueue: a message moved to a DLQ keeps its original timestamp, so a DLQ
  needs a longer retention than its source;
* redrive: moved messages keep their id and their receive count in the DLQ
  (so the first receive there reports ``maxReceiveCount + 1``); a move task gives each
  moved message a new id and enqueue time (keep an application-level id for
  dedupe; msglib's mover adds ``original-message-id``), one active task per
  queue, at most 500 messages per second.

* FIFO queues (``fifo=True``, names ending in ``.fifo``): every message has a
  ``message_group_id``; a group's messages are delivered in send order, and
  while one of them is in flight no other message of that group is returned
  (one receive may return several of a group, in order). A
  ``message_deduplication_id`` (or, with ``content_based_deduplication``, the
  SHA-256 of the body) seen in the last 5 minutes makes a send succeed
  without storing anything; the repeat gets the first message's id.
* long polling: ``wait_time_ms`` (per call, or the queue's
  ``receive_wait_time_ms``; 0 to 20 s) makes an empty receive wait on the
  simulated clock until a message can be returned or the time is up.

Simplifications, said plainly: a standard queue's receive returns the oldest
visible messages first and short polling sees every message (real standard
queues only try to, and a short poll samples some servers); long polling runs
the simulation forward, so it is for code outside simulation events.
docs/fidelity.md cites each rule and the tests that compare it with moto.
"""
from __future__ import annotations

import hashlib
import heapq
import itertools
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from msglib.sim import Simulation

SECOND = 1_000.0
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
DEFAULT_VISIBILITY_TIMEOUT_MS = 30 * SECOND
MAX_VISIBILITY_TIMEOUT_MS = 12 * HOUR
DEFAULT_RETENTION_MS = 4 * DAY
MIN_RETENTION_MS = 1 * MINUTE
MAX_RETENTION_MS = 14 * DAY
MAX_DELAY_MS = 15 * MINUTE
MAX_RECEIVE_BATCH = 10
MAX_MOVE_RATE = 500                 # messages per second, StartMessageMoveTask's cap
MAX_WAIT_TIME_MS = 20 * SECOND      # WaitTimeSeconds / ReceiveMessageWaitTimeSeconds cap
DEDUPLICATION_WINDOW_MS = 5 * MINUTE
ORIGINAL_ID = "original-message-id"


class SqsError(Exception):
    """An SQS API error."""


class InvalidParameterValue(SqsError, ValueError):
    """A value outside what SQS allows (the message names the range)."""


class ReceiptHandleIsInvalid(SqsError):
    """A receipt handle that is not the message's latest one."""


class MessageNotInflight(SqsError):
    """Changing the visibility of a message that is not hidden any more."""


class QueueUnavailable(SqsError):
    """The queue could not take the request (a simulated outage): nothing happened, try again."""


class MoveTaskError(SqsError):
    """A message move task that cannot start (not a DLQ, one already running...)."""


@dataclass
class SqsMessage:
    """What ``receive_message`` returns: a copy, plus the receipt handle of *this* receive."""

    message_id: str
    receipt_handle: str
    body: Any
    attributes: dict          # SentTimestamp, ApproximateReceiveCount, ApproximateFirstReceiveTimestamp, ...
    message_attributes: dict  # the sender's own attributes

    @property
    def receive_count(self) -> int:
        return self.attributes["ApproximateReceiveCount"]

    @property
    def sent_timestamp(self) -> float:
        return self.attributes["SentTimestamp"]


@dataclass
class _Stored:
    """A message the queue holds. Invariant: exactly one of visible / in flight / delayed."""

    message_id: str
    body: Any
    message_attributes: dict
    sent_at: float                 # first enqueue anywhere (the retention clock)
    enqueued_at: float             # enqueue in *this* queue
    seq: int
    visible_at: float
    receive_count: int = 0
    first_receive_at: float | None = None
    received_at: float | None = None
    receipt_handle: str | None = None
    source: str | None = None      # the queue it was dead-lettered from
    version: int = 0               # bumps on every state change: stale heap entries are skipped
    group_id: str | None = None    # FIFO queues: MessageGroupId
    deduplication_id: str | None = None


@dataclass
class RedrivePolicy:
    """``maxReceiveCount`` receives are allowed; the next one moves the message to the DLQ."""

    dead_letter_queue: "SqsQueue"
    max_receive_count: int

    def __post_init__(self) -> None:
        if not isinstance(self.max_receive_count, int) or not 1 <= self.max_receive_count <= 1000:
            raise InvalidParameterValue(f"maxReceiveCount must be an int in 1..1000, got {self.max_receive_count!r}")


@dataclass
class MessageMoveTask:
    """A running redrive: every second, move up to ``max_per_second`` messages."""

    task_handle: str
    source: "SqsQueue"
    destination: "SqsQueue"
    max_per_second: int
    started_at: float
    to_move: int                   # ApproximateNumberOfMessagesToMove at the start
    status: str = "RUNNING"        # RUNNING, COMPLETED, CANCELLED, FAILED
    moved: int = 0
    per_tick: list[tuple[float, int]] = field(default_factory=list)  # (time, moved in that second)
    failure_reason: str | None = None


Mover = Callable[["SqsQueue", "SqsQueue", int], Any]


def move_messages(dlq: "SqsQueue", destination: "SqsQueue", budget: int) -> int:
    """msglib's redrive mover: move up to ``budget`` messages, oldest first.

    Send to the destination *first* and delete from the DLQ only once the send
    succeeded: a crash or a failed send leaves the message in the DLQ (it may
    be sent twice, never lost). Each copy carries the original id in
    ``original-message-id``, because the destination gives it a new one.
    Returns how many were moved.
    """
    moved = 0
    while moved < budget:
        batch = dlq.receive_message(max_number_of_messages=min(MAX_RECEIVE_BATCH, budget - moved))
        if not batch:
            break
        for i, m in enumerate(batch):
            attributes = dict(m.message_attributes)
            attributes.setdefault(ORIGINAL_ID, m.message_id)   # keep the id of the first copy
            fifo = {} if not destination.fifo else dict(
                message_group_id=m.attributes.get("MessageGroupId") or "redrive",
                message_deduplication_id=m.message_id)     # a redriven copy is deduplicated by the original id
            try:
                destination.send_message(m.body, message_attributes=attributes, **fifo)
            except QueueUnavailable:
                for rest in batch[i:]:                         # not sent: make them visible again now
                    dlq.change_message_visibility(rest.receipt_handle, 0)
                return moved
            dlq.delete_message(m.receipt_handle)
            moved += 1
    return moved


class SqsQueue:
    """One standard queue on a simulated clock. Times are ms."""

    def __init__(self, sim: Simulation, name: str, *, visibility_timeout_ms: float = DEFAULT_VISIBILITY_TIMEOUT_MS,
                 delay_ms: float = 0.0, retention_ms: float = DEFAULT_RETENTION_MS,
                 redrive_policy: RedrivePolicy | None = None, outages: list[tuple[float, float]] | None = None,
                 trace: bool = False, fifo: bool | None = None, content_based_deduplication: bool = False,
                 receive_wait_time_ms: float = 0.0) -> None:
        _check_range("VisibilityTimeout", visibility_timeout_ms, 0, MAX_VISIBILITY_TIMEOUT_MS)
        _check_range("ReceiveMessageWaitTimeSeconds", receive_wait_time_ms, 0, MAX_WAIT_TIME_MS)
        fifo = name.endswith(".fifo") if fifo is None else fifo
        if fifo != name.endswith(".fifo"):
            raise InvalidParameterValue(f"queue {name!r}: a FIFO queue's name ends in '.fifo', and only a FIFO "
                                        f"queue's does (fifo={fifo})")
        if content_based_deduplication and not fifo:
            raise InvalidParameterValue("content-based deduplication is for FIFO queues (name ending in '.fifo')")
        self.fifo = fifo
        self.content_based_deduplication = content_based_deduplication
        self.receive_wait_time_ms = receive_wait_time_ms
        self._dedup: dict[str, tuple[float, str]] = {}   # deduplication id -> (first sent at, message id)
        _check_range("DelaySeconds", delay_ms, 0, MAX_DELAY_MS)
        _check_range("MessageRetentionPeriod", retention_ms, MIN_RETENTION_MS, MAX_RETENTION_MS)
        self.sim = sim
        self.name = name
        self.visibility_timeout_ms = visibility_timeout_ms
        self.delay_ms = delay_ms
        self.retention_ms = retention_ms
        self.redrive_policy: RedrivePolicy | None = None
        self.outages = list(outages or [])            # [start, end): send_message raises QueueUnavailable
        self.trace = trace
        self.events: list[tuple[float, str, str, dict]] = []   # (time, kind, message_id, detail)
        self.stats = {"sent": 0, "received": 0, "deleted": 0, "moved_to_dlq": 0, "expired": 0,
                      "deduplicated": 0, "stale_deletes": 0}
        self.sources: list[SqsQueue] = []             # queues whose redrive policy points here
        self.tasks: list[MessageMoveTask] = []
        self._messages: dict[str, _Stored] = {}
        self._visible: list[tuple[float, int, str, int]] = []   # (sent_at, seq, id, version): oldest first
        self._hidden: list[tuple[float, int, str, int]] = []    # (visible_at, seq, id, version)
        self._by_age: list[tuple[float, str]] = []              # (sent_at, id): the retention clock
        self._seq = itertools.count()
        self._ids = itertools.count(1)        # per queue, so a seeded run gives the same ids every time
        self._receipts = itertools.count(1)
        self._task_ids = itertools.count(1)
        if redrive_policy is not None:
            self.set_redrive_policy(redrive_policy.dead_letter_queue, redrive_policy.max_receive_count)

    def __repr__(self) -> str:
        return (f"SqsQueue({self.name!r}, visible={self.approximate_number_of_messages}, "
                f"in_flight={self.approximate_number_of_messages_not_visible}, "
                f"delayed={self.approximate_number_of_messages_delayed})")

    def _log(self, kind: str, message_id: str, **detail: Any) -> None:
        if self.trace:
            self.events.append((self.sim.now, kind, message_id, detail))

    def set_redrive_policy(self, dead_letter_queue: "SqsQueue", max_receive_count: int) -> None:
        """Move a message to ``dead_letter_queue`` instead of its receive number ``max_receive_count + 1``."""
        if dead_letter_queue is self:
            raise InvalidParameterValue(f"queue {self.name!r} cannot be its own dead-letter queue")
        if dead_letter_queue.fifo != self.fifo:
            kind = "FIFO" if self.fifo else "standard"
            raise InvalidParameterValue(f"the dead-letter queue of a {kind} queue must be a {kind} queue too; "
                                        f"{dead_letter_queue.name!r} is not")
        self.redrive_policy = RedrivePolicy(dead_letter_queue, max_receive_count)
        if self not in dead_letter_queue.sources:
            dead_letter_queue.sources.append(self)

    # ------------------------------------------------------------------ state
    def _refresh(self) -> None:
        """Bring the clock's effects up to date: hidden messages whose time came, retention."""
        now = self.sim.now
        while self._by_age and self._by_age[0][0] + self.retention_ms <= now:
            sent_at, mid = heapq.heappop(self._by_age)
            m = self._messages.get(mid)
            if m is not None and m.sent_at == sent_at:
                del self._messages[mid]
                self.stats["expired"] += 1
                self._log("expired", mid)
        while self._hidden and self._hidden[0][0] <= now:
            _, _, mid, version = heapq.heappop(self._hidden)
            m = self._messages.get(mid)
            if m is not None and m.version == version:
                self._make_visible(m)

    def _make_visible(self, m: _Stored) -> None:
        m.version += 1
        m.visible_at = self.sim.now
        heapq.heappush(self._visible, (m.sent_at, m.seq, m.message_id, m.version))

    def _hide_until(self, m: _Stored, t: float) -> None:
        m.version += 1
        m.visible_at = t
        heapq.heappush(self._hidden, (t, m.seq, m.message_id, m.version))

    def _store(self, m: _Stored) -> None:
        self._messages[m.message_id] = m
        heapq.heappush(self._by_age, (m.sent_at, m.message_id))
        if m.visible_at > self.sim.now:
            self._hide_until(m, m.visible_at)
        else:
            self._make_visible(m)

    @property
    def approximate_number_of_messages(self) -> int:
        """Visible messages (ready to receive)."""
        self._refresh()
        now = self.sim.now
        return sum(1 for m in self._messages.values() if m.visible_at <= now)

    @property
    def approximate_number_of_messages_not_visible(self) -> int:
        """In flight: received, not deleted, visibility timeout not over."""
        self._refresh()
        now = self.sim.now
        return sum(1 for m in self._messages.values() if m.visible_at > now and m.receipt_handle is not None)

    @property
    def approximate_number_of_messages_delayed(self) -> int:
        self._refresh()
        now = self.sim.now
        return sum(1 for m in self._messages.values() if m.visible_at > now and m.receipt_handle is None)

    def __len__(self) -> int:
        """Every message the queue holds, whatever its state."""
        self._refresh()
        return len(self._messages)

    def messages(self) -> list[dict]:
        """Inspection (not an SQS call): every held message, oldest first, with its state."""
        self._refresh()
        now = self.sim.now
        out = []
        for m in sorted(self._messages.values(), key=lambda m: (m.sent_at, m.seq)):
            state = "visible" if m.visible_at <= now else ("in flight" if m.receipt_handle else "delayed")
            out.append({"message_id": m.message_id, "body": m.body, "state": state, "sent_at": m.sent_at,
                        "receive_count": m.receive_count, "source": m.source,
                        "message_attributes": dict(m.message_attributes)})
        return out

    # ------------------------------------------------------------------ the API
    def send_message(self, body: Any, *, delay_ms: float | None = None, message_attributes: dict | None = None,
                     message_group_id: str | None = None, message_deduplication_id: str | None = None) -> str:
        """Enqueue a message; returns its new message id. Raises QueueUnavailable during an outage.

        FIFO queues need ``message_group_id``, and ``message_deduplication_id``
        unless the queue deduplicates by content. A repeat within 5 minutes is
        accepted, stores nothing, and returns the first message's id.
        """
        now = self.sim.now
        if any(start <= now < end for start, end in self.outages):
            raise QueueUnavailable(f"queue {self.name!r} is unavailable at t={now:.0f} ms; nothing was sent, retry")
        dedup = self._fifo_checks(body, delay_ms, message_group_id, message_deduplication_id)
        if dedup is not None:
            first = self._dedup.get(dedup)
            if first is not None and now < first[0] + DEDUPLICATION_WINDOW_MS:
                self.stats["deduplicated"] += 1
                self._log("deduplicated", first[1], deduplication_id=dedup)
                return first[1]
        delay = self.delay_ms if delay_ms is None else delay_ms
        _check_range("DelaySeconds", delay, 0, MAX_DELAY_MS)
        mid = f"{self.name}-{next(self._ids)}"
        if dedup is not None:
            self._dedup[dedup] = (now, mid)
        self._store(_Stored(mid, body, dict(message_attributes or {}), now, now, next(self._seq), now + delay,
                            group_id=message_group_id, deduplication_id=dedup))
        self.stats["sent"] += 1
        self._log("sent", mid, delay=delay)
        return mid

    def _fifo_checks(self, body: Any, delay_ms: float | None, group_id: str | None,
                     dedup_id: str | None) -> str | None:
        """Validate a send's FIFO fields; return its deduplication id (None on a standard queue)."""
        if not self.fifo:
            if group_id is not None or dedup_id is not None:
                raise InvalidParameterValue(f"queue {self.name!r} is a standard queue: MessageGroupId and "
                                            "MessageDeduplicationId are for FIFO queues ('.fifo')")
            return None
        if not isinstance(group_id, str) or not group_id:
            raise InvalidParameterValue(f"FIFO queue {self.name!r}: every message needs a message_group_id")
        if delay_ms is not None:
            raise InvalidParameterValue(f"FIFO queue {self.name!r}: no per-message delay; set the queue's "
                                        "delay_ms instead")
        if dedup_id is None:
            if not self.content_based_deduplication:
                raise InvalidParameterValue(f"FIFO queue {self.name!r}: give a message_deduplication_id, or "
                                            "create the queue with content_based_deduplication=True")
            return "sha256:" + hashlib.sha256(_body_bytes(body)).hexdigest()
        return str(dedup_id)

    def _in_flight_groups(self) -> set[str | None]:
        now = self.sim.now
        return {m.group_id for m in self._messages.values() if m.visible_at > now and m.receipt_handle is not None}

    def _receivable(self) -> bool:
        """Could a receive return something now?"""
        self._refresh()
        now = self.sim.now
        if not self.fifo:
            return any(m.visible_at <= now for m in self._messages.values())
        blocked = self._in_flight_groups()
        return any(m.visible_at <= now and m.group_id not in blocked for m in self._messages.values())

    def _long_poll(self, wait_ms: float) -> None:
        """Run the simulated clock until a receive could return something, or ``wait_ms`` has passed."""
        if self.sim.in_callback:
            raise SqsError("long polling waits on the simulated clock and cannot run inside a simulation "
                           "event; call receive_message with wait_time_ms=0 there")
        deadline = self.sim.now + wait_ms
        while not self._receivable() and self.sim.now < deadline:
            now = self.sim.now
            later = [m.visible_at for m in self._messages.values() if m.visible_at > now]
            wake = min([deadline] + later)
            alarm = self.sim.at(wake, _nothing)          # so the clock reaches `wake` even with no other events
            self.sim.run_until(self._receivable, until=wake)
            alarm.cancel()

    def _next_candidates(self) -> "Iterator[_Stored]":
        """Visible messages in delivery order; a FIFO group stops at its first message in flight."""
        if not self.fifo:
            while self._visible:
                _, _, mid, version = heapq.heappop(self._visible)
                m = self._messages.get(mid)
                if m is not None and m.version == version:    # else deleted, or its state changed since
                    yield m
            return
        self._visible = []                                 # FIFO order is by send sequence, per group
        now = self.sim.now
        blocked = self._in_flight_groups()
        for m in sorted(self._messages.values(), key=lambda m: m.seq):
            if m.group_id in blocked:
                continue
            if m.visible_at > now:                         # delayed: later messages of its group wait too
                blocked.add(m.group_id)
                continue
            yield m                                        # the rest of its group may follow, in order

    def receive_message(self, max_number_of_messages: int = 1, visibility_timeout_ms: float | None = None,
                        wait_time_ms: float | None = None) -> list[SqsMessage]:
        """Up to ``max_number_of_messages`` (1..10) visible messages, oldest first, now hidden.

        ``wait_time_ms`` (default: the queue's ``receive_wait_time_ms``, 0)
        is long polling: with nothing to return, wait on the simulated clock
        for up to that long.
        """
        if not isinstance(max_number_of_messages, int) or not 1 <= max_number_of_messages <= MAX_RECEIVE_BATCH:
            raise InvalidParameterValue(f"MaxNumberOfMessages must be an int in 1..{MAX_RECEIVE_BATCH}, "
                                        f"got {max_number_of_messages!r}")
        timeout = self.visibility_timeout_ms if visibility_timeout_ms is None else visibility_timeout_ms
        _check_range("VisibilityTimeout", timeout, 0, MAX_VISIBILITY_TIMEOUT_MS)
        wait = self.receive_wait_time_ms if wait_time_ms is None else wait_time_ms
        _check_range("WaitTimeSeconds", wait, 0, MAX_WAIT_TIME_MS)
        if wait > 0:
            self._long_poll(wait)
        self._refresh()
        now = self.sim.now
        out: list[SqsMessage] = []
        for m in self._next_candidates():
            if len(out) >= max_number_of_messages:
                if not self.fifo:
                    self._make_visible(m)                  # popped but not taken: back in the heap
                break
            mid = m.message_id
            policy = self.redrive_policy
            if policy is not None and m.receive_count >= policy.max_receive_count:
                self._move_to_dlq(m, policy.dead_letter_queue)
                continue
            m.receive_count += 1
            if m.first_receive_at is None:
                m.first_receive_at = now
            m.received_at = now
            m.receipt_handle = f"{mid}/r{next(self._receipts)}"
            self._hide_until(m, now + timeout)
            self.stats["received"] += 1
            self._log("received", mid, receive_count=m.receive_count, handle=m.receipt_handle)
            out.append(SqsMessage(mid, m.receipt_handle, m.body, {
                "SentTimestamp": m.sent_at, "ApproximateReceiveCount": m.receive_count,
                "ApproximateFirstReceiveTimestamp": m.first_receive_at,
                **({"DeadLetterQueueSourceArn": m.source} if m.source else {}),
                **({"MessageGroupId": m.group_id, "MessageDeduplicationId": m.deduplication_id,
                    "SequenceNumber": m.seq} if self.fifo else {})}, dict(m.message_attributes)))
        return out

    def _find(self, receipt_handle: str) -> _Stored | None:
        mid = receipt_handle.rsplit("/r", 1)[0] if isinstance(receipt_handle, str) else None
        if mid is None:
            raise ReceiptHandleIsInvalid(f"{receipt_handle!r} is not a receipt handle; pass message.receipt_handle")
        m = self._messages.get(mid)
        if m is not None and m.receipt_handle != receipt_handle:
            raise ReceiptHandleIsInvalid(f"receipt handle {receipt_handle!r} is stale: message {mid} was received "
                                         "again since; only the latest receive may delete or change it")
        return m

    def delete_message(self, receipt_handle: str) -> bool:
        """Delete the message for good; True if this call deleted it.

        Deleting an already deleted message is not an error (False). Nor is a
        receipt handle that is no longer the latest one: like AWS, the call
        succeeds, and msglib then deletes nothing (AWS says the message *might*
        not be deleted); it returns False and counts ``stats["stale_deletes"]``.
        """
        self._refresh()
        try:
            m = self._find(receipt_handle)
        except ReceiptHandleIsInvalid:
            if not isinstance(receipt_handle, str) or "/r" not in receipt_handle:
                raise                                      # not a receipt handle at all
            self.stats["stale_deletes"] += 1
            self._log("stale-delete", receipt_handle.rsplit("/r", 1)[0], handle=receipt_handle)
            return False
        if m is None:
            return False
        del self._messages[m.message_id]
        self.stats["deleted"] += 1
        self._log("deleted", m.message_id)
        return True

    def change_message_visibility(self, receipt_handle: str, visibility_timeout_ms: float) -> None:
        """Hide the message for ``visibility_timeout_ms`` from *now* (0 makes it visible at once)."""
        _check_range("VisibilityTimeout", visibility_timeout_ms, 0, MAX_VISIBILITY_TIMEOUT_MS)
        self._refresh()
        m = self._find(receipt_handle)
        now = self.sim.now
        if m is None or m.visible_at <= now:
            raise MessageNotInflight(f"message of {receipt_handle!r} is not in flight (its visibility timeout "
                                     "already ended, or it was deleted)")
        if now - (m.received_at or now) + visibility_timeout_ms > MAX_VISIBILITY_TIMEOUT_MS:
            raise InvalidParameterValue("a message may stay hidden at most 12 h after it was received; "
                                        f"asked for {visibility_timeout_ms:.0f} ms at "
                                        f"{now - (m.received_at or now):.0f} ms after the receive")
        if visibility_timeout_ms == 0:
            self._make_visible(m)
        else:
            self._hide_until(m, now + visibility_timeout_ms)
        self._log("visibility", m.message_id, timeout=visibility_timeout_ms)

    # ------------------------------------------------------------------ dead letters
    def _move_to_dlq(self, m: _Stored, dlq: "SqsQueue") -> None:
        del self._messages[m.message_id]
        self.stats["moved_to_dlq"] += 1
        self._log("moved-to-dlq", m.message_id, receive_count=m.receive_count, dlq=dlq.name)
        # same id, same original timestamp (the retention clock keeps running), same receive count
        # (the DLQ's first receive reports maxReceiveCount + 1), visible at once
        moved = _Stored(m.message_id, m.body, m.message_attributes, m.sent_at, self.sim.now, next(dlq._seq),
                        self.sim.now, receive_count=m.receive_count, first_receive_at=m.first_receive_at,
                        source=self.name, group_id=m.group_id, deduplication_id=m.deduplication_id)
        dlq._refresh()
        dlq._store(moved)
        dlq._log("dead-lettered", m.message_id, source=self.name)

    def start_message_move_task(self, destination: "SqsQueue | None" = None, max_per_second: int | None = None,
                                mover: Mover | None = None) -> MessageMoveTask:
        """Redrive this DLQ: every simulated second, ``mover(self, destination, budget)`` moves up to
        ``max_per_second`` messages (default and cap 500). The destination defaults to the source queue.
        ``mover`` is a seam (module 09); it defaults to :func:`move_messages`."""
        if not self.sources:
            raise MoveTaskError(f"{self.name!r} is not a dead-letter queue: no queue's redrive policy points to it")
        if destination is None:
            if len(self.sources) > 1:
                raise MoveTaskError(f"{self.name!r} is the DLQ of several queues "
                                    f"({', '.join(s.name for s in self.sources)}); name the destination")
            destination = self.sources[0]
        rate = MAX_MOVE_RATE if max_per_second is None else max_per_second
        if not isinstance(rate, int) or not 1 <= rate <= MAX_MOVE_RATE:
            raise InvalidParameterValue(f"MaxNumberOfMessagesPerSecond must be an int in 1..{MAX_MOVE_RATE}, "
                                        f"got {max_per_second!r}")
        if any(t.status == "RUNNING" for t in self.tasks):
            raise MoveTaskError(f"a message move task is already running on {self.name!r}; cancel it or wait")
        task = MessageMoveTask(f"{self.name}-task-{next(self._task_ids)}", self, destination, rate, self.sim.now, len(self))
        self.tasks.append(task)
        self.sim.schedule(0.0, self._move_tick, task, mover or move_messages)
        return task

    def list_message_move_tasks(self) -> list[MessageMoveTask]:
        return list(self.tasks)

    def cancel_message_move_task(self, task: MessageMoveTask) -> None:
        if task.status != "RUNNING":
            raise MoveTaskError(f"task {task.task_handle} is {task.status}; only a running task can be cancelled")
        task.status = "CANCELLED"

    def _move_tick(self, task: MessageMoveTask, mover: Mover) -> None:
        if task.status != "RUNNING":
            return
        before = self.stats["deleted"]
        try:
            mover(self, task.destination, task.max_per_second)
        except Exception as exc:         # the task fails; the messages stay where they are
            task.status = "FAILED"
            task.failure_reason = f"{type(exc).__name__}: {exc}"
            return
        n = self.stats["deleted"] - before
        task.moved += n
        task.per_tick.append((self.sim.now, n))
        if len(self) == 0:
            task.status = "COMPLETED"
            return
        self.sim.schedule(SECOND, self._move_tick, task, mover)


def _body_bytes(body: Any) -> bytes:
    """The bytes content-based deduplication hashes (SQS hashes the message body)."""
    if isinstance(body, bytes):
        return body
    return body.encode() if isinstance(body, str) else repr(body).encode()


def _nothing() -> None:
    """A timer that only makes the simulated clock stop at its time (long polling)."""


def _check_range(what: str, value: float, lo: float, hi: float) -> None:
    if not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise InvalidParameterValue(f"{what} must be between {lo:g} and {hi:g} ms, got {value!r}")


__all__ = ["SqsQueue", "SqsMessage", "RedrivePolicy", "MessageMoveTask", "move_messages", "SqsError",
           "InvalidParameterValue", "ReceiptHandleIsInvalid", "MessageNotInflight", "QueueUnavailable",
           "MoveTaskError", "ORIGINAL_ID", "DEFAULT_VISIBILITY_TIMEOUT_MS", "MAX_VISIBILITY_TIMEOUT_MS",
           "MAX_WAIT_TIME_MS", "DEDUPLICATION_WINDOW_MS",
           "DEFAULT_RETENTION_MS", "MAX_RETENTION_MS", "MAX_MOVE_RATE", "SECOND", "MINUTE", "HOUR", "DAY"]
