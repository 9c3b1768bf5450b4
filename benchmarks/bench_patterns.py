"""What exactly-once beyond Kafka costs: idempotent consumer, outbox, CDC, each against the plain version.

    .venv/bin/python -m benchmarks.bench_patterns            # the figures in benchmarks/results.json
    .venv/bin/python -m benchmarks.bench_patterns --quick    # tiny counts: proves the script works

Each pattern is timed against its baseline in the same run, on the same
SQLite file setup (synchronous=OFF, see msglib.patterns.crash.connect):

* idempotent consumer: ``idempotent(top_up)`` vs ``top_up`` alone in one transaction per message;
* outbox: ``place_order`` (order + outbox row) vs inserting the order alone; the relay's events/s;
* CDC: inserts with the capture triggers vs without; the connector's changes/s.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

from benchmarks import results
from benchmarks.results import record
from msglib.log import Topic
from msglib.patterns import cdc
from msglib.patterns import outbox as ob
from msglib.patterns.crash import connect
from msglib.patterns.idempotent import IdempotentConsumer, Message, idempotent, top_up

COMMAND = ".venv/bin/python -m benchmarks.bench_patterns"


def _median_rate(runs: int, count: int, fn: Callable[[int], None]) -> float:
    """Median of ``runs`` runs of ``fn(run)``, as ``count`` items per second."""
    rates = []
    for run in range(runs):
        start = time.perf_counter()
        fn(run)
        rates.append(count / (time.perf_counter() - start))
    return statistics.median(rates)


def bench_idempotent(tmp: Path, n: int, runs: int, cmd: str) -> None:
    topic = Topic("topups", 1, clock=lambda: 0)
    for i in range(n):
        Message(f"m{i}", {"account": f"a{i % 50}", "amount": 1}).send_to(topic, 0)

    def plain(conn, message):            # the baseline: the effect alone, one transaction per message
        with conn:
            top_up(conn, message)
        return "processed"

    def consume(handle_for: Callable, tag: str) -> Callable[[int], None]:
        def go(run: int) -> None:
            c = IdempotentConsumer(topic, str(tmp / f"{tag}-{run}.db"), "w", handle_for())
            c.run()
            c.close()
        return go

    base = _median_rate(runs, n, consume(lambda: plain, "plain"))
    ours = _median_rate(runs, n, consume(lambda: idempotent(top_up, "w"), "idem"))
    record("patterns.idempotent_consumer", ours, "messages/s", baseline=base,
           baseline_name="the same consumer without the processed-id insert", command=cmd)


def bench_outbox(tmp: Path, n: int, runs: int, cmd: str) -> None:
    def orders_only(run: int) -> None:
        conn = connect(str(tmp / f"plain-{run}.db"))
        ob.create_tables(conn)
        for i in range(n):
            with conn:
                conn.execute("INSERT INTO orders VALUES (?, ?, ?)", (f"o{i}", "ada", i))
        conn.close()

    def with_outbox(run: int) -> None:
        conn = connect(str(tmp / f"outbox-{run}.db"))
        ob.create_tables(conn)
        for i in range(n):
            ob.place_order(conn, f"o{i}", "ada", i)
        conn.close()

    base = _median_rate(runs, n, orders_only)
    ours = _median_rate(runs, n, with_outbox)
    record("patterns.outbox.place_order", ours, "orders/s", baseline=base,
           baseline_name="inserting the order alone (no outbox row)", command=cmd)

    def relay(run: int) -> None:
        ob.OutboxRelay(str(tmp / f"outbox-{run}.db"), Topic("outbox.event.order", 1, clock=lambda: 0),
                       batch_size=100).run()
    record("patterns.outbox.relay", _median_rate(runs, n, relay), "events/s", command=cmd)


def bench_cdc(tmp: Path, n: int, runs: int, cmd: str) -> None:
    def writes(capture: bool, tag: str) -> Callable[[int], None]:
        def go(run: int) -> None:
            conn = connect(str(tmp / f"{tag}-{run}.db"))
            conn.execute("CREATE TABLE accounts (id TEXT PRIMARY KEY, owner TEXT, balance INTEGER)")
            if capture:
                cdc.capture(conn, "accounts")
            for i in range(n):
                with conn:
                    conn.execute("INSERT INTO accounts VALUES (?, 'ada', ?)", (f"a{i}", i))
            conn.close()
        return go

    base = _median_rate(runs, n, writes(False, "nocdc"))
    ours = _median_rate(runs, n, writes(True, "cdc"))
    record("patterns.cdc.captured_inserts", ours, "inserts/s", baseline=base,
           baseline_name="the same inserts without capture triggers", command=cmd)

    def connector(run: int) -> None:
        cdc.CdcConnector(str(tmp / f"cdc-{run}.db"), Topic("cdc.accounts", 1, clock=lambda: 0),
                         batch_size=100).run()
    record("patterns.cdc.connector", _median_rate(runs, n, connector), "changes/s", command=cmd)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts (50 messages, 1 run)")
    args = parser.parse_args(argv)
    n, runs = (50, 1) if args.quick else (5000, 3)
    cmd = COMMAND + (" --quick" if args.quick else "")
    print(f"exactly-once patterns: {n} messages/orders/changes per run, median of {runs} runs")
    real_results = results.RESULTS
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        if args.quick:   # quick runs prove the script works; they do not overwrite the real figures
            results.RESULTS = tmp / "results.json"
        try:
            bench_idempotent(tmp, n, runs, cmd)
            bench_outbox(tmp, n, runs, cmd)
            bench_cdc(tmp, n, runs, cmd)
        finally:
            results.RESULTS = real_results
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
