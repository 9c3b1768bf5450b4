"""Concurrent writers (threads and processes) on one SQLite store, and readers that tail it."""
import threading

from msglib.es import EventStore, NewEvent, Subscription
from msglib.es.race import race_in_processes, race_in_threads, scatter, scatter_in_processes


def check_race(path, reports, stream="hot"):
    store = EventStore(path)
    events = store.read_stream(stream)
    won = sorted(v for r in reports for v in r.won)
    # Never two winners from the same version, and every win is exactly one stored event.
    assert won == list(range(len(events)))
    assert [e.data["from"] for e in events] == won
    for r in reports:
        mine = [e.data["from"] for e in events if e.data["writer"] == r.writer]
        assert mine == r.won
    assert sum(r.lost for r in reports) + len(won) == sum(len(r.won) + r.lost for r in reports)
    store.close()
    return sum(r.lost for r in reports)


def test_threads_racing_on_one_stream_never_both_win(tmp_path):
    path = str(tmp_path / "race.db")
    EventStore(path).close()
    reports = race_in_threads(path, "hot", writers=4, appends=40, seed=1)
    check_race(path, reports)


def test_processes_racing_on_one_stream_never_both_win(tmp_path):
    path = str(tmp_path / "race.db")
    EventStore(path).close()
    reports = race_in_processes(path, "hot", writers=3, appends=40, seed=2)
    check_race(path, reports)


def test_two_writers_from_the_same_version_one_loses():
    store = EventStore(":memory:")
    store.append("s", NewEvent("A"))
    v = store.stream_version("s")
    store.append("s", NewEvent("B"), expected_version=v)
    try:
        store.append("s", NewEvent("C"), expected_version=v)
    except Exception as exc:
        assert type(exc).__name__ == "ConcurrencyError" and exc.actual == 2 and exc.expected == 1
    else:
        raise AssertionError("the second writer from version 1 must lose")


def tail(path, done, seen):
    """A reader that keeps asking for everything after the last position it saw."""
    reader = EventStore(path)
    position = 0
    while True:
        finished = done.is_set()   # read the flag BEFORE the final read
        for e in reader.read_all(position, 50):
            assert e.position > position
            seen.append(e.position)
            position = e.position
        if finished and not reader.read_all(position, 1):
            break
    reader.close()


def test_tailing_reader_never_skips_with_writer_threads(tmp_path):
    path = str(tmp_path / "tail.db")
    EventStore(path).close()
    done, seen = threading.Event(), []
    reader = threading.Thread(target=tail, args=(path, done, seen))
    reader.start()
    writers = [threading.Thread(target=scatter, args=(path, f"t{i}", 60, 5, i)) for i in range(4)]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    done.set()
    reader.join()
    store = EventStore(path)
    assert seen == [e.position for e in store.read_all()]
    assert seen == list(range(1, len(seen) + 1)) and len(seen) >= 240


def test_tailing_subscription_never_skips_with_writer_processes(tmp_path):
    path = str(tmp_path / "tail.db")
    store = EventStore(path)
    got = []
    sub = Subscription(store, "tail", got.append, page_size=7, checkpoint_every=5)
    pool, result = scatter_in_processes(path, writers=3, appends=60, seed=5)
    while not result.ready():
        sub.poll()
    result.get()
    pool.join()
    sub.poll()
    everything = EventStore(path).read_all()
    assert [e.event_id for e in got] == [e.event_id for e in everything]
    assert [e.position for e in got] == list(range(1, len(everything) + 1))
    assert store.get_checkpoint("tail") == len(everything)
