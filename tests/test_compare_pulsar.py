"""The Pulsar teaching model: storage on bookies, serving on brokers, subscriptions as cursors."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from msglib.compare.pulsar import (BookKeeper, ConsumerBusy, ConsumerView, DispatchError, ManagedLedger,
                                   NotEnoughBookies, PulsarCluster, PulsarError, sticky_key_dispatch)
from msglib.sim import Simulation


def cluster(**kw):
    kw.setdefault("deliver_ms", 0.0)
    return PulsarCluster(Simulation(0), **kw)


def collect(sub, name, auto_ack=True, receiver_queue=10):
    got = []

    def cb(m):
        got.append(m)
        if auto_ack:
            sub.ack(m)
    sub.connect(name, cb, receiver_queue)
    return got


# ------------------------------------------------------------------ storage
def test_entries_are_striped_over_the_ensemble_in_write_quorums():
    bk = BookKeeper(bookies=4, ensemble_size=3, write_quorum=2, ack_quorum=2)
    ledger = bk.create_ledger(0.0)
    names = [[b.name for b in ledger.write_set(e)] for e in range(4)]
    ens = [b.name for b in ledger.ensemble]
    assert names == [[ens[0], ens[1]], [ens[1], ens[2]], [ens[2], ens[0]], [ens[0], ens[1]]]
    from msglib.compare.pulsar import Entry
    for e in range(6):
        ledger.add_entry(Entry(e, None, 10, 0.0))
    assert sum(b.bytes_stored for b in bk.bookies) == 6 * 10 * 2      # every entry twice
    assert bk.bookies[3].bytes_stored == 0                             # not in this ensemble


def test_bad_quorums_and_too_few_bookies_are_refused():
    with pytest.raises(ValueError, match="ensemble"):
        BookKeeper(bookies=2, ensemble_size=3)
    bk = BookKeeper(bookies=3, ensemble_size=3, write_quorum=3, ack_quorum=3)
    ledger = bk.create_ledger(0.0)
    bk.bookies[0].alive = False
    from msglib.compare.pulsar import Entry
    with pytest.raises(NotEnoughBookies, match="ack quorum"):
        ledger.add_entry(Entry(1, None, 1, 0.0))
    with pytest.raises(NotEnoughBookies, match="ensemble needs 3"):
        bk.create_ledger(1.0)


def test_managed_ledger_rolls_over_and_names_positions():
    ml = ManagedLedger(BookKeeper(), max_entries_per_ledger=3)
    from msglib.compare.pulsar import Entry
    for i in range(7):
        assert ml.add_entry(Entry(i, None, 1, float(i)), float(i)) == i
    assert [len(l.entries) for l in ml.ledgers] == [3, 3, 1]
    assert [l.closed for l in ml.ledgers] == [True, True, False]
    first, second = ml.ledgers[0].id, ml.ledgers[1].id
    assert ml.position(0) == (first, 0) and ml.position(4) == (second, 1)
    assert ml.read(5).payload == 5
    with pytest.raises(PulsarError, match="not stored"):
        ml.read(7)


def test_trim_deletes_whole_acknowledged_ledgers_after_retention_never_the_open_one():
    ml = ManagedLedger(BookKeeper(), max_entries_per_ledger=3)
    from msglib.compare.pulsar import Entry
    for i in range(7):
        ml.add_entry(Entry(i, None, 1, 0.0), 0.0)
    assert ml.trim(keep_from=4, now=10.0, retention_ms=100.0) == 0     # retention keeps them
    assert ml.trim(keep_from=4, now=10.0, retention_ms=-1) == 0        # -1: forever
    assert ml.trim(keep_from=4, now=200.0, retention_ms=100.0) == 3    # only ledger 0 is fully below 4
    assert ml.start_index == 3 and ml.entries == 4
    assert ml.trim(keep_from=7, now=200.0, retention_ms=0.0) == 3
    assert ml.entries == 1                                              # the open ledger stays


# ------------------------------------------------------------------ subscriptions
def test_one_topic_many_subscriptions_each_gets_everything():
    c = cluster()
    topic = c.create_topic("t")
    a, b = topic.subscribe("a"), topic.subscribe("b", "shared")
    got_a, got_b = collect(a, "a1"), collect(b, "b1")
    for i in range(5):
        topic.publish(i, key=f"k{i}", size=10)
    c.sim.run()
    assert [m.payload for m in got_a] == [m.payload for m in got_b] == list(range(5))
    assert topic.stored_entries == 5                       # one copy for both subscriptions
    assert a.backlog == b.backlog == 0


def test_exclusive_allows_one_consumer():
    topic = cluster().create_topic("t")
    sub = topic.subscribe("s", "exclusive")
    collect(sub, "c1")
    with pytest.raises(ConsumerBusy, match="exclusive"):
        collect(sub, "c2")
    with pytest.raises(PulsarError, match="exists with type"):
        topic.subscribe("s", "shared")


def test_failover_standby_takes_over_in_order_with_the_unacked_messages():
    c = cluster()
    topic = c.create_topic("t")
    sub = topic.subscribe("s", "failover")
    first = collect(sub, "active", auto_ack=False, receiver_queue=3)
    second = collect(sub, "standby")
    for i in range(6):
        topic.publish(i, size=1)
    c.sim.run()
    assert [m.payload for m in first] == [0, 1, 2] and second == []
    sub.ack(first[0])
    sub.disconnect("active")                              # 1 and 2 were never acked
    c.sim.run()
    assert [m.payload for m in second] == [1, 2, 3, 4, 5]
    assert second[0].redelivery_count == 1


def test_shared_round_robin_and_individual_acks_move_the_mark_delete_position():
    c = cluster()
    topic = c.create_topic("t")
    sub = topic.subscribe("s", "shared")
    x = collect(sub, "x", auto_ack=False)
    y = collect(sub, "y", auto_ack=False)
    for i in range(4):
        topic.publish(i, size=1)
    c.sim.run()
    assert [m.payload for m in x] == [0, 2] and [m.payload for m in y] == [1, 3]
    sub.ack(y[0])
    assert sub.mark_delete == -1 and sub.acked == {1}     # 0 is still unacked
    assert x[0].consumer.acknowledge(x[0])
    assert sub.mark_delete == 1 and sub.acked == set()
    assert not sub.ack(y[0])                              # acked already: ignored


def test_initial_position_earliest_reads_what_retention_kept():
    c = cluster(retention_ms=-1, max_entries_per_ledger=2)
    topic = c.create_topic("t")
    old = topic.subscribe("old")
    collect(old, "o")
    for i in range(5):
        topic.publish(i, size=1)
    c.sim.run()
    topic.trim()
    late = topic.subscribe("late", initial_position="earliest")
    latest = topic.subscribe("latest")
    got, none = collect(late, "l"), collect(latest, "n")
    c.sim.run()
    assert [m.payload for m in got] == list(range(5)) and none == []
    with pytest.raises(ValueError, match="initial_position"):
        topic.subscribe("x", initial_position="middle")


def test_without_retention_acknowledged_ledgers_go():
    c = cluster(retention_ms=0.0, max_entries_per_ledger=2)
    topic = c.create_topic("t")
    sub = topic.subscribe("s")
    collect(sub, "c")
    for i in range(5):
        topic.publish(i, size=1)
    c.sim.run()
    assert topic.trim() == 4 and topic.stored_entries == 1
    late = topic.subscribe("late", initial_position="earliest")
    got = collect(late, "l")
    c.sim.run()
    assert [m.payload for m in got] == [4]                 # the history is gone


# ------------------------------------------------------------------ key_shared
def views(*spec):
    return [ConsumerView(name, room, frozenset(keys)) for name, room, keys in spec]


def test_sticky_key_dispatch_keeps_a_key_where_its_unacked_messages_are():
    assert sticky_key_dispatch("k", views(("a", True, ""), ("b", True, "k"))) == "b"
    assert sticky_key_dispatch("k", views(("a", True, ""), ("b", False, "k"))) is None
    assert sticky_key_dispatch("k", views(("a", False, ""), ("b", True, ""))) == "b"
    assert sticky_key_dispatch("k", views(("a", False, ""), ("b", False, ""))) is None
    free = views(("a", True, ""), ("b", True, ""), ("c", True, ""))
    assert sticky_key_dispatch("k", free) == sticky_key_dispatch("k", list(reversed(free)))   # stable choice


@settings(database=None, deadline=None, max_examples=25)
@given(seed=st.integers(0, 10_000), consumers=st.integers(2, 4), crashes=st.lists(st.integers(0, 60), max_size=4))
def test_key_shared_keeps_order_per_key_through_disconnects_and_joins(seed, consumers, crashes):
    import random
    rng = random.Random(seed)
    c = cluster(deliver_ms=0.5)
    topic = c.create_topic("t")
    sub = topic.subscribe("s", "key_shared")
    seen: list[tuple[str, int]] = []
    names = [f"c{i}" for i in range(consumers)]

    def make(name):                       # one connection: processes its deliveries one at a time
        inbox, busy = [], [False]

        def cb(m):
            inbox.append(m)
            if not busy[0]:
                start()

        def start():
            busy[0] = bool(inbox)
            if inbox:
                c.sim.schedule(rng.expovariate(1.0), done, inbox.pop(0))

        def done(m):
            if sub.ack(m):                # a stale connection's ack is refused: it did not count
                seen.append((m.key, m.payload))
            start()
        return cb

    for n in names:
        sub.connect(n, make(n), 3)
    counters = {}
    for i in range(120):
        key = f"k{rng.randrange(6)}"
        counters[key] = counters.get(key, 0) + 1
        c.sim.schedule(i * 0.3, topic.publish, counters[key], key, 1)
    for j, t in enumerate(crashes):
        victim = names[j % len(names)]
        c.sim.schedule(float(t), sub.disconnect, victim)
        c.sim.schedule(t + 2.0, lambda v=victim: sub.connect(v, make(v), 3) if all(x.name != v for x in sub.consumers) else None)
    c.sim.schedule(20.0, sub.connect, "joined", make("joined"), 3)
    c.sim.run()
    first: dict[tuple[str, int], int] = {}
    for pos, item in enumerate(seen):
        first.setdefault(item, pos)
    for key in counters:
        order = sorted((p, seq) for (k, seq), p in first.items() if k == key)
        assert [seq for _, seq in order] == list(range(1, counters[key] + 1)), key


def test_a_key_dispatcher_that_picks_a_stranger_or_a_full_consumer_gets_a_clear_error():
    for bad, match in ((lambda key, cs: "nobody", "returned 'nobody'"),
                       (lambda key, cs: cs[0].name, "has no room")):
        c = cluster()
        topic = c.create_topic("t")
        sub = topic.subscribe("s", "key_shared", key_dispatcher=bad)
        sub.connect("a", lambda m: None, 1)
        sub.connect("b", lambda m: None, 5)
        topic.publish(1, key="k", size=1)
        topic.publish(2, key="j", size=1)
        with pytest.raises(DispatchError, match=match):
            c.sim.run()


# ------------------------------------------------------------------ failures
def test_broker_failure_moves_ownership_copies_nothing_and_redelivers_unacked():
    c = cluster(brokers=2, deliver_ms=0.5)
    topic = c.create_topic("t")
    owner = topic.owner.name
    sub = topic.subscribe("s", "failover")
    got = collect(sub, "c", auto_ack=False)
    for i in range(3):
        topic.publish(i, size=100)
    c.sim.run()
    bytes_before = c.stored_bytes()
    sub.ack(got[0])
    result = c.fail_broker(owner)
    assert result["bytes copied"] == 0 and result["topics moved"] == ["t"]
    assert topic.owner.name != owner and c.stored_bytes() == bytes_before
    with pytest.raises(PulsarError, match="moving to a new owner"):
        topic.publish(99, size=1)
    c.sim.run()
    assert [m.payload for m in got] == [0, 1, 2, 1, 2]     # the unacked two, again
    topic.publish(3, size=100)
    assert len(topic.ledger.ledgers) == 2 and topic.ledger.ledgers[0].closed   # fenced; a new ledger


def test_bookie_failure_rereplicates_what_it_held():
    c = cluster(bookies=4)
    topic = c.create_topic("t")
    for i in range(10):
        topic.publish(i, size=100)
    ledger = topic.ledger.ledgers[0]
    victim = ledger.ensemble[0]
    held = victim.bytes_stored
    assert held > 0
    assert c.fail_bookie(victim.name) == held
    assert c.stored_bytes() == 10 * 100 * 2                 # the write quorum is whole again
    assert all(topic.ledger.read(i).payload == i for i in range(10))
