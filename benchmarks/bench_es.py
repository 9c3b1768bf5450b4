"""Event store benchmark: msglib.es vs the ``eventsourcing`` library (9.x), same workload, same run.

    .venv/bin/python -m benchmarks.bench_es            # 1,000 aggregates x 20 events, 3 runs each
    .venv/bin/python -m benchmarks.bench_es --quick    # tiny counts: proves the script works

Workload: 1,000 bank
accounts x 20 events (opened + 19 deposits) = 20,000 events, on

* SQLite file (WAL journal, ``synchronous=FULL``: SQLite's default, which
  ``eventsourcing`` keeps; msglib's default is the same) and SQLite in memory;
* ``single``: one event per transaction, round-robin over the accounts
  (20,000 commits); ``batch20``: one transaction per account holding its 20 events.

Phases, each timed on a fresh store, median of ``--runs`` runs, in events/s:
append; reconstruct (load all 1,000 aggregates, no cache, no snapshots,
final balance checked); read all (every event in global order, pages of
1,000, order and count checked; the best of 3 scans per run, since one scan
is short enough for a load spike to dominate it). For ``eventsourcing`` the log read is
measured raw (stored records) and decoded (mapped to domain events);
msglib's ``read_all`` always decodes (JSON data -> dict), and its ratio is
given against both. ratio = msglib / eventsourcing: above 1 means msglib is faster.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from benchmarks import results
from benchmarks.results import record
from msglib.es import BankAccount, EventStore, Repository

COMMAND = ".venv/bin/python -m benchmarks.bench_es"
READ_REPEATS = 3   # a full log scan takes ~0.1 s: keep the best of 3 scans per run (both libraries)


# -- msglib --------------------------------------------------------------------
def msglib_run(db: str, aggregates: int, events: int, mode: str) -> dict[str, float]:
    store = EventStore(db)
    repo = Repository(store, BankAccount)
    t0 = time.perf_counter()
    if mode == "single":
        accounts = []
        for i in range(aggregates):
            acc = BankAccount.open(f"a{i}", "owner")
            repo.save(acc)
            accounts.append(acc)
        for _ in range(events - 1):
            for acc in accounts:
                acc.deposit(1)
                repo.save(acc)
    else:
        for i in range(aggregates):
            acc = BankAccount.open(f"a{i}", "owner")
            for _ in range(events - 1):
                acc.deposit(1)
            repo.save(acc)
    t1 = time.perf_counter()
    for i in range(aggregates):
        acc = repo.load(f"a{i}")
        assert acc.balance == events - 1 and acc.version == events
    t2 = time.perf_counter()
    best = float("inf")
    for _ in range(READ_REPEATS):
        t = time.perf_counter()
        count, after = 0, 0
        while True:
            page = store.read_all(after, 1000)
            for e in page:
                assert e.position > after
                after = e.position
            count += len(page)
            if len(page) < 1000:
                break
        best = min(best, time.perf_counter() - t)
    assert count == aggregates * events
    sync = store.connection.execute("PRAGMA synchronous").fetchone()[0]
    store.close()
    return {"append": t1 - t0, "reconstruct": t2 - t1, "read": best, "synchronous": sync}


# -- eventsourcing ----------------------------------------------------------------
_ACCOUNT: list[type] = []


def _eventsourcing_account() -> type:
    """The same account written the eventsourcing way (defined once: the library registers class topics)."""
    if not _ACCOUNT:
        from eventsourcing.domain import Aggregate, event

        class Account(Aggregate):
            @event("Opened")
            def __init__(self, owner: str) -> None:
                self.owner = owner
                self.balance = 0

            @event("Deposited")
            def deposit(self, amount: int) -> None:
                self.balance += amount

        _ACCOUNT.append(Account)
    return _ACCOUNT[0]


def eventsourcing_run(db: str, aggregates: int, events: int, mode: str) -> dict[str, float]:
    from eventsourcing.application import Application

    Account = _eventsourcing_account()
    app = Application(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": db})
    t0 = time.perf_counter()
    ids = []
    if mode == "single":
        accounts = []
        for _ in range(aggregates):
            acc = Account("owner")
            app.save(acc)
            accounts.append(acc)
        for _ in range(events - 1):
            for acc in accounts:
                acc.deposit(1)
                app.save(acc)
        ids = [a.id for a in accounts]
    else:
        for _ in range(aggregates):
            acc = Account("owner")
            for _ in range(events - 1):
                acc.deposit(1)
            app.save(acc)
            ids.append(acc.id)
    t1 = time.perf_counter()
    for id_ in ids:
        acc = app.repository.get(id_)
        assert acc.balance == events - 1 and acc.version == events
    t2 = time.perf_counter()
    recorder = app.recorder
    mapper = app.mapper
    raw = decoded = float("inf")
    for _ in range(READ_REPEATS):
        t = time.perf_counter()
        count, start = 0, 1
        while True:
            page = recorder.select_notifications(start, 1000)
            for n in page:
                assert n.id >= start
                start = n.id + 1
            count += len(page)
            if len(page) < 1000:
                break
        raw = min(raw, time.perf_counter() - t)
        t = time.perf_counter()
        count2, start = 0, 1
        while True:
            page = recorder.select_notifications(start, 1000)
            for n in page:
                mapper.to_domain_event(n)
                start = n.id + 1
            count2 += len(page)
            if len(page) < 1000:
                break
        decoded = min(decoded, time.perf_counter() - t)
    assert count == count2 == aggregates * events
    app.close()
    return {"append": t1 - t0, "reconstruct": t2 - t1, "read": raw, "read_decoded": decoded}


def fresh_db(tmp: Path, backend: str, tag: str) -> str:
    if backend == "memory":
        return ":memory:"
    path = tmp / f"{tag}-{time.perf_counter_ns()}.db"
    return str(path)


def sqlite_default_synchronous(tmp: Path) -> int:
    conn = sqlite3.connect(tmp / "probe.db")
    conn.execute("PRAGMA journal_mode=WAL")
    value = conn.execute("PRAGMA synchronous").fetchone()[0]
    conn.close()
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts (20 aggregates x 20 events, 1 run)")
    parser.add_argument("--runs", type=int, default=None, help="runs per configuration (default 3, quick 1)")
    args = parser.parse_args(argv)
    aggregates, events = (20, 20) if args.quick else (1000, 20)
    runs = args.runs or (1 if args.quick else 3)
    try:
        es_version = importlib.metadata.version("eventsourcing")
    except importlib.metadata.PackageNotFoundError:
        print("eventsourcing is not installed: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    print(f"msglib.es vs eventsourcing {es_version}: {aggregates} aggregates x {events} events, "
          f"median of {runs} runs, SQLite {sqlite3.sqlite_version}")
    real_results = results.RESULTS
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        if args.quick:   # quick runs prove the script works; they do not overwrite the real figures
            results.RESULTS = tmp / "results.json"
        try:
            run_all(tmp, args.quick, aggregates, events, runs, es_version)
        finally:
            results.RESULTS = real_results
    return 0


def run_all(tmp: Path, quick: bool, aggregates: int, events: int, runs: int, es_version: str) -> None:
    """Every (backend, mode): both libraries, ``runs`` times each, interleaved; record the medians."""
    total = aggregates * events
    print(f"SQLite default synchronous for a WAL file connection here: {sqlite_default_synchronous(tmp)} "
          f"(2 = FULL); eventsourcing keeps it, msglib sets FULL")
    for backend in ("file", "memory"):
        for mode in ("single", "batch20"):
            mine: list[dict] = []
            theirs: list[dict] = []
            for _ in range(runs):   # interleaved, so both libraries see the same machine noise
                theirs.append(eventsourcing_run(fresh_db(tmp, backend, "es"), aggregates, events, mode))
                mine.append(msglib_run(fresh_db(tmp, backend, "msglib"), aggregates, events, mode))

            def med(rows: list[dict], key: str) -> float:
                return statistics.median(r[key] for r in rows)

            for phase in ("append", "reconstruct", "read"):
                ours = total / med(mine, phase)
                base = total / med(theirs, phase)
                record(f"es.{backend}.{mode}.{phase}", ours, "events/s", baseline=base,
                       baseline_name=f"eventsourcing {es_version} "
                                     f"({'raw records' if phase == 'read' else phase})",
                       target=">= 1.0x eventsourcing", command=COMMAND + (" --quick" if quick else ""))
            ours = total / med(mine, "read")
            base = total / med(theirs, "read_decoded")
            record(f"es.{backend}.{mode}.read_vs_decoded", ours, "events/s", baseline=base,
                   baseline_name=f"eventsourcing {es_version} (decoded domain events)",
                   target=">= 1.0x eventsourcing", command=COMMAND + (" --quick" if quick else ""))


if __name__ == "__main__":
    raise SystemExit(main())
