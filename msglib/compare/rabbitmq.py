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
"""
from __future__ import annotations

from typing import Any

from msglib.compare.harness import BrokerModel, Run, Worker, register
from msglib.compare.workload import Subscriber
from msglib.queue import Broker

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


__all__ = ["RabbitModel"]
