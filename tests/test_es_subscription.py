"""Catch-up subscriptions: from a stored checkpoint, then live; at-least-once after a crash."""
import pytest

from msglib.es import EventStore, NewEvent, Subscription


def fill(store, n, stream="s"):
    for i in range(n):
        store.append(f"{stream}{i % 3}", NewEvent("E", {"i": i}))


def test_catch_up_then_follow_live_then_resume_from_checkpoint(tmp_path):
    store = EventStore(tmp_path / "s.db")
    fill(store, 10)
    got = []
    sub = Subscription(store, "reader", lambda e: got.append(e.data["i"]), page_size=3, checkpoint_every=4)
    sub.follow()
    assert got == list(range(10)) and sub.lag == 0
    store.append("live", NewEvent("E", {"i": 10}))
    store.append("live", [NewEvent("E", {"i": 11}), NewEvent("E", {"i": 12})])
    assert got == list(range(13))               # delivered as the appends committed
    sub.stop()
    store.append("live", NewEvent("E", {"i": 13}))
    assert got == list(range(13)) and sub.lag == 1
    again = []
    restarted = Subscription(store, "reader", lambda e: again.append(e.data["i"]))
    assert restarted.position == 13
    restarted.poll()
    assert again == [13]


def test_a_handler_error_keeps_progress_and_the_event_is_retried():
    store = EventStore(":memory:")
    fill(store, 10)
    got, crashed = [], []

    def handler(e):
        if e.data["i"] == 6 and not crashed:
            crashed.append(True)
            raise RuntimeError("crash while handling event 6")
        got.append(e.data["i"])

    sub = Subscription(store, "r", handler, checkpoint_every=4)
    with pytest.raises(RuntimeError):
        sub.poll()
    assert got == [0, 1, 2, 3, 4, 5] and store.get_checkpoint("r") == 6
    Subscription(store, "r", handler).poll()
    assert got == list(range(10))


def test_a_process_death_between_checkpoints_redelivers_not_skips():
    store = EventStore(":memory:")
    fill(store, 10)
    first, after_death = [], []
    revived = []

    def handler(e):
        first.append(e.position)
        if e.position == 6:  # the process dies here: the next process starts from the stored checkpoint
            revived.append(Subscription(store, "r", lambda ev: after_death.append(ev.position)))

    Subscription(store, "r", handler, checkpoint_every=4).poll()
    assert revived[0].position == 4
    revived[0].poll()
    assert after_death == [5, 6, 7, 8, 9, 10]   # 5 and 6 twice overall (at-least-once), nothing skipped
    assert set(first[:6]) | set(after_death) == set(range(1, 11))


def test_checkpoints_lag_behind_with_checkpoint_every_and_events_are_redelivered():
    store = EventStore(":memory:")
    fill(store, 5)
    seen = []
    sub = Subscription(store, "r", seen.append, checkpoint_every=100)
    sub.poll(max_events=3)
    assert store.get_checkpoint("r") == 3
    sub.poll()
    assert store.get_checkpoint("r") == 5 and len(seen) == 5


def test_handler_that_appends_sees_its_own_events_once_in_order():
    store = EventStore(":memory:")
    got = []

    def react(e):
        got.append(e.position)
        if e.type == "Ping":
            store.append("replies", NewEvent("Pong"))

    sub = Subscription(store, "react", react)
    sub.follow()
    store.append("s", NewEvent("Ping"))
    store.append("s", NewEvent("Ping"))
    assert got == [1, 2, 3, 4]
    assert [e.type for e in store.read_all()] == ["Ping", "Pong", "Ping", "Pong"]


def test_bad_arguments():
    with pytest.raises(ValueError):
        Subscription(EventStore(":memory:"), "r", print, page_size=0)
