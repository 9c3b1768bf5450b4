"""Change data capture: triggers -> change table -> connector -> topic, resumable, no loss, no reordering."""
from __future__ import annotations

import sqlite3
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from msglib.log import Topic
from msglib.patterns import cdc
from msglib.patterns.crash import CrashSchedule, connect
from msglib.patterns.outbox import add_event, create_tables as create_outbox, judge_delivery


def _db(path):
    conn = connect(path)
    conn.execute("CREATE TABLE accounts (id TEXT PRIMARY KEY, owner TEXT, balance INTEGER)")
    conn.commit()
    cdc.capture(conn, "accounts")
    return conn


def _topic(partitions=1):
    return Topic("dbserver.accounts", partitions, clock=lambda: 0)


def test_triggers_record_inserts_updates_deletes_with_before_and_after_images(tmp_path):
    conn = _db(str(tmp_path / "a.db"))
    with conn:
        conn.execute("INSERT INTO accounts VALUES ('a1', 'ada', 10)")
    with conn:
        conn.execute("UPDATE accounts SET balance = 25 WHERE id = 'a1'")
    with conn:
        conn.execute("DELETE FROM accounts WHERE id = 'a1'")
    changes = cdc.read_changes(conn, 0, 10)
    assert [(c.seq, c.op, c.key) for c in changes] == [(1, "c", "a1"), (2, "u", "a1"), (3, "d", "a1")]
    assert changes[0].before is None and changes[0].after == {"id": "a1", "owner": "ada", "balance": 10}
    assert changes[1].before["balance"] == 10 and changes[1].after["balance"] == 25
    assert changes[2].before["balance"] == 25 and changes[2].after is None
    assert cdc.read_changes(conn, 1, 1) == changes[1:2]


def test_a_rolled_back_transaction_leaves_no_change_and_seq_is_never_reused(tmp_path):
    conn = _db(str(tmp_path / "a.db"))
    with conn:
        conn.execute("INSERT INTO accounts VALUES ('a1', 'ada', 10)")
    with pytest.raises(sqlite3.IntegrityError):
        with conn:
            conn.execute("UPDATE accounts SET balance = 0 WHERE id = 'a1'")
            conn.execute("INSERT INTO accounts VALUES ('a1', 'dup', 0)")
    assert [c.seq for c in cdc.read_changes(conn, 0, 10)] == [1]
    with conn:
        conn.execute("DELETE FROM cdc_changes")          # a cleaned-up change table ...
        conn.execute("INSERT INTO accounts VALUES ('a2', 'bob', 1)")
    assert [c.seq for c in cdc.read_changes(conn, 0, 10)] == [2]      # ... never hands out an old seq again


def test_connector_publishes_in_order_and_resumes_from_the_stored_position(tmp_path):
    path = str(tmp_path / "a.db")
    conn = _db(path)
    for i in range(5):
        with conn:
            conn.execute("INSERT INTO accounts VALUES (?, 'ada', ?)", (f"a{i}", i))
    topic, offsets = _topic(), cdc.OffsetStorage()
    c = cdc.CdcConnector(path, topic, offsets=offsets, batch_size=2)
    c.run()
    assert c.stats.positions == [2, 4, 5]
    with conn:
        conn.execute("UPDATE accounts SET balance = 99 WHERE id = 'a0'")
    c2 = cdc.CdcConnector(path, topic, offsets=offsets)     # a new process: starts from the stored position
    assert c2.position == 5
    c2.run()
    changes = cdc.topic_changes(topic)
    assert [ch.seq for ch in changes] == [1, 2, 3, 4, 5, 6]
    rec = next(topic[0].records())
    assert rec.key == b"accounts:a0" and dict(rec.headers) == {"id": b"accounts:1", "seq": b"1"}


def test_a_crash_between_append_and_position_store_resends_never_skips(tmp_path):
    path = str(tmp_path / "a.db")
    conn = _db(path)
    for i in range(4):
        with conn:
            conn.execute("INSERT INTO accounts VALUES (?, 'ada', ?)", (f"a{i}", i))
    dry = CrashSchedule.at()
    cdc.CdcConnector(path, _topic(), fault=dry, batch_size=3).run()
    for k in range(1, len(dry.points) + 1):
        topic = _topic()
        c = cdc.CdcConnector(path, topic, fault=CrashSchedule.at(k), batch_size=3)
        c.run()
        seqs = [ch.id for ch in cdc.topic_changes(topic)]
        report = judge_delivery([f"accounts:{s}" for s in range(1, 5)], seqs)
        assert report.ok, (k, dry.points[k - 1], seqs)
        if dry.points[k - 1] in ("after append", "before position store"):
            assert report.duplicates >= 1


OPS = st.lists(st.tuples(st.sampled_from(["insert", "update", "delete", "poll", "crash"]),
                         st.integers(0, 5), st.integers(0, 100)), max_size=40)


@settings(database=None, deadline=None, max_examples=40)
@given(ops=OPS, batch=st.integers(1, 4), seed=st.integers(0, 10_000), partitions=st.sampled_from([1, 3]))
def test_property_no_loss_no_reordering_across_restarts(tmp_path_factory, ops, batch, seed, partitions):
    """Random writes, polls and crashes: the topic (deduped by seq) is the change table, each row's
    changes in order, and replaying it rebuilds the table."""
    path = str(tmp_path_factory.mktemp("cdc") / "p.db")
    conn = _db(path)
    topic, offsets = _topic(partitions), cdc.OffsetStorage()
    schedule = CrashSchedule.random(seed, rate=0.15)
    connector = cdc.CdcConnector(path, topic, offsets=offsets, batch_size=batch, fault=schedule)
    for op, k, v in ops:
        key = f"a{k}"
        with conn:
            if op == "insert":
                conn.execute("INSERT OR IGNORE INTO accounts VALUES (?, 'x', ?)", (key, v))
            elif op == "update":
                conn.execute("UPDATE accounts SET balance = ? WHERE id = ?", (v, key))
            elif op == "delete":
                conn.execute("DELETE FROM accounts WHERE id = ?", (key,))
        if op == "poll":
            try:
                connector.poll()
            except Exception as exc:   # an injected crash: the process restarts
                assert "crash" in str(exc)
                connector.restart()
        elif op == "crash":
            connector.restart()
    connector.run()
    table = cdc.read_changes(conn, 0, 10_000)
    delivered = cdc.topic_changes(topic)
    # per row (= per key = per partition): first deliveries are that row's changes, in seq order
    for key in {ch.key for ch in table}:
        want = [ch.id for ch in table if ch.key == key]
        got = [ch.id for ch in delivered if ch.key == key]
        report = judge_delivery(want, got)
        assert report.ok, (key, report)
    firsts = {}
    for ch in delivered:
        firsts.setdefault(ch.seq, ch)
    assert sorted(firsts) == [ch.seq for ch in table]
    rebuilt = cdc.apply_changes([firsts[s] for s in sorted(firsts)])
    actual = {("accounts", r[0]): {"id": r[0], "owner": r[1], "balance": r[2]}
              for r in conn.execute("SELECT id, owner, balance FROM accounts")}
    assert rebuilt == actual
    if partitions == 1:
        assert judge_delivery([ch.id for ch in table], [ch.id for ch in delivered]).ok


def test_outbox_through_cdc_publishes_inserts_drops_deletes_and_reports_updates(tmp_path):
    """the outbox is insert-only; deletes are filtered (the app may delete right after inserting)."""
    path = str(tmp_path / "o.db")
    conn = connect(path)
    create_outbox(conn)
    cdc.capture(conn, "outbox")
    with conn:
        add_event(conn, "e1", "order", "o1", "OrderPlaced", {"total": 5})
        conn.execute("DELETE FROM outbox WHERE event_id = 'e1'")        # the change table keeps the insert
    with conn:
        add_event(conn, "e2", "order", "o2", "OrderPlaced", {"total": 7})
    with conn:
        conn.execute("UPDATE outbox SET published = 1 WHERE event_id = 'e2'")
    topic = _topic()
    router = cdc.outbox_router("error")
    c = cdc.CdcConnector(path, topic, transform=router)
    c.run()
    records = list(topic[0].records())
    assert [dict(r.headers)["id"] for r in records] == [b"e1", b"e2"]
    assert records[1].key == b"o2" and records[1].value == b'{"total": 7}'
    assert c.stats.skipped == 2 and len(router.errors) == 1 and "insert-only" in router.errors[0]
    with pytest.warns(UserWarning, match="insert-only"):
        cdc.CdcConnector(path, _topic(), name="warns", transform=cdc.outbox_router()).run()
    with pytest.raises(ValueError, match="insert-only"):
        cdc.CdcConnector(path, _topic(), name="fatal", transform=cdc.outbox_router("fatal")).run()
    with pytest.raises(ValueError, match="invalid_op"):
        cdc.outbox_router("ignore")
    warnings.resetwarnings()


def test_bad_input_names_the_problem_and_the_fix(tmp_path):
    conn = connect(str(tmp_path / "b.db"))
    with pytest.raises(ValueError, match="does not exist"):
        cdc.capture(conn, "nope")
    conn.execute("CREATE TABLE pairs (a TEXT, b TEXT, PRIMARY KEY (a, b))")
    with pytest.raises(ValueError, match="exactly one primary-key column"):
        cdc.capture(conn, "pairs")
    with pytest.raises(ValueError, match="letters, digits and underscores"):
        cdc.capture(conn, "x; DROP TABLE y")
    with pytest.raises(ValueError, match="batch_size"):
        cdc.CdcConnector(str(tmp_path / "b.db"), _topic(), batch_size=0)


def test_outbox_router_tombstone_on_empty_payload_only_when_asked(tmp_path):
    """an empty payload becomes a tombstone only with tombstone_on_empty=True."""
    path = str(tmp_path / "t.db")
    conn = connect(path)
    create_outbox(conn)
    cdc.capture(conn, "outbox")
    with conn:
        conn.execute("INSERT INTO outbox (event_id, aggregate_type, aggregate_id, event_type, payload) "
                     "VALUES ('e1', 'cart', 'c1', 'CartDeleted', '')")
    for flag, value in ((False, b""), (True, None)):
        topic = _topic()
        cdc.CdcConnector(path, topic, name=f"r{flag}", transform=cdc.outbox_router(tombstone_on_empty=flag)).run()
        (record,) = topic[0].records()
        assert record.key == b"c1" and record.value == value
