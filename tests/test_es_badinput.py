"""Bad input to the event store: refused by name before anything is written, never a raw sqlite3 error."""
import sqlite3

import pytest

from msglib.es import EventStore, EventStoreError, NewEvent
from msglib.es.errors import DatabaseError, InvalidEventError


@pytest.fixture
def store():
    s = EventStore(":memory:", clock=lambda: 1.0)
    yield s
    s.close()


@pytest.mark.parametrize("data, match", [
    ("a string", "data must be a JSON object"),
    ([1, 2], "data must be a JSON object"),
    ({"x": float("nan")}, "NaN"),
    ({"x": [1, float("inf")]}, "infinity"),
    ({1: "a"}, "key 1"),
    ({"nested": {2: "b"}}, "key 2"),
    ({"x": object()}, "not JSON-serialisable"),
    ({"x": {1, 2}}, "set"),
])
def test_event_data_must_be_a_json_object_that_reads_back_as_itself(store, data, match):
    store.append("ok", NewEvent("E", {"fine": 1}))
    with pytest.raises(InvalidEventError, match=match) as info:
        store.append("s", NewEvent("E", data))
    assert isinstance(info.value, (ValueError, TypeError)) and "'s'" in str(info.value)
    assert [e.data for e in store.read_all()] == [{"fine": 1}]   # the store stays readable


@pytest.mark.parametrize("metadata, match", [
    ("text", "metadata must be a mapping"),
    ([("a", 1)], "metadata must be a mapping"),
    ({"a": float("nan")}, "NaN"),
    ({3: "x"}, "key 3"),
])
def test_metadata_must_be_a_mapping_of_json(store, metadata, match):
    with pytest.raises(InvalidEventError, match=match):
        store.append("s", NewEvent("E", {}, metadata=metadata))
    assert store.read_all() == []


def test_a_bad_event_never_makes_the_store_unreadable(store):
    store.append("a", NewEvent("E", {"i": 1}))
    for bad in ("x", [1], 5, None.__class__, {"k": float("nan")}):
        with pytest.raises(EventStoreError):
            store.append("b", [NewEvent("E", {"i": 2}), NewEvent("E", bad)])
    assert [(e.stream, e.data) for e in store.read_all()] == [("a", {"i": 1})]
    assert store.read_stream("b") == []


def test_the_same_event_id_twice_in_one_append_is_named(store):
    with pytest.raises(InvalidEventError, match="appears twice"):
        store.append("s", [NewEvent("E", {}, event_id="id-1"), NewEvent("E", {}, event_id="id-1")])
    assert store.last_position() == 0


@pytest.mark.parametrize("kwargs, match", [
    (dict(correlation_id=5), "correlation_id"),
    (dict(causation_id=["x"]), "causation_id"),
])
def test_correlation_and_causation_ids_must_be_strings(store, kwargs, match):
    with pytest.raises(InvalidEventError, match=match):
        store.append("s", NewEvent("E", {}), **kwargs)


@pytest.mark.parametrize("call, match", [
    (lambda s: s.read_all(limit="x"), "limit"),
    (lambda s: s.read_all(limit=-1), "limit"),
    (lambda s: s.read_all(after="3"), "after"),
    (lambda s: s.read_stream(5), "stream"),
    (lambda s: s.read_stream("s", after_version=1.5), "after_version"),
    (lambda s: list(s.iter_all(page_size=0)), "page_size"),
    (lambda s: s.set_checkpoint("p", "x"), "position"),
    (lambda s: s.set_checkpoint("p", -1), "position"),
    (lambda s: s.set_checkpoint(7, 1), "checkpoint name"),
    (lambda s: s.save_snapshot("s", 1, "state"), "JSON object"),
    (lambda s: s.save_snapshot("s", 1, {"x": float("nan")}), "NaN"),
    (lambda s: s.streams(prefix=3), "prefix"),
    (lambda s: s.append("s", NewEvent("E", {}, event_id=12)), "event_id"),
    (lambda s: s.append("s", "E"), "NewEvent"),
])
def test_arguments_are_checked_by_name(store, call, match):
    with pytest.raises(InvalidEventError, match=match):
        call(store)
    assert store.get_checkpoint("p") == 0 and store.last_position() == 0


def test_a_folder_a_missing_folder_and_a_non_database_are_named(tmp_path):
    with pytest.raises(DatabaseError, match="it is a folder") as info:
        EventStore(tmp_path)
    assert str(tmp_path) in str(info.value)
    missing = tmp_path / "nope" / "events.db"
    with pytest.raises(DatabaseError, match="does not exist"):
        EventStore(missing)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not an sqlite database" * 100)
    with pytest.raises(DatabaseError, match="junk.db.*not a database"):
        EventStore(junk)
    with pytest.raises(InvalidEventError, match="path"):
        EventStore(42)


def test_sqlite_failures_come_back_as_database_errors_naming_the_path(tmp_path):
    path = tmp_path / "x.db"
    s = EventStore(path)
    s.append("s", NewEvent("E", {}))
    s.close()
    with pytest.raises(DatabaseError, match="x.db") as info:
        s.read_all()
    assert not isinstance(info.value, sqlite3.Error)
    with pytest.raises(DatabaseError, match="x.db"):
        s.append("s", NewEvent("E", {}))


def test_a_lock_held_too_long_is_a_database_error(tmp_path):
    path = tmp_path / "lock.db"
    EventStore(path).append("s", NewEvent("E", {}))
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        blocked = EventStore(path, timeout=0.05)
    except DatabaseError as exc:          # the schema check itself may be the one to wait
        assert "locked" in str(exc)
    else:
        with pytest.raises(DatabaseError, match="locked"):
            blocked.append("s", NewEvent("E", {}))
    finally:
        holder.execute("ROLLBACK")


def test_every_public_method_of_the_store_names_the_errors_it_raises():
    from pathlib import Path

    from tests.test_log_badinput import undocumented_raisers
    root = Path(__file__).resolve().parent.parent
    assert undocumented_raisers(root / "msglib" / "es" / "store.py") == []
    assert undocumented_raisers(root / "msglib" / "cli_args.py") == []


@pytest.mark.parametrize("where", ["stream", "event_id", "type", "correlation_id"])
def test_text_that_is_not_valid_unicode_is_refused_by_name(store, where):
    bad = "x\ud800"
    kwargs = {"correlation_id": bad} if where == "correlation_id" else {}
    event = NewEvent(bad if where == "type" else "E", {}, event_id=bad if where == "event_id" else None)
    with pytest.raises(InvalidEventError, match="not valid Unicode"):
        store.append(bad if where == "stream" else "s", event, **kwargs)
    with pytest.raises(InvalidEventError, match="not valid Unicode"):
        store.read_stream(bad)
    assert store.read_all() == []


def test_numbers_too_large_for_sqlite_are_refused_by_name(store):
    # Found by the long event-store fuzz run: latest_snapshot(..., until=2**70) raised OverflowError.
    store.append("s", NewEvent("E", {}))
    with pytest.raises(InvalidEventError, match="too large"):
        store.latest_snapshot("s", 1, 2**70)
    with pytest.raises(InvalidEventError, match="too large"):
        store.read_stream("s", until=2**70)
    with pytest.raises(InvalidEventError, match="too large"):
        store.position_at(2**70)
    with pytest.raises(EventStoreError):          # a version no stream can reach: a ConcurrencyError
        store.append("s", NewEvent("E", {}), expected_version=2**70)
    assert len(store.read_all()) == 1
