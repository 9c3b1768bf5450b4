"""The SQS-style model: an SNS-style fan-out to one ``msglib.queue.SqsQueue`` per subscriber.

What the mechanism decides, and the comparison measures:

* **Pull and hide.** Consumers ``receive_message`` (up to 10 at a time); a
  received message is hidden for the *visibility timeout*, not handed over.
  Delete it in time and it is gone; otherwise it reappears for anyone, and a
  second consumer processes it again. Receiving a batch of 10 and working
  through it slowly is enough for the tail of the batch to reappear.
* **Best-effort order.** *Standard* queues promise no order (FIFO queues do, per
  message group: see :class:`SqsFifoModel`); with competing
  consumers and reappearing messages, keys are processed out of order even
  with a single consumer after a crash (its messages come back a visibility
  timeout later, behind newer ones).
* **Fan-out copies.** One queue per subscriber, each an SNS subscription; the
  SNS subscription's filter policy (here: a topic pattern on the routing key)
  filters in the service. (Filter policies belong to SNS subscriptions, not to
  SQS queues.)
* **Retention**: ``MessageRetentionPeriod`` at most 14 days: a consumer away
  longer loses messages. No replay: a new queue starts empty.
* **Every queue scales on its own** (``isolation = "separate"``); no
  transactions (``transactional = False``).

:class:`SqsFifoModel` (``"sqs-fifo"``) is the same fan-out to FIFO queues, where
a message group (here: the key) is delivered in order, one batch at a time.

Simplified: ``receive_message`` returns the oldest visible messages (real
standard queues only try to); an idle consumer long-polls: it is woken by the
next send, and re-polls every ``poll_ms`` while messages are in flight elsewhere.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from msglib.compare.harness import BrokerModel, Run, Worker, register
from msglib.compare.workload import Subscriber
from msglib.queue import SqsQueue, topic_matches
from msglib.queue.sqs import MAX_RETENTION_MS, MIN_RETENTION_MS, ReceiptHandleIsInvalid


@register
class SqsModel(BrokerModel):
    name = "sqs"
    kind = "queue"
    isolation = "separate"
    transactional = False
    publish_ms = 20.0     # an assumption: an HTTPS SendMessage (via SNS) round trip
    deliver_ms = 10.0     # ... and a ReceiveMessage that returns as soon as something is visible

    def __init__(self, run: Run, *, visibility_timeout_ms: float = 30_000.0, batch: int = 10,
                 poll_ms: float = 1_000.0) -> None:
        super().__init__(run)
        self.visibility_timeout_ms = visibility_timeout_ms
        self.batch = batch
        self.poll_ms = poll_ms
        wanted = run.workload.retention_ms
        self.retention_ms = min(max(wanted, MIN_RETENTION_MS), MAX_RETENTION_MS)
        if wanted > MAX_RETENTION_MS:
            run.notes.append(f"sqs: retention capped at 14 days (asked for {wanted / 86_400_000:.0f} days)")
        self.queues: dict[str, SqsQueue] = {}
        self.patterns: dict[str, str | None] = {}
        self.waiting: dict[str, list[Worker]] = {}
        self.stale_deletes = 0

    def subscribe(self, sub: Subscriber) -> None:
        self.queues[sub.name] = SqsQueue(self.sim, sub.name, visibility_timeout_ms=self.visibility_timeout_ms,
                                         retention_ms=self.retention_ms)
        self.patterns[sub.name] = sub.pattern
        self.waiting[sub.name] = []
        if sub.from_beginning:
            self.run.notes.append(f"sqs: queue {sub.name!r} starts empty; there is no history to replay")

    def start(self, sub: Subscriber, workers: list[Worker]) -> None:
        for w in workers:
            self._schedule_receive(w, 0.0)

    def add_worker(self, sub: Subscriber, worker: Worker) -> None:
        self._schedule_receive(worker, 0.0)

    def publish(self, msg: Any) -> None:
        for name, q in self.queues.items():
            pattern = self.patterns[name]
            if pattern is None or topic_matches(pattern, msg.routing_key):   # the subscription's filter policy
                q.send_message(msg)
                for w in self.waiting[name]:
                    if w.alive:
                        self._schedule_receive(w, self.deliver_ms)
                self.waiting[name] = []

    def stored_copies(self) -> int:
        return sum(len(q) for q in self.queues.values())

    def _schedule_receive(self, w: Worker, delay: float) -> None:
        """Receive ``delay`` ms from now, unless a receive is already due sooner."""
        at = self.sim.now + delay
        due = w.state.get("due")
        if due is not None and due <= at:
            return
        w.state["due"] = at
        w.state["token"] = token = w.state.get("token", 0) + 1
        self.sim.schedule(delay, self._receive, w, w.incarnation, token)

    def _receive(self, w: Worker, incarnation: int, token: int) -> None:
        if token != w.state.get("token"):
            return                        # superseded by a sooner receive
        w.state["due"] = None
        if incarnation != w.incarnation or not w.alive or w.busy or w.inbox:
            return
        q = self.queues[w.sub.name]
        got = q.receive_message(max_number_of_messages=self.batch)
        if got:
            for m in got:
                w.give(m.body, lambda h=m.receipt_handle: self._delete(q, h))
            return
        self.waiting[w.sub.name].append(w)          # long poll: the next send wakes it...
        if len(q):                                  # ... and messages in flight elsewhere may come back
            self._schedule_receive(w, self.poll_ms)

    def _delete(self, q: SqsQueue, handle: str) -> None:
        stale = getattr(q, "stats", {}).get("stale_deletes", 0)
        try:
            q.delete_message(handle)           # an old handle: the call succeeds, nothing is deleted
            if getattr(q, "stats", {}).get("stale_deletes", 0) > stale:
                self.stale_deletes += 1
        except ReceiptHandleIsInvalid:    # it reappeared and someone received it again: too late
            self.stale_deletes += 1

    def on_idle(self, w: Worker) -> None:
        self._schedule_receive(w, self.deliver_ms)

    def on_restart(self, w: Worker) -> None:
        # what it had received stays hidden until the visibility timeout: nothing to give back
        w.state["due"] = None
        self._schedule_receive(w, self.deliver_ms)

    def facts(self) -> dict[str, Any]:
        return {"queues": len(self.queues), "retention days": round(self.retention_ms / 86_400_000, 1),
                "late deletes": self.stale_deletes,
                "receives without a delete": sum(q.stats["received"] - q.stats["deleted"] for q in self.queues.values())}


FIFO_DEDUPLICATION_MS = 5 * 60 * 1000.0   # SQS FIFO: a deduplication id is remembered for 5 minutes


@dataclass
class _FifoEntry:
    message_id: int
    body: Any
    group: str
    sent_at: float
    visible_at: float = 0.0
    receipt_handle: str = ""
    receive_count: int = 0


@dataclass(frozen=True)
class FifoReceived:
    """One message returned by :meth:`FifoQueue.receive_message`."""

    body: Any
    message_group_id: str
    receipt_handle: str
    receive_count: int


class FifoQueue:
    """A small SQS **FIFO** queue (the parts the comparison needs; SQS developer guide, FIFO queues).

    * Messages of one ``MessageGroupId`` are delivered in the order they were sent, and
      **one group at a time**: while any message of a group is in flight (received, not
      deleted, visibility timeout not over) no other message of that group is returned.
      Different groups are independent, so consumers share the work group by group.
    * A receive returns as many messages of one group as it can (in order) before it
      takes the next group, oldest group first.
    * ``MessageDeduplicationId``: a second send with the same id within 5 minutes is
      accepted but not stored.
    * Retention: at most 14 days, as for standard queues.

    Simplified: a receipt handle that is no longer the latest raises
    ``ReceiptHandleIsInvalid`` (as msglib's standard queue does).
    """

    def __init__(self, sim: Any, name: str, *, visibility_timeout_ms: float = 30_000.0,
                 retention_ms: float = 4 * 86_400_000.0) -> None:
        if not MIN_RETENTION_MS <= retention_ms <= MAX_RETENTION_MS:
            raise ValueError(f"retention_ms must be between 1 minute and 14 days, got {retention_ms!r}")
        self.sim = sim
        self.name = name
        self.visibility_timeout_ms = visibility_timeout_ms
        self.retention_ms = retention_ms
        self.entries: list[_FifoEntry] = []
        self.dedup: dict[str, float] = {}
        self._ids = itertools.count()
        self.stats = {"sent": 0, "deduplicated": 0, "received": 0, "deleted": 0, "expired": 0}

    def _expire(self) -> None:
        now = self.sim.now
        keep = [e for e in self.entries if now - e.sent_at <= self.retention_ms]
        self.stats["expired"] += len(self.entries) - len(keep)
        self.entries = keep

    def __len__(self) -> int:
        self._expire()
        return len(self.entries)

    def send_message(self, body: Any, *, message_group_id: str, message_deduplication_id: str | None = None) -> bool:
        """Append ``body`` to its group; False when the deduplication id was seen in the last 5 minutes."""
        if not message_group_id:
            raise ValueError("a FIFO queue needs a MessageGroupId on every message")
        now = self.sim.now
        if message_deduplication_id is not None:
            seen = self.dedup.get(message_deduplication_id)
            if seen is not None and now - seen < FIFO_DEDUPLICATION_MS:
                self.stats["deduplicated"] += 1
                return False
            self.dedup[message_deduplication_id] = now
        self.entries.append(_FifoEntry(next(self._ids), body, message_group_id, now))
        self.stats["sent"] += 1
        return True

    def receive_message(self, max_number_of_messages: int = 1) -> list[FifoReceived]:
        """Up to ``max_number_of_messages`` (1-10), oldest first, skipping every group with a message in flight."""
        if not 1 <= max_number_of_messages <= 10:
            raise ValueError(f"max_number_of_messages must be 1..10, got {max_number_of_messages!r}")
        self._expire()
        now = self.sim.now
        blocked = {e.group for e in self.entries if e.visible_at > now}
        groups: list[str] = []                  # free groups, by their oldest message
        for e in self.entries:
            if e.group not in blocked and e.group not in groups:
                groups.append(e.group)
        out = []
        for group in groups:                    # as many messages of one group as possible, then the next
            for e in self.entries:
                if len(out) == max_number_of_messages:
                    return out
                if e.group != group:
                    continue
                e.visible_at = now + self.visibility_timeout_ms
                e.receive_count += 1
                e.receipt_handle = f"{self.name}/{e.message_id}/{e.receive_count}"
                self.stats["received"] += 1
                out.append(FifoReceived(e.body, e.group, e.receipt_handle, e.receive_count))
        return out

    def delete_message(self, receipt_handle: str) -> None:
        for i, e in enumerate(self.entries):
            if e.receipt_handle == receipt_handle:
                del self.entries[i]
                self.stats["deleted"] += 1
                return
        raise ReceiptHandleIsInvalid(f"{receipt_handle}: not the latest receipt of a message in {self.name}")


@register
class SqsFifoModel(SqsModel):
    """SQS **FIFO** queues behind an SNS FIFO topic: ``MessageGroupId`` = the message's key.

    Order per key (group) with competing consumers, because a group is delivered one
    message batch at a time; a crash keeps the group locked until the visibility
    timeout ends, then its messages come back first. SNS FIFO subscriptions take
    filter policies too, so routing stays in the service. Retention is still at most
    14 days."""

    name = "sqs-fifo"

    def subscribe(self, sub: Subscriber) -> None:
        self.queues[sub.name] = FifoQueue(self.sim, sub.name, visibility_timeout_ms=self.visibility_timeout_ms,
                                          retention_ms=self.retention_ms)
        self.patterns[sub.name] = sub.pattern
        self.waiting[sub.name] = []
        if sub.from_beginning:
            self.run.notes.append(f"sqs-fifo: queue {sub.name!r} starts empty; there is no history to replay")

    def publish(self, msg: Any) -> None:
        for name, q in self.queues.items():
            pattern = self.patterns[name]
            if pattern is None or topic_matches(pattern, msg.routing_key):   # the SNS subscription's filter policy
                q.send_message(msg, message_group_id=msg.key, message_deduplication_id=f"m{msg.id}")
                for w in self.waiting[name]:
                    if w.alive:
                        self._schedule_receive(w, self.deliver_ms)
                self.waiting[name] = []


__all__ = ["SqsModel", "SqsFifoModel", "FifoQueue", "FifoReceived", "FIFO_DEDUPLICATION_MS"]
