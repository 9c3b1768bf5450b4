"""The SQS-style model: an SNS-style fan-out to one ``msglib.queue.SqsQueue`` per subscriber.

What the mechanism decides, and the comparison measures:

* **Pull and hide.** Consumers ``receive_message`` (up to 10 at a time); a
  received message is hidden for the *visibility timeout*, not handed over.
  Delete it in time and it is gone; otherwise it reappears for anyone, and a
  second consumer processes it again. Receiving a batch of 10 and working
  through it slowly is enough for the tail of the batch to reappear.
* **Best-effort order.** Standard queues promise no order; with competing
  consumers and reappearing messages, keys are processed out of order even
  with a single consumer after a crash (its messages come back a visibility
  timeout later, behind newer ones).
* **Fan-out copies.** One queue per subscriber (SNS subscription); a
  subscription's filter policy (here: a topic pattern on the routing key)
  filters in the service.
* **Retention**: ``MessageRetentionPeriod`` at most 14 days: a consumer away
  longer loses messages. No replay: a new queue starts empty.
* **Every queue scales on its own** (``isolation = "separate"``); no
  transactions (``transactional = False``).

Simplified: ``receive_message`` returns the oldest visible messages (real
standard queues only try to); an idle consumer long-polls: it is woken by the
next send, and re-polls every ``poll_ms`` while messages are in flight elsewhere.
"""
from __future__ import annotations

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
        try:
            q.delete_message(handle)
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


__all__ = ["SqsModel"]
