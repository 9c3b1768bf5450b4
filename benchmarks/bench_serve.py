"""Benchmark ``msglib serve``: records/s through Kafka's wire protocol with real clients, on loopback.

    .venv/bin/python -m benchmarks.bench_serve            # the figures below
    .venv/bin/python -m benchmarks.bench_serve --quick    # tiny counts: proves the script runs (nothing recorded)

Figures (each recorded in benchmarks/results.json by ``record``), all wall-clock records/s of 100-byte values
with 10-byte keys, one partition, the server in its own process (``python -m msglib serve``):

* ``serve.confluent.produce``: confluent-kafka (librdkafka), acks=1, linger.ms=5, batches up to 1 MiB,
  no compression; from the first produce() to the last delivery report. Target >= 50,000 records/s.
* ``serve.confluent.consume``: the same records read back by a confluent-kafka consumer (assign, earliest).
* ``serve.kafka_python.produce`` / ``serve.kafka_python.consume``: kafka-python, acks=1, linger_ms=5.
* ``serve.embedded.produce`` / ``serve.embedded.consume``: the kafka-python code again, with msglib's
  in-process clients instead of a socket (``bootstrap_servers`` only, the embedded default, when msglib's
  clients accept it; otherwise a one-broker ``msglib.cluster.Cluster`` passed as ``cluster=``, and the
  output says so). Its ratio to the kafka-python figure is what the wire costs.

Then it profiles the server (cProfile, the confluent-kafka produce and consume run again) and prints the
top entries by own time: where a request's time goes. The machine is shared (2 cores, other jobs).
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import pstats
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from benchmarks import results

QUICK = False
COMMAND = "python -m benchmarks.bench_serve"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VALUE = b"x" * 100


def record(name: str, value: float, unit: str, **kw) -> None:
    if QUICK:
        base = kw.get("baseline")
        ratio = f"  ratio {value / base:.2f}" if base else ""
        print(f"{name:<55} {value:>14,.2f} {unit}{ratio}  (quick run: not recorded)")
    else:
        results.record(name, value, unit, command=COMMAND, **kw)


class Server:
    """``python -m msglib serve`` in a subprocess on a free port (optionally under cProfile)."""

    def __init__(self, profile: str | None = None) -> None:
        self.data = tempfile.mkdtemp(prefix="bench-serve-")
        prefix = [sys.executable] + (["-m", "cProfile", "-o", profile] if profile else [])
        self.proc = subprocess.Popen(prefix + ["-m", "msglib", "serve", "--port", "0", "--data", self.data,
                                               "--group-initial-rebalance-delay-ms", "0"],
                                     cwd=ROOT, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        found = re.search(r"on 127\.0\.0\.1:(\d+)", line)
        if not found:
            self.proc.kill()
            raise RuntimeError(f"msglib serve did not start: {line!r}")
        self.address = f"127.0.0.1:{found.group(1)}"

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)
        shutil.rmtree(self.data, ignore_errors=True)


def confluent_produce(address: str, topic: str, n: int) -> float:
    from confluent_kafka import Producer
    producer = Producer({"bootstrap.servers": address, "acks": "1", "linger.ms": 5, "batch.size": 1 << 20,
                         "queue.buffering.max.messages": 1_000_000, "enable.idempotence": False})
    delivered = []
    producer.produce(topic, value=b"warm-up")
    producer.flush(30)
    start = time.perf_counter()
    for i in range(n):
        while True:
            try:
                producer.produce(topic, key=b"key-%06d" % (i % 1_000_000), value=VALUE,
                                 on_delivery=lambda err, _m: delivered.append(err))
                break
            except BufferError:
                producer.poll(0.01)
        if i % 10_000 == 0:
            producer.poll(0)
    producer.flush(120)
    seconds = time.perf_counter() - start
    errors = [e for e in delivered if e is not None]
    if errors or len(delivered) != n:
        raise RuntimeError(f"confluent-kafka: {len(errors)} errors, {len(delivered)} of {n} delivered: {errors[:3]}")
    return n / seconds


def confluent_consume(address: str, topic: str, n: int) -> float:
    from confluent_kafka import Consumer, TopicPartition
    consumer = Consumer({"bootstrap.servers": address, "group.id": "bench", "enable.auto.commit": False,
                         "fetch.max.bytes": 8 << 20, "max.partition.fetch.bytes": 8 << 20})
    consumer.assign([TopicPartition(topic, 0, 1)])   # offset 0 is the warm-up record
    got = 0
    start = time.perf_counter()
    deadline = start + 120
    while got < n and time.perf_counter() < deadline:
        for m in consumer.consume(10_000, 0.5):
            if not m.error():
                got += 1
    seconds = time.perf_counter() - start
    consumer.close()
    if got < n:
        raise RuntimeError(f"confluent-kafka consumer read {got} of {n}")
    return n / seconds


def kafka_python_produce(producer_cls, topic: str, n: int, **config) -> float:
    producer = producer_cls(acks=1, linger_ms=5, batch_size=1 << 20, **config)
    producer.send(topic, value=b"warm-up").get(timeout=30)
    start = time.perf_counter()
    futures = [producer.send(topic, key=b"key-%06d" % i, value=VALUE) for i in range(n)]
    producer.flush()
    seconds = time.perf_counter() - start
    if any(not f.succeeded() for f in futures[-10:]):
        raise RuntimeError("kafka-python: sends failed")
    producer.close()
    return n / seconds


def kafka_python_consume(consumer_cls, tp_cls, topic: str, n: int, **config) -> float:
    consumer = consumer_cls(enable_auto_commit=False, max_poll_records=10_000, **config)
    tp = tp_cls(topic, 0)
    consumer.assign([tp])
    consumer.seek(tp, 1)
    got = 0
    start = time.perf_counter()
    deadline = start + 300
    while got < n and time.perf_counter() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            got += len(records)
    seconds = time.perf_counter() - start
    consumer.close()
    if got < n:
        raise RuntimeError(f"consumer read {got} of {n}")
    return n / seconds


def embedded_clients():
    """msglib's in-process clients: the embedded default if msglib's clients take bootstrap_servers alone,
    else a one-broker Cluster passed as cluster= (the returned note says which)."""
    from msglib.client import KafkaConsumer, KafkaProducer
    try:
        probe = KafkaProducer(bootstrap_servers="localhost:9092")
        probe.close()
        return KafkaProducer, KafkaConsumer, {"bootstrap_servers": "localhost:9092"}, \
            "the embedded default (bootstrap_servers only)"
    except Exception as exc:  # noqa: BLE001 - the other helper's contract may not be there yet
        from msglib.cluster import Cluster
        cluster = Cluster(1, seed=0)
        cluster.create_topic("bench-embedded", 1, 1)
        note = (f"a one-broker msglib Cluster passed as cluster= (the embedded default is not available: "
                f"{type(exc).__name__}: {str(exc)[:80]})")
        return KafkaProducer, KafkaConsumer, {"cluster": cluster}, note


def main(argv: list[str] | None = None) -> int:
    global QUICK
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts; nothing is recorded")
    parser.add_argument("--records", type=int, default=300_000, help="records for confluent-kafka")
    parser.add_argument("--python-records", type=int, default=50_000, help="records for kafka-python and embedded")
    parser.add_argument("--no-profile", action="store_true", help="skip the cProfile run of the server")
    args = parser.parse_args(argv)
    QUICK = args.quick
    n = 2_000 if QUICK else args.records
    m = 1_000 if QUICK else args.python_records
    have_confluent = importlib.util.find_spec("confluent_kafka") is not None
    have_kafka = importlib.util.find_spec("kafka") is not None
    print(f"msglib serve on loopback, server in its own process; {n:,} records (confluent-kafka), "
          f"{m:,} (kafka-python, embedded); 100-byte values")
    server = Server()
    try:
        if have_confluent:
            produced = confluent_produce(server.address, "bench-c", n)
            record("serve.confluent.produce", produced, "records/s", target=">= 50000 (acks=1, batched)")
            record("serve.confluent.consume", confluent_consume(server.address, "bench-c", n), "records/s")
        else:
            print("confluent-kafka is not installed: its figures are skipped (pip install confluent-kafka)")
        if have_kafka:
            from kafka import KafkaConsumer, KafkaProducer, TopicPartition
            wire_p = kafka_python_produce(KafkaProducer, "bench-k", m, bootstrap_servers=server.address)
            wire_c = kafka_python_consume(KafkaConsumer, TopicPartition, "bench-k", m,
                                          bootstrap_servers=server.address)
        else:
            wire_p = wire_c = None
            print("kafka-python is not installed: its figures are skipped")
    finally:
        server.stop()

    from msglib.protocol import TopicPartition as MsglibTP
    producer_cls, consumer_cls, config, note = embedded_clients()
    print(f"embedded: {note}")
    emb_p = kafka_python_produce(producer_cls, "bench-embedded", m, **config)
    emb_c = kafka_python_consume(consumer_cls, MsglibTP, "bench-embedded", m, **config)
    if wire_p is not None:
        record("serve.kafka_python.produce", wire_p, "records/s", baseline=emb_p,
               baseline_name="the same client code on msglib's in-process clients (same run)")
        record("serve.kafka_python.consume", wire_c, "records/s", baseline=emb_c,
               baseline_name="the same client code on msglib's in-process clients (same run)")
    record("serve.embedded.produce", emb_p, "records/s")
    record("serve.embedded.consume", emb_c, "records/s")

    if have_confluent and not args.no_profile:
        profile_server(n if QUICK else min(n, 100_000))
    return 0


def profile_server(n: int) -> None:
    """Run the confluent-kafka produce and consume against a cProfiled server; print its top entries."""
    path = tempfile.mktemp(prefix="bench-serve-", suffix=".prof")
    server = Server(profile=path)
    try:
        produced = confluent_produce(server.address, "bench-p", n)
        consumed = confluent_consume(server.address, "bench-p", n)
    finally:
        server.stop()
    print(f"\nwhere the server's time goes (cProfile, {n:,} records produced at {produced:,.0f}/s and consumed "
          f"at {consumed:,.0f}/s under the profiler), top 15 by own time:")
    stats = pstats.Stats(path)
    stats.sort_stats("tottime")
    entries = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:15]
    total = sum(v[2] for v in stats.stats.values()) or 1.0
    for (file, line, func), (cc, nc, tt, ct, _) in entries:
        where = f"{os.path.relpath(file, ROOT) if file.startswith(ROOT) else os.path.basename(file)}:{line}({func})"
        print(f"  {tt:8.3f} s own {100 * tt / total:5.1f} %  {ct:8.3f} s cum  {nc:>9} calls  {where}")
    os.unlink(path)


if __name__ == "__main__":
    sys.exit(main())
