"""The transactional outbox and its relay (why and the sources: docs/event-sourcing.md) under crashes."""
from __future__ import annotations

import sqlite3

import pytest

from msglib.log import Topic
from msglib.patterns import outbox as ob
from msglib.patterns.crash import CrashSchedule, CrashingConnection, InjectedCrash, connect
from msglib.patterns.idempotent import IdempotentConsumer, Message, idempotent


def _db(tmp_path, name="app", orders=6):
    path = str(tmp_path / f"{name}.db")
    app = connect(path)
    ob.create_tables(app)
    ids = [ob.place_order(app, f"o{i}", "ada" if i % 2 else "bob", 10 * i) for i in range(orders)]
    return path, app, ids


def _topic(partitions=1):
    return Topic("outbox.event.order", partitions, clock=lambda: 0)


def test_business_row_and_outbox_row_commit_or_roll_back_together(tmp_path):
    """a failed transaction leaves neither row, so nothing is ever published about it."""
    path, app, ids = _db(tmp_path, orders=2)
    with pytest.raises(sqlite3.IntegrityError):
        ob.place_order(app, "o1", "eve", 5)                  # duplicate order id: the whole transaction rolls back
    with pytest.raises(sqlite3.IntegrityError):
        ob.place_order(app, "o9", "eve", -5)                 # CHECK (total >= 0)
    crashing = CrashingConnection(connect(path), CrashSchedule.at(2))
    with pytest.raises(InjectedCrash):
        ob.place_order(crashing, "o7", "eve", 5)             # dies after the order insert, before the event insert
    crashing.close()
    assert app.execute("SELECT id FROM orders ORDER BY id").fetchall() == [("o0",), ("o1",)]
    topic = _topic()
    ob.OutboxRelay(path, topic).run()
    assert ob.delivered_ids(topic) == ids


def test_dual_write_loses_the_event_when_the_process_dies_between_the_writes(tmp_path):
    path, app, _ = _db(tmp_path, orders=0)
    topic = ob.FaultyTopic(_topic(), CrashSchedule.at(1))
    with pytest.raises(InjectedCrash):
        ob.place_order_dual_write(app, topic, "o1", "ada", 10)
    assert app.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 1     # the order exists ...
    assert topic.topic.end_offsets() == [0]                                  # ... and nobody heard of it


def test_relay_publishes_in_commit_order_with_key_value_and_id_header(tmp_path):
    """key = aggregate id, value = payload, header id = event id (what consumers dedupe by)."""
    path, app, ids = _db(tmp_path)
    topic = _topic()
    stats = ob.OutboxRelay(path, topic, batch_size=4).run()
    assert stats.published == 6 and stats.crashes == 0
    records = list(topic[0].records())
    assert [r.key for r in records] == [f"o{i}".encode() for i in range(6)]
    assert [dict(r.headers)["type"] for r in records] == [b"OrderPlaced"] * 6
    assert Message.from_record(records[3]).payload == {"order_id": "o3", "customer": "ada", "total": 30}
    assert ob.delivered_ids(topic) == ids
    assert ob.unpublished_count(app) == 0
    assert ob.topic_for("order") == "outbox.event.order"


def test_a_crash_at_every_point_never_loses_or_reorders(tmp_path):
    """a crash between the append and the mark republishes the same id; nothing is lost or reordered."""
    path0, _, _ = _db(tmp_path, "dry")
    dry = CrashSchedule.at()
    ob.OutboxRelay(path0, _topic(), batch_size=4, fault=dry).run()
    duplicated_at = []
    for k in range(1, len(dry.points) + 1):
        path, _, ids = _db(tmp_path, f"k{k}")
        topic = _topic()
        relay = ob.OutboxRelay(path, topic, batch_size=4, fault=CrashSchedule.at(k))
        relay.run()
        report = ob.judge_delivery(ids, ob.delivered_ids(topic))
        assert report.ok, (k, report)
        assert relay.stats.crashes == 1
        if report.duplicates:
            assert report.duplicates == 1
            duplicated_at.append(dry.points[k - 1])
    assert set(duplicated_at) == {"after append", "before UPDATE", "before commit"}


def test_random_crashes_and_broker_errors(tmp_path):
    for seed in range(12):
        path, _, ids = _db(tmp_path, f"s{seed}")
        topic = _topic()
        relay = ob.OutboxRelay(path, topic, batch_size=3, fault=CrashSchedule.random(seed, rate=0.15, max_crashes=6),
                               unavailable=lambda n, seed=seed: (n * 7 + seed) % 5 == 0)
        relay.run()
        report = ob.judge_delivery(ids, ob.delivered_ids(topic))
        assert report.ok, (seed, report)
        assert relay.stats.broker_errors > 0


def test_a_failed_append_stops_the_step_and_nothing_overtakes_it(tmp_path):
    path, _, ids = _db(tmp_path)
    topic = _topic()
    relay = ob.OutboxRelay(path, topic, batch_size=10, unavailable=lambda n: n == 3)
    assert relay.step() == 0 and relay.stats.broker_errors == 1
    assert ob.delivered_ids(topic) == ids[:2]
    relay.run()
    assert ob.delivered_ids(topic) == ids


def test_rows_committed_while_the_relay_runs_are_published_too(tmp_path):
    path, app, ids = _db(tmp_path, orders=3)
    more = iter(range(3, 8))

    def app_commits_an_order():
        i = next(more, None)
        if i is not None:
            ids.append(ob.place_order(app, f"o{i}", "eve", i))

    topic = _topic()
    ob.OutboxRelay(path, topic, batch_size=2, on_append=app_commits_an_order).run()
    assert ob.delivered_ids(topic) == ids and len(ids) == 8


def test_an_open_transaction_cannot_be_overtaken(tmp_path):
    """T1 takes id 1 and stays open; T2 cannot commit id 2 before it (SQLite serialises writers, like a
    table lock), the relay does not see T1's uncommitted row, and once T1 commits it is delivered first."""
    path = str(tmp_path / "o6.db")
    t1, t2 = connect(path), connect(path)
    ob.create_tables(t1)
    t1.execute("INSERT INTO orders VALUES ('o1', 'ada', 1)")
    ob.add_event(t1, "e1", "order", "o1", "OrderPlaced", {})         # id 1, not committed
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        ob.place_order(t2, "o2", "bob", 2, event_id="e2")
    topic = _topic()
    relay = ob.OutboxRelay(path, topic)
    assert relay.step() == 0 and ob.delivered_ids(topic) == []
    t1.commit()
    ob.place_order(t2, "o2", "bob", 2, event_id="e2")
    relay.run()
    assert ob.delivered_ids(topic) == ["e1", "e2"]


def test_keyed_by_aggregate_each_aggregate_keeps_its_order_across_partitions(tmp_path):
    path = str(tmp_path / "p.db")
    app = connect(path)
    ob.create_tables(app)
    expected: dict[str, list[str]] = {}
    for i in range(30):
        agg = f"cart-{i % 4}"
        with app:
            ob.add_event(app, f"e{i}", "cart", agg, "ItemAdded", {"n": i})
        expected.setdefault(agg, []).append(f"e{i}")
    topic = Topic("outbox.event.cart", 3, clock=lambda: 0)
    ob.OutboxRelay(path, topic, batch_size=5, fault=CrashSchedule.random(3, rate=0.1, max_crashes=4)).run()
    for agg, events in expected.items():
        got = [dict(r.headers)["id"].decode() for p in range(3) for r in topic[p].records() if r.key == agg.encode()]
        assert ob.judge_delivery(events, got).ok


def test_outbox_plus_idempotent_consumer_is_effectively_exactly_once(tmp_path):
    """The whole chain under crashes on both sides: every order counted once downstream."""
    for seed in range(6):
        path, _, ids = _db(tmp_path, f"e2e{seed}", orders=8)
        topic = _topic()
        ob.OutboxRelay(path, topic, batch_size=3, fault=CrashSchedule.random(seed, rate=0.2, max_crashes=5)).run()
        assert ob.judge_delivery(ids, ob.delivered_ids(topic)).ok

        def count_order(conn, message):
            conn.execute("INSERT INTO customer_totals VALUES (?, ?) ON CONFLICT (customer) DO UPDATE SET "
                         "total = total + excluded.total", (message.payload["customer"], message.payload["total"]))

        sink = str(tmp_path / f"sink{seed}.db")
        c = connect(sink)
        c.execute("CREATE TABLE customer_totals (customer TEXT PRIMARY KEY, total INTEGER)")
        c.commit()
        consumer = IdempotentConsumer(topic, sink, "billing", idempotent(count_order, "billing"),
                                      fault=CrashSchedule.random(seed + 100, rate=0.2, max_crashes=5))
        consumer.run()
        totals = dict(consumer.conn.raw.execute("SELECT customer, total FROM customer_totals").fetchall())
        assert totals == {"ada": 10 + 30 + 50 + 70, "bob": 0 + 20 + 40 + 60}


def test_a_relay_that_deletes_instead_of_marking_also_finishes(tmp_path):
    def deleting_relay(conn, topic, batch_size):
        rows = conn.execute("SELECT id, event_id, aggregate_id, event_type, payload FROM outbox "
                            "ORDER BY id LIMIT ?", (batch_size,)).fetchall()
        for row_id, *event in rows:
            ob.publish(topic, *event)
            with conn:
                conn.execute("DELETE FROM outbox WHERE id = ?", (row_id,))
        return len(rows)

    path, _, ids = _db(tmp_path)
    topic = _topic()
    ob.OutboxRelay(path, topic, deleting_relay, batch_size=4, fault=CrashSchedule.at(9)).run()
    assert ob.judge_delivery(ids, ob.delivered_ids(topic)).ok


def test_judge_delivery():
    r = ob.judge_delivery(["a", "b", "c"], ["a", "b", "b", "c", "a"])
    assert r.ok and r.duplicates == 2
    r = ob.judge_delivery(["a", "b", "c"], ["a", "c"])
    assert r.lost == ["b"] and not r.ok
    r = ob.judge_delivery(["a", "b", "c"], ["a", "c", "b"])
    assert r.first_out_of_order == ("c", "b") and not r.lost
    r = ob.judge_delivery(["a"], ["a", "zz"])
    assert r.unexpected == ["zz"] and not r.ok


def test_bad_input_names_the_problem_and_the_fix(tmp_path):
    path, app, _ = _db(tmp_path, orders=0)
    with pytest.raises(ValueError, match="event_id must be a non-empty string"):
        ob.add_event(app, "", "order", "o1", "OrderPlaced", {})
    with pytest.raises(ValueError, match="batch_size"):
        ob.OutboxRelay(path, _topic(), batch_size=0)
    with pytest.raises(TypeError, match="relay_once"):
        ob.OutboxRelay(path, _topic(), relay_once="relay")
    ob.place_order(app, "o1", "ada", 1)
    with pytest.raises(TypeError, match="number of rows"):
        ob.OutboxRelay(path, _topic(), lambda conn, topic, n: None).step()
