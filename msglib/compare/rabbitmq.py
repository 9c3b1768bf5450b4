"""The RabbitMQ-style model: a topic exchange and one queue per subscriber (``msglib.queue.Broker``).

What the mechanism decides, and the comparison measures:

* **A queue, not a log.** The exchange copies each message into every queue
  whose binding matches; an acknowledged message is deleted. N subscribers
  mean N stored copies until each has consumed its own, and a queue declared
  today never sees yesterday's messages.
* **Routing in the broker.** Bindings (``order.eu.*``) filter on the routing
  key, so a subscriber receives only what it asked for.
* **Competing consumers.** The consumers of a queue share it round-robin,
  each holding at most ``prefetch`` unacknowledged deliveries. Work spreads
  around a slow consumer, but two messages of one key can be processed at
  the same time by two consumers, and finish in either order.
* **Redelivery.** A consumer that dies returns its unacknowledged messages to
  the queue at their old places; they go out again with ``redelivered=True``,
  possibly after later messages of the same key were processed elsewhere.
* **No transactions across consume and produce** (``transactional = False``),
  and vhosts separate names, not capacity: one node's resources are shared
  (``isolation = "shared"``).

The same broker also offers **streams** (RabbitMQ 3.9+), a log with offsets:
:class:`RabbitStreamModel` (``"rabbitmq-stream"``), below.
"""
from __future__ import annotations

from typing import Any

from msglib.compare.harness import BrokerModel, Run, Worker, register
from msglib.compare.workload import Subscriber
from msglib.queue import Broker, topic_matches

EXCHANGE = "events"


@register
class RabbitModel(BrokerModel):
    name = "rabbitmq"
    kind = "queue"
    isolation = "shared"
    transactional = False
    publish_ms = 0.5      # an assumption: one hop to the node, no batching
    deliver_ms = 0.5

    def __init__(self, run: Run, *, queue_type: str = "classic") -> None:
        super().__init__(run)
        self.broker = Broker(self.sim, delivery_delay_ms=self.deliver_ms)
        self.broker.declare_exchange(EXCHANGE, "topic")
        self.arguments = {"x-queue-type": queue_type} if queue_type != "classic" else {}
        self.queue_of: dict[str, str] = {}

    def subscribe(self, sub: Subscriber) -> None:
        self.broker.declare_queue(sub.name, self.arguments)
        self.broker.bind(sub.name, EXCHANGE, sub.pattern or "#")
        self.queue_of[sub.name] = sub.name
        if sub.from_beginning:
            self.run.notes.append(f"rabbitmq: queue {sub.name!r} gets only messages published after it was bound; "
                                  "there is no history to replay")

    def start(self, sub: Subscriber, workers: list[Worker]) -> None:
        for w in workers:
            self._consume(w)

    def add_worker(self, sub: Subscriber, worker: Worker) -> None:
        self._consume(worker)

    def _consume(self, w: Worker) -> None:
        def deliver(d: Any) -> None:
            w.give(d.body, lambda tag=d.delivery_tag: self.broker.ack(tag))
        w.state["tag"] = self.broker.consume(w.sub.name, deliver, prefetch=self.run.workload.prefetch)

    def publish(self, msg: Any) -> None:
        self.broker.publish(EXCHANGE, msg.routing_key, msg, message_id=f"m{msg.id}")

    def stored_copies(self) -> int:
        return sum(q.messages for q in self.broker.queues.values())

    def on_crash(self, w: Worker) -> None:
        tag = w.state.pop("tag", None)
        if tag is not None:
            self.broker.cancel(tag)      # the connection dropped: its unacked messages are requeued

    def on_restart(self, w: Worker) -> None:
        self._consume(w)

    def facts(self) -> dict[str, Any]:
        return {"queues": len(self.broker.queues),
                "redelivered": sum(q.stats["redelivered"] for q in self.broker.queues.values())}




class _Stream:
    """One RabbitMQ stream: an append-only list of messages, bound to the exchange with ``pattern``."""

    def __init__(self, pattern: str, created_at: float) -> None:
        self.pattern = pattern
        self.created_at = created_at
        self.entries: list[tuple[float, Any]] = []   # (appended at, message); offset = index
        self.start = 0                                # first offset retention has not removed


class _StreamReader:
    """A subscriber reading a stream with single active consumer (SAC, RabbitMQ 3.11+).

    ``stored`` is the offset stored on the server (offset tracking): the next one to
    process. Only the active consumer reads; the others wait on standby, and one of
    them takes over from ``stored`` when the active one dies."""

    def __init__(self, stream: _Stream, stored: int) -> None:
        self.stream = stream
        self.stored = stored
        self.order: list[Worker] = []                 # registration order: the first alive one is active
        self.active: Worker | None = None
        self.position = stored                        # next offset to deliver to the active consumer
        self.inflight = 0
        self.switches = 0


@register
class RabbitStreamModel(BrokerModel):
    """RabbitMQ **streams** (3.9+): an append-only, replicated log bound to an exchange like a queue.

    * **A log inside RabbitMQ.** A stream keeps every message until its retention
      (``x-max-age`` / ``x-max-length-bytes``) removes it, whoever has read it;
      consumers attach at an offset (``x-stream-offset``: ``first``, ``next``, an
      offset or a timestamp) and read without removing anything.
    * **Routing in the broker, as for queues.** A stream is bound to the exchange:
      here each distinct binding pattern gets one stream (declared when its first
      subscriber binds), so a subscriber receives only what it asked for, and
      subscribers with the same pattern read the same stored copy.
    * **Order with single active consumer** (3.11+): the consumers of a subscriber
      register under one name; one is active and reads in offset order, the others
      wait. When it dies the next takes over from the stored offset (a few
      duplicates, no reordering). One reader at a time: a slow active consumer
      holds everything up (super streams, partitioned streams, would spread keys).
    * No transactions (``transactional = False``); one node's capacity is shared.

    Simplified: one node, no replication; the stored offset moves after every
    processed message (real clients store it every N messages or on a timer).
    """

    name = "rabbitmq-stream"
    kind = "log"
    isolation = "shared"
    transactional = False
    publish_ms = 0.5      # the same assumed hop costs as the queue model
    deliver_ms = 0.5

    def __init__(self, run: Run) -> None:
        super().__init__(run)
        self.streams: dict[str, _Stream] = {}
        self.readers: dict[str, _StreamReader] = {}

    def subscribe(self, sub: Subscriber) -> None:
        pattern = sub.pattern or "#"
        stream = self.streams.get(pattern)
        if stream is None:
            stream = self.streams[pattern] = _Stream(pattern, self.sim.now)
            if sub.from_beginning and self.sim.now > 0:
                self.run.notes.append(f"rabbitmq-stream: the stream for {pattern!r} was declared now, when "
                                      f"{sub.name!r} bound it: it holds no earlier messages")
        start = stream.start if sub.from_beginning else len(stream.entries)   # x-stream-offset: first / next
        self.readers[sub.name] = _StreamReader(stream, start)

    def start(self, sub: Subscriber, workers: list[Worker]) -> None:
        reader = self.readers[sub.name]
        reader.order.extend(workers)
        self._activate(reader)

    def add_worker(self, sub: Subscriber, worker: Worker) -> None:
        reader = self.readers[sub.name]
        reader.order.append(worker)                   # a standby consumer
        self._activate(reader)

    def _activate(self, reader: _StreamReader) -> None:
        if reader.active is not None and reader.active.alive:
            return
        reader.active = next((w for w in reader.order if w.alive), None)
        if reader.active is not None:
            reader.switches += 1
            reader.position = reader.stored          # resume from the offset stored on the server
            reader.inflight = 0
            self._pump(reader)

    def _pump(self, reader: _StreamReader) -> None:
        w = reader.active
        if w is None or not w.alive:
            return
        stream = reader.stream
        reader.position = max(reader.position, stream.start)
        while reader.inflight < self.run.workload.prefetch and reader.position < len(stream.entries):
            offset = reader.position
            msg = stream.entries[offset][1]
            reader.position += 1
            reader.inflight += 1
            self.sim.schedule(self.deliver_ms, self._deliver, reader, w, w.incarnation, offset, msg)

    def _deliver(self, reader: _StreamReader, w: Worker, incarnation: int, offset: int, msg: Any) -> None:
        if reader.active is w and w.incarnation == incarnation:
            w.give(msg, lambda: self._processed(reader, w, incarnation, offset))

    def _processed(self, reader: _StreamReader, w: Worker, incarnation: int, offset: int) -> None:
        if reader.active is not w or w.incarnation != incarnation:
            return                                    # a consumer that is no longer active: ignored
        reader.stored = max(reader.stored, offset + 1)
        reader.inflight -= 1
        self._pump(reader)

    def publish(self, msg: Any) -> None:
        for stream in self.streams.values():
            if topic_matches(stream.pattern, msg.routing_key):
                stream.entries.append((self.sim.now, msg))
        for reader in self.readers.values():
            self._pump(reader)

    def stored_copies(self) -> int:
        return sum(len(s.entries) - s.start for s in self.streams.values())

    def tick(self) -> None:
        keep = self.run.workload.retention_ms             # x-max-age: whole segments in RabbitMQ, messages here
        if keep < 0:
            return
        for s in self.streams.values():
            while s.start < len(s.entries) and self.sim.now - s.entries[s.start][0] > keep:
                s.start += 1

    def on_crash(self, w: Worker) -> None:
        reader = self.readers[w.sub.name]
        if w in reader.order:
            reader.order.remove(w)
            reader.order.append(w)                    # it registers again at the end when it comes back
        if reader.active is w:
            reader.active = None
            self._activate(reader)

    def on_restart(self, w: Worker) -> None:
        self._activate(self.readers[w.sub.name])

    def facts(self) -> dict[str, Any]:
        return {"streams": len(self.streams),
                "active consumer switches": sum(max(0, r.switches - 1) for r in self.readers.values())}


__all__ = ["RabbitModel", "RabbitStreamModel"]
