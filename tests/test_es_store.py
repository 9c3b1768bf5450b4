"""The SQLite event store: versions, atomicity, idempotence, metadata, upcasting, temporal reads, snapshots."""
import sqlite3

import pytest

from msglib.es import (ANY, NO_STREAM, STREAM_EXISTS, ConcurrencyError, CorruptEventError, DuplicateEventError,
                       EventStore, EventStoreError, NewEvent)


class Clock:
    def __init__(self, t=100.0):
        self.t = t

    def __call__(self):
        return self.t


@pytest.fixture(params=["memory", "file"])
def store(request, tmp_path):
    path = ":memory:" if request.param == "memory" else tmp_path / "es.db"
    s = EventStore(path, clock=Clock())
    yield s
    s.close()


def ev(kind="E", **data):
    return NewEvent(kind, data)


def test_versions_count_events_and_positions_are_global(store):
    r1 = store.append("a", [ev(n=1), ev(n=2)], expected_version=NO_STREAM)
    r2 = store.append("b", ev(n=3), expected_version=0)
    r3 = store.append("a", ev(n=4), expected_version=2)
    assert (r1.first_version, r1.last_version, r1.first_position, r1.last_position) == (1, 2, 1, 2)
    assert (r2.first_version, r2.first_position) == (1, 3)
    assert (r3.first_version, r3.first_position) == (3, 4)
    assert [e.data["n"] for e in store.read_stream("a")] == [1, 2, 4]
    assert [e.version for e in store.read_stream("a")] == [1, 2, 3]
    assert [(e.stream, e.position) for e in store.read_all()] == [("a", 1), ("a", 2), ("b", 3), ("a", 4)]
    assert store.stream_version("a") == 3 and store.stream_version("zzz") == 0
    assert store.last_position() == 4
    assert store.streams() == ["a", "b"]


@pytest.mark.parametrize("expected, actual_events, ok", [
    (NO_STREAM, 0, True), (NO_STREAM, 1, False),
    (STREAM_EXISTS, 0, False), (STREAM_EXISTS, 2, True),
    (ANY, 0, True), (ANY, 3, True),
    (0, 0, True), (2, 2, True), (1, 2, False), (3, 2, False),
])
def test_expected_version_rules(store, expected, actual_events, ok):
    for i in range(actual_events):
        store.append("s", ev(i=i))
    if ok:
        assert store.append("s", ev(), expected_version=expected).last_version == actual_events + 1
    else:
        with pytest.raises(ConcurrencyError) as info:
            store.append("s", ev(), expected_version=expected)
        err = info.value
        assert (err.stream, err.expected, err.actual) == ("s", expected, actual_events)
        assert "'s'" in str(err) and repr(expected) in str(err)
        assert store.stream_version("s") == actual_events  # nothing was written


def test_append_of_several_events_is_atomic(store):
    store.append("s", ev(i=0))
    bad = [ev(i=1), NewEvent("E", {"x": object()})]
    with pytest.raises(ValueError, match="not JSON-serialisable"):
        store.append("s", bad)
    dup_id = store.read_stream("s")[0].event_id
    with pytest.raises(DuplicateEventError):  # second event reuses a stored id: the whole batch is refused
        store.append("s", [ev(i=2), NewEvent("E", {}, event_id=dup_id)])
    assert [e.data for e in store.read_stream("s")] == [{"i": 0}]
    assert store.last_position() == 1


def test_idempotent_append_by_event_id(store):
    batch = [ev(i=1), ev(i=2)]
    first = store.append("s", batch, expected_version=NO_STREAM)
    again = store.append("s", batch, expected_version=NO_STREAM)   # a retry after a lost reply
    also = store.append("s", batch, expected_version=ANY)
    assert not first.idempotent and again.idempotent and also.idempotent
    assert (again.first_version, again.last_version, again.first_position) == (1, 2, 1)
    assert store.stream_version("s") == 2 and store.last_position() == 2


def test_event_id_reused_elsewhere_is_refused_with_where_it_lives(store):
    e = ev()
    store.append("s", e)
    with pytest.raises(DuplicateEventError, match="'s' version 1"):
        store.append("other", NewEvent("E", {}, event_id=e.event_id))
    with pytest.raises(DuplicateEventError, match="mixes already-stored and new"):
        store.append("s", [NewEvent("E", {}, event_id=e.event_id), ev()], expected_version=ANY)


def test_metadata_timestamp_correlation_causation(store):
    store.clock.t = 42.5
    store.append("s", NewEvent("E", {"a": 1}, metadata={"user": "ada"}), correlation_id="c1", causation_id="k1")
    (e,) = store.read_stream("s")
    assert (e.timestamp, e.correlation_id, e.causation_id, e.metadata) == (42.5, "c1", "k1", {"user": "ada"})
    assert e.schema_version == 1 and len(e.event_id) == 32


def test_temporal_queries_by_version_and_time(store):
    for t, n in [(10, 1), (20, 2), (30, 3)]:
        store.clock.t = t
        store.append("s", ev(n=n))
    assert [e.data["n"] for e in store.read_stream("s", to_version=2)] == [1, 2]
    assert [e.data["n"] for e in store.read_stream("s", until=25)] == [1, 2]
    assert [e.data["n"] for e in store.read_stream("s", until=5)] == []
    assert [e.data["n"] for e in store.read_stream("s", after_version=1)] == [2, 3]


def test_upcasters_upgrade_old_events_on_read_and_new_events_use_the_new_schema(store):
    store.append("s", NewEvent("Deposited", {"cents": 500}))  # schema 1, written before the change

    def v1_to_v2(data):
        return {"amount": data["cents"], "currency": "EUR"}

    def v2_rename(data):
        return "MoneyDeposited", data

    store.register_upcaster("Deposited", 1, v1_to_v2)
    store.register_upcaster("Deposited", 2, v2_rename)
    assert store.current_schema("Deposited") == 3
    (old,) = store.read_stream("s")
    assert (old.type, old.data, old.schema_version) == ("MoneyDeposited", {"amount": 500, "currency": "EUR"}, 3)
    store.append("s", NewEvent("Deposited", {"amount": 7, "currency": "EUR"}))
    stored = store.connection.execute("SELECT schema_version FROM events WHERE version = 2").fetchone()
    assert stored == (3,)
    with pytest.raises(ValueError, match="already registered"):
        store.register_upcaster("Deposited", 1, v1_to_v2)


def test_upcaster_returning_garbage_is_named(store):
    store.append("s", NewEvent("E", {}))
    store.register_upcaster("E", 1, lambda d: None)
    with pytest.raises(EventStoreError, match="upcaster for 'E' schema 1 returned NoneType.*'s' version 1"):
        store.read_stream("s")


def test_corrupt_row_is_reported_with_stream_and_version(store):
    store.append("s", [ev(), ev()])
    store.connection.execute("UPDATE events SET data = '{not json' WHERE version = 2")
    with pytest.raises(CorruptEventError) as info:
        store.read_stream("s")
    assert (info.value.stream, info.value.version, info.value.position) == ("s", 2, 2)
    assert "stream 's' version 2" in str(info.value)
    store.connection.execute("UPDATE events SET data = '[1, 2]' WHERE version = 2")
    with pytest.raises(CorruptEventError, match="JSON object"):
        store.read_all()


def test_snapshots(store):
    store.append("s", [ev()] * 1 + [ev(), ev()])
    store.clock.t = 200
    store.save_snapshot("s", 2, {"x": 1})
    store.clock.t = 300
    store.save_snapshot("s", 3, {"x": 2})
    assert store.latest_snapshot("s").state == {"x": 2}
    assert store.latest_snapshot("s", max_version=2).version == 2
    assert store.latest_snapshot("s", until=250).version == 2
    assert store.latest_snapshot("s", max_version=1) is None
    assert store.latest_snapshot("nope") is None
    with pytest.raises(ValueError):
        store.save_snapshot("s", 0, {})


@pytest.mark.parametrize("call, message", [
    (lambda s: s.append("", [ev()]), "non-empty string"),
    (lambda s: s.append("$all", [ev()]), "reserved"),
    (lambda s: s.append("s", []), "at least one event"),
    (lambda s: s.append("s", [ev()], expected_version=-1), "expected_version"),
    (lambda s: s.append("s", [ev()], expected_version="sometimes"), "expected_version"),
    (lambda s: s.append("s", [ev()], expected_version=True), "expected_version"),
    (lambda s: s.append("s", [{"type": "E"}]), "NewEvent"),
    (lambda s: NewEvent(""), "non-empty string"),
])
def test_bad_input_names_the_problem(store, call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call(store)
    assert store.last_position() == 0


def test_iter_all_pages_and_listeners(store):
    seen = []
    unlisten = store.on_append(seen.append)
    for i in range(7):
        store.append(f"s{i % 3}", ev(i=i))
    unlisten()
    store.append("s", ev())
    assert len(seen) == 7 and seen[-1].last_position == 7
    assert [e.position for e in store.iter_all(after=2, page_size=2)] == [3, 4, 5, 6, 7, 8]


def test_file_store_reopens_with_everything(tmp_path):
    path = tmp_path / "x.db"
    with EventStore(path) as s:
        s.append("s", [ev(i=1), ev(i=2)])
        s.set_checkpoint("sub", 2)
    with EventStore(path) as s:
        assert [e.data["i"] for e in s.read_all()] == [1, 2] and s.get_checkpoint("sub") == 2
        assert s.connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_synchronous_setting_is_validated():
    with pytest.raises(ValueError, match="synchronous"):
        EventStore(":memory:", synchronous="fast")


def test_a_writer_holding_the_lock_blocks_position_allocation(tmp_path):
    """Positions are taken under SQLite's write lock: while one transaction is in
    flight, no other writer can take a later position (so none commits out of order)."""
    path = tmp_path / "lock.db"
    holder = EventStore(path)
    holder.append("s", ev())
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("BEGIN IMMEDIATE")
    raw.execute("INSERT INTO events VALUES (2, 's', 2, 'E', '{}', 'x', 0, 1, NULL, NULL, NULL)")
    blocked = sqlite3.connect(path, isolation_level=None, timeout=0.05)  # a second writer that gives up quickly
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        blocked.execute("BEGIN IMMEDIATE")
    raw.execute("COMMIT")
    assert [e.position for e in holder.read_all()] == [1, 2]


def test_a_retry_whose_events_are_not_stored_together_in_order_is_refused(store):
    # e1 and e2 were appended separately with another event between them: [e1, e2] is not one earlier append.
    e1, e2 = ev(i=1), ev(i=2)
    store.append("s", e1)
    store.append("s", ev(i=9))
    store.append("s", e2)
    with pytest.raises(DuplicateEventError, match="not stored together in this order"):
        store.append("s", [e1, e2], expected_version=NO_STREAM)
    assert store.stream_version("s") == 3
