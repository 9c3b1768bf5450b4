"""Benchmark ``msglib serve --brokers 3``: a real client through the simulated replicated cluster.

    .venv/bin/python -m benchmarks.bench_serve_cluster           # the figures below
    .venv/bin/python -m benchmarks.bench_serve_cluster --quick   # tiny counts: proves the script runs (nothing recorded)

Figures (recorded in benchmarks/results.json), confluent-kafka (librdkafka) against
:class:`msglib.wire.replicated.ClusterServerThread` (3 brokers, replication factor 3, min.insync.replicas 2)
in this process, 100-byte values with 10-byte keys, one partition, wall clock:

* ``serve_cluster.confluent.produce_acks_all``: records/s with acks=all and the idempotent producer,
  linger.ms=5, from the first produce() to the last delivery report;
* ``serve_cluster.confluent.consume``: the same records read back (assign, earliest);
* ``serve_cluster.failover_ms``: the partition leader is crashed while the producer writes; milliseconds
  from the crash to the first record acknowledged afterwards (the controller fences the broker after its
  90 ms session timeout, elects a leader, the client refreshes its metadata and retries). Median of
  ``--failovers`` crashes.

The machine is shared (2 cores, other jobs): wall-clock figures vary between runs.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time

from benchmarks.results import record

COMMAND = "python -m benchmarks.bench_serve_cluster"


def _producer(bootstrap: str):
    from confluent_kafka import Producer
    return Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                     "linger.ms": 5, "log_level": 0, "message.timeout.ms": 60_000})


def throughput(srv, records: int, quick: bool) -> None:
    from confluent_kafka import Consumer, TopicPartition
    producer = _producer(srv.bootstrap)
    producer.produce("warm-up", b"x")
    producer.flush(30)
    value = b"x" * 100
    start = time.perf_counter()
    for i in range(records):
        while True:
            try:
                producer.produce("bench", key=b"k%08d" % i, value=value)
                break
            except BufferError:
                producer.poll(0.01)
        if i % 1000 == 0:
            producer.poll(0)
    left = producer.flush(120)
    produce_s = time.perf_counter() - start
    if left:
        sys.exit(f"{left} records not delivered within 120 s")
    consumer = Consumer({"bootstrap.servers": srv.bootstrap, "group.id": "bench", "enable.auto.commit": False,
                         "log_level": 0})
    consumer.assign([TopicPartition("bench", 0, 0)])
    got, start = 0, time.perf_counter()
    while got < records and time.perf_counter() - start < 120:
        got += len(consumer.consume(10_000, 1.0))
    consume_s = time.perf_counter() - start
    consumer.close()
    print(f"produce acks=all: {records / produce_s:,.0f} records/s; consume: {got / consume_s:,.0f} records/s "
          f"({got} of {records} read)")
    if not quick:
        record("serve_cluster.confluent.produce_acks_all", records / produce_s, "records/s", command=COMMAND)
        record("serve_cluster.confluent.consume", got / consume_s, "records/s", command=COMMAND)


def failover(srv, crashes: int, quick: bool) -> None:
    """Crash the leader while a producer writes; time until the next acknowledgement."""
    producer = _producer(srv.bootstrap)
    acked: list[float] = []
    lock = threading.Lock()

    def on_ack(err, _msg) -> None:
        if err is None:
            with lock:
                acked.append(time.perf_counter())

    times = []
    for n in range(crashes):
        topic = f"failover-{n}"
        producer.produce(topic, b"first", on_delivery=on_ack)
        producer.flush(30)
        leader = srv.leader(topic, 0)
        srv.crash_broker(leader)
        crashed_at = time.perf_counter()
        with lock:
            before = len(acked)
        deadline = crashed_at + 60
        while time.perf_counter() < deadline:
            producer.produce(topic, b"after", on_delivery=on_ack)
            producer.poll(0.005)
            with lock:
                if len(acked) > before:
                    times.append((acked[before] - crashed_at) * 1000)
                    break
        else:
            sys.exit(f"no record acknowledged within 60 s of crashing broker {leader}")
        producer.flush(30)
        srv.heal()
        time.sleep(0.3)
    median = statistics.median(times)
    print(f"failover: first acknowledgement {median:,.0f} ms after the leader crashed (median of {crashes}; "
          f"{min(times):,.0f} to {max(times):,.0f} ms)")
    if not quick:
        record("serve_cluster.failover_ms", median, "ms from the leader's crash to the next acknowledged record",
               higher_is_better=False, command=COMMAND)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts; nothing is recorded")
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--failovers", type=int, default=5)
    args = parser.parse_args(argv)
    if args.records < 1 or args.failovers < 1:
        parser.error("--records and --failovers take counts >= 1")
    try:
        import confluent_kafka  # noqa: F401
    except ImportError:
        sys.exit("confluent-kafka is not installed (pip install -e '.[course]' installs it)")
    from msglib.wire.replicated import ClusterServerThread
    records, crashes = (500, 1) if args.quick else (args.records, args.failovers)
    with ClusterServerThread(brokers=3, group_initial_rebalance_delay_ms=0) as srv:
        print(f"msglib serve --brokers 3 on {srv.bootstrap}")
        throughput(srv, records, args.quick)
        failover(srv, crashes, args.quick)


if __name__ == "__main__":
    main()
