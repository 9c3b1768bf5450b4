"""msglib.queue: queues that hand a message to one consumer and forget it once acknowledged.

Two models of the same idea, both on simulated time (:class:`msglib.sim.Simulation`):

* **RabbitMQ** (``broker.py``): publishers send to *exchanges* (direct, fanout,
  topic, headers) which route copies to *queues*; the broker pushes messages to
  consumers round-robin, at most ``prefetch`` unacknowledged each; ack, nack and
  reject, requeue with a ``redelivered`` flag, TTLs, max-length, quorum queues'
  delivery limit, and dead-letter exchanges with ``x-death`` headers.
* **SQS** (``sqs.py``): consumers *pull*; a received message is only hidden for
  a visibility timeout; a redrive policy moves it to a DLQ after
  ``maxReceiveCount`` receives; a move task redrives the DLQ back. FIFO queues
  (message groups, deduplication) and long polling too.

The RabbitMQ rules that changed between releases (requeue position, default
delivery limit, which nacks count) follow ``Broker(rabbitmq_version=...)``,
4.3 by default. docs/fidelity.md lists each rule with its version and source,
and tests/fidelity/ compares both models with a real RabbitMQ and with moto.

Read it in this order: ``message.py``, ``routing.py``, ``dispatch.py``,
``broker.py``, ``sqs.py``, then ``work.py`` (module 01's simulations: a work
queue with crashing workers, and consumer groups made of one queue per group).

Quick start::

    from msglib.queue import Broker
    broker = Broker()
    broker.declare_exchange("orders", "topic")
    broker.declare_queue("billing")
    broker.bind("billing", "orders", "order.*")
    broker.consume("billing", lambda d: (print(d.body), broker.ack(d.delivery_tag)))
    broker.publish("orders", "order.created", {"id": 1})
    broker.sim.run()
"""
from msglib.queue.broker import (CURRENT_RABBITMQ_VERSION, DEFAULT_CONSUMER_TIMEOUT_MS, DEFAULT_QUORUM_DELIVERY_LIMIT,
                                 Broker, BrokerError, Consumer, DispatchError, NotFound, PreconditionFailed,
                                 PublishResult, Queue, Returned, record_death)
from msglib.queue.dispatch import ConsumerView, round_robin
from msglib.queue.message import Delivery, Message
from msglib.queue.routing import Binding, Exchange, headers_match, topic_matches
from msglib.queue.sqs import (MessageMoveTask, QueueUnavailable, RedrivePolicy, SqsMessage, SqsQueue,
                              move_messages)

__all__ = [
    "Broker", "BrokerError", "Consumer", "DispatchError", "NotFound", "PreconditionFailed", "PublishResult",
    "Queue", "Returned", "record_death", "DEFAULT_QUORUM_DELIVERY_LIMIT", "DEFAULT_CONSUMER_TIMEOUT_MS",
    "CURRENT_RABBITMQ_VERSION", "ConsumerView", "round_robin", "Delivery", "Message",
    "Binding", "Exchange", "headers_match", "topic_matches", "MessageMoveTask", "QueueUnavailable", "RedrivePolicy",
    "SqsMessage", "SqsQueue", "move_messages",
]
