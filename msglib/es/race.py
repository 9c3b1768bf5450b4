"""Writers racing on one SQLite event store, from threads or processes.

Used by the tests (concurrent writers never both win from the same version;
a tailing reader never skips a committed event) and by the notebook's
"two writers race" demo. Each writer opens its own EventStore (its own
connection), as separate services would.
"""
from __future__ import annotations

import multiprocessing
import random
import threading
from dataclasses import dataclass

from msglib.es.errors import ConcurrencyError
from msglib.es.events import NewEvent
from msglib.es.store import EventStore


@dataclass
class WriterReport:
    writer: str
    won: list[int]        # expected versions this writer appended from successfully
    lost: int             # appends refused with ConcurrencyError


def contend(path: str, stream: str, writer: str, appends: int, seed: int = 0) -> WriterReport:
    """Try ``appends`` times: read the stream's version v, append one event expecting v."""
    rng = random.Random(seed)
    store = EventStore(path, synchronous="NORMAL")
    won: list[int] = []
    lost = 0
    try:
        for i in range(appends):
            version = store.stream_version(stream)
            if rng.random() < 0.5:
                store.read_stream(stream, after_version=max(0, version - 3))  # some work between read and write
            try:
                store.append(stream, NewEvent("Tick", {"writer": writer, "from": version}), expected_version=version)
                won.append(version)
            except ConcurrencyError:
                lost += 1
    finally:
        store.close()
    return WriterReport(writer, won, lost)


def scatter(path: str, writer: str, appends: int, streams: int = 5, seed: int = 0) -> int:
    """Append ``appends`` single events to random streams (no version check); returns how many."""
    rng = random.Random(seed)
    store = EventStore(path, synchronous="NORMAL")
    try:
        for i in range(appends):
            n = 1 + rng.randrange(3)
            batch = [NewEvent("Tick", {"writer": writer, "i": i, "j": j}) for j in range(n)]
            store.append(f"s{rng.randrange(streams)}", batch)
    finally:
        store.close()
    return appends


def _contend_args(args: tuple) -> WriterReport:
    return contend(*args)


def _scatter_args(args: tuple) -> int:
    return scatter(*args)


def race_in_threads(path: str, stream: str, writers: int, appends: int, seed: int = 0) -> list[WriterReport]:
    reports: list[WriterReport] = [None] * writers  # type: ignore[list-item]

    def run(i: int) -> None:
        reports[i] = contend(path, stream, f"thread-{i}", appends, seed + i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return reports


def race_in_processes(path: str, stream: str, writers: int, appends: int, seed: int = 0) -> list[WriterReport]:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(writers) as pool:
        return pool.map(_contend_args, [(path, stream, f"process-{i}", appends, seed + i) for i in range(writers)])


def scatter_in_processes(path: str, writers: int, appends: int, seed: int = 0):
    """Start writer processes and return the async result (the caller tails the store meanwhile)."""
    ctx = multiprocessing.get_context("spawn")
    pool = ctx.Pool(writers)
    result = pool.map_async(_scatter_args, [(path, f"process-{i}", appends, 5, seed + i) for i in range(writers)])
    pool.close()
    return pool, result
