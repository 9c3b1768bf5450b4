"""The same AMQP steps, run on msglib's RabbitMQ model or on a real broker through pika.

A scenario is a function of a driver. Both drivers answer in plain values (bodies, flags,
header fields without times), so a test compares the two results with ``==``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from msglib.queue import Broker
from msglib.sim import Simulation


@dataclass(frozen=True)
class Got:
    """One ``basic.get`` (or delivery): what both brokers are compared on."""

    body: str
    redelivered: bool
    tag: int
    delivery_count: int        # x-delivery-count (quorum queues); 0 when absent
    deaths: tuple              # x-death without times: ((queue, reason, count, exchange, routing keys), ...)
    header_names: tuple = ()   # the names of the headers it carries, sorted


def _deaths(headers: dict) -> tuple:
    out = []
    for d in headers.get("x-death") or []:
        keys = tuple(k.decode() if isinstance(k, bytes) else k for k in d.get("routing-keys", []))
        out.append((_s(d["queue"]), _s(d["reason"]), int(d["count"]), _s(d["exchange"]), keys))
    return tuple(out)


def _s(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


class ModelDriver:
    """msglib's :class:`Broker` on simulated time; ``wait`` advances the simulated clock."""

    real = False

    def __init__(self, rabbitmq_version: str, **broker_kw) -> None:
        self.returns: list[tuple] = []
        self.broker = Broker(Simulation(0), rabbitmq_version=rabbitmq_version,
                             on_return=lambda r: self.returns.append(
                                 (r.reply_code, r.reply_text, r.exchange, r.routing_key, r.message.body)),
                             **broker_kw)
        self.cancelled: list[str] = []

    def exchange(self, name: str, type: str) -> None:
        self.broker.declare_exchange(name, type)

    def queue(self, name: str, arguments: dict | None = None) -> None:
        self.broker.declare_queue(name, arguments)

    def bind(self, queue: str, exchange: str, key: str = "", arguments: dict | None = None) -> None:
        self.broker.bind(queue, exchange, key, arguments)

    def publish(self, exchange: str, key: str, body: str, *, headers: dict | None = None,
                expiration_ms: int | None = None, mandatory: bool = False) -> str:
        r = self.broker.publish(exchange, key, body, headers=headers, expiration=expiration_ms, mandatory=mandatory)
        self.broker.sim.run(until=self.broker.sim.now)
        return "returned" if r.returned else ("nacked" if not r.confirmed else "ok")

    def get(self, queue: str) -> Got | None:
        self.broker.sim.run(until=self.broker.sim.now)
        d = self.broker.get(queue)
        if d is None:
            return None
        return Got(d.body, d.redelivered, d.delivery_tag, int(d.headers.get("x-delivery-count", 0)),
                   _deaths(d.headers), tuple(sorted(d.headers)))

    def ack(self, tag: int) -> None:
        self.broker.ack(tag)

    def nack(self, tag: int, requeue: bool) -> None:
        self.broker.nack(tag, requeue=requeue)

    def reject(self, tag: int, requeue: bool) -> None:
        self.broker.reject(tag, requeue=requeue)

    def wait(self, ms: float) -> None:
        self.broker.sim.run(until=self.broker.sim.now + ms)

    def count(self, queue: str) -> int:
        self.broker.sim.run(until=self.broker.sim.now)
        self.broker._expire(self.broker.queues[queue])
        return self.broker.queues[queue].messages_ready

    def consume(self, queue: str, prefetch: int) -> list[str]:
        """Subscribe a consumer that never acks; return the list its deliveries are appended to."""
        got: list[str] = []
        self.last_consumer = self.broker.consume(queue, lambda d: got.append(d.body), prefetch=prefetch,
                                                 on_cancel=self.cancelled.append)
        self.broker.sim.run(until=self.broker.sim.now)     # "at once": no simulated time passes
        return got

    def close_consumer(self) -> None:
        """The consumer's channel closes (a crash): its unacked deliveries go back to the queue."""
        self.broker.cancel(self.last_consumer)
        self.broker.sim.run(until=self.broker.sim.now)


class RealDriver:
    """The same steps on a real broker: a pika channel in publisher-confirm mode.

    Confirms make every publish synchronous (the broker has enqueued it, or refused it, when
    ``publish`` returns), so a ``get`` right after sees it on every queue type.
    """

    real = True

    def __init__(self, port: int) -> None:
        import pika
        self.pika = pika
        self.conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port))
        self.ch = self.conn.channel()
        self.ch.confirm_delivery()
        self.returns: list[tuple] = []
        self.ch.add_on_return_callback(lambda ch, method, props, body: self.returns.append(
            (method.reply_code, method.reply_text, method.exchange, method.routing_key, body.decode())))
        self.cancelled: list[str] = []
        self.declared: list[str] = []
        self.exchanges: list[str] = []

    def exchange(self, name: str, type: str) -> None:
        self.ch.exchange_declare(name, type, auto_delete=False)
        self.exchanges.append(name)

    def queue(self, name: str, arguments: dict | None = None) -> None:
        self.ch.queue_declare(name, durable=True, arguments=arguments)
        self.declared.append(name)

    def bind(self, queue: str, exchange: str, key: str = "", arguments: dict | None = None) -> None:
        self.ch.queue_bind(queue, exchange, key, arguments)

    def publish(self, exchange: str, key: str, body: str, *, headers: dict | None = None,
                expiration_ms: int | None = None, mandatory: bool = False) -> str:
        props = self.pika.BasicProperties(headers=headers, expiration=None if expiration_ms is None
                                          else str(int(expiration_ms)))
        try:
            self.ch.basic_publish(exchange, key, body.encode(), props, mandatory=mandatory)
        except self.pika.exceptions.UnroutableError:
            self.conn.process_data_events(0)
            return "returned"
        except self.pika.exceptions.NackError:
            return "nacked"
        return "ok"

    def get(self, queue: str) -> Got | None:
        method, props, body = self.ch.basic_get(queue)
        if method is None:
            return None
        headers = props.headers or {}
        return Got(body.decode(), method.redelivered, method.delivery_tag,
                   int(headers.get("x-delivery-count", 0)), _deaths(headers), tuple(sorted(headers)))

    def ack(self, tag: int) -> None:
        self.ch.basic_ack(tag)

    def nack(self, tag: int, requeue: bool) -> None:
        self.ch.basic_nack(tag, requeue=requeue)

    def reject(self, tag: int, requeue: bool) -> None:
        self.ch.basic_reject(tag, requeue=requeue)

    def wait(self, ms: float) -> None:
        deadline = time.monotonic() + ms / 1000        # process_data_events returns early on any event
        while (left := deadline - time.monotonic()) > 0:
            self.conn.process_data_events(time_limit=left)

    def count(self, queue: str) -> int:
        return self.ch.queue_declare(queue, passive=True).method.message_count

    def consume(self, queue: str, prefetch: int) -> list[str]:
        got: list[str] = []
        ch = self.conn.channel()
        ch.basic_qos(prefetch_count=prefetch)
        ch._impl.add_on_close_callback(lambda c, reason: self.cancelled.append(
            "consumer-timeout" if "timed out" in str(reason) else str(reason)))
        ch.basic_consume(queue, lambda c, m, p, b: got.append(b.decode()))
        self.conn.process_data_events(time_limit=0.3)     # the backlog arrives "at once": well within this
        self.last_channel = ch
        return got

    def close_consumer(self) -> None:
        self.last_channel.close()

    def close(self) -> None:
        try:
            ch = self.conn.channel()
            for q in self.declared:
                ch.queue_delete(q)
            for e in self.exchanges:
                ch.exchange_delete(e)
            self.conn.close()
        except Exception:  # noqa: BLE001 - cleanup of a throwaway node
            pass


def settle(driver, ms: float = 150) -> None:
    """Give a real broker time to move dead letters between queues (the model does it at once)."""
    driver.wait(ms)


__all__ = ["Got", "ModelDriver", "RealDriver", "settle"]
