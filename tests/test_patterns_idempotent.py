"""The idempotent consumer (why and the sources: docs/event-sourcing.md) under redeliveries and crashes."""
from __future__ import annotations

import pytest

from msglib.log import Record, Topic
from msglib.patterns.crash import CrashSchedule, CrashingConnection, InjectedCrash, connect
from msglib.patterns.idempotent import (DUPLICATE, PROCESSED, CommittedOffsets, IdempotentConsumer, Message,
                                        MissingMessageIdError, balances, create_tables, idempotent,
                                        prune_processed, record_id_separately, top_up)


def _topic(messages, duplicates=()):
    topic = Topic("topups", 1, clock=lambda: 0)
    for m in list(messages) + [messages[i] for i in duplicates]:
        m.send_to(topic, 0)
    return topic


MESSAGES = [Message(f"m{i}", {"account": "ada" if i % 2 else "bob", "amount": i}) for i in range(1, 6)]
EXPECTED = {"ada": 1 + 3 + 5, "bob": 2 + 4}


def _run(tmp_path, handle, schedule, topic=None, name="a"):
    topic = topic or _topic(MESSAGES, duplicates=(0, 3))
    consumer = IdempotentConsumer(topic, str(tmp_path / f"{name}.db"), "wallets", handle, fault=schedule)
    consumer.run()
    return consumer


def test_redelivered_message_is_acknowledged_without_a_second_effect(tmp_path):
    c = _run(tmp_path, idempotent(top_up, "wallets"), CrashSchedule.at())
    assert balances(c.conn) == EXPECTED
    assert (c.stats.processed, c.stats.duplicates) == (5, 2)
    assert c.stats.outcomes[-2:] == [("m1", DUPLICATE), ("m4", DUPLICATE)]
    assert c.offsets.committed("wallets", 0) == 7


def _points(tmp_path, handle):
    dry = CrashSchedule.at()
    _run(tmp_path, handle, dry, name="dry")
    return len(dry.points)


def test_one_transaction_survives_a_crash_at_every_point(tmp_path):
    """whatever point the process dies at, every top-up counts exactly once."""
    handle = idempotent(top_up, "wallets")
    n = _points(tmp_path, handle)
    assert n > 20
    for k in range(1, n + 1):
        c = _run(tmp_path, handle, CrashSchedule.at(k), name=f"k{k}")
        assert c.stats.crashes == 1
        assert balances(c.conn) == EXPECTED, k


def test_two_crashes_in_a_row_and_random_schedules(tmp_path):
    handle = idempotent(top_up, "wallets")
    for k in range(1, 12):
        c = _run(tmp_path, handle, CrashSchedule.at(k, k + 1), name=f"two{k}")
        assert balances(c.conn) == EXPECTED
    for seed in range(10):
        c = _run(tmp_path, handle, CrashSchedule.random(seed, rate=0.2, max_crashes=8), name=f"r{seed}")
        assert balances(c.conn) == EXPECTED


@pytest.mark.parametrize("id_first,wrong", [(False, "double"), (True, "lost")])
def test_recording_the_id_in_a_separate_transaction_loses_or_doubles(tmp_path, id_first, wrong):
    """The counter-example: a crash between the two commits breaks exactly-once."""
    handle = record_id_separately(top_up, "wallets", id_first=id_first)
    assert balances(_run(tmp_path, handle, CrashSchedule.at(), name="ok").conn) == EXPECTED   # fine without crashes
    outcomes = set()
    for k in range(1, _points(tmp_path, handle) + 1):
        got = balances(_run(tmp_path, handle, CrashSchedule.at(k), name=f"k{k}").conn)
        total = sum(got.values())
        outcomes.add("double" if total > 15 else "lost" if total < 15 else "ok")
    assert wrong in outcomes
    assert outcomes <= {"ok", wrong}


def test_dedupe_scope_is_per_consumer(tmp_path):
    """two consumer groups each apply each message once (both credit the same wallets table here)."""
    topic = _topic(MESSAGES[:2], duplicates=(0,))
    path = str(tmp_path / "shared.db")
    offsets = CommittedOffsets()
    for group in ("wallets", "audit"):
        IdempotentConsumer(topic, path, group, idempotent(top_up, group), offsets=offsets).run()
    conn = connect(path)
    assert balances(conn) == {"ada": 2, "bob": 4}        # each group applied m1 and m2 once
    rows = conn.execute("SELECT consumer_id, message_id FROM processed_messages ORDER BY 1, 2").fetchall()
    assert rows == [("audit", "m1"), ("audit", "m2"), ("wallets", "m1"), ("wallets", "m2")]


def test_retention_window_boundary(tmp_path):
    """an id is remembered for retention_ms (inclusive); a duplicate after that is processed again."""
    conn = CrashingConnection(connect(str(tmp_path / "r.db")))
    create_tables(conn)
    now = [1000]
    handle = idempotent(top_up, "w", clock=lambda: now[0])
    m = Message("m1", {"account": "ada", "amount": 5})
    assert handle(conn, m) == PROCESSED
    now[0] = 1000 + 500
    assert prune_processed(conn, "w", now[0], retention_ms=500) == 0
    assert handle(conn, m) == DUPLICATE
    now[0] = 1000 + 501
    assert prune_processed(conn, "w", now[0], retention_ms=500) == 1
    assert handle(conn, m) == PROCESSED
    assert balances(conn) == {"ada": 10}
    with pytest.raises(ValueError, match="retention_ms"):
        prune_processed(conn, "w", 0, -1)


def test_a_failing_effect_leaves_nothing_and_the_retry_applies_once(tmp_path):
    """The effect and the id roll back together: a poison payload does not burn its id."""
    conn = CrashingConnection(connect(str(tmp_path / "p.db")))
    create_tables(conn)
    handle = idempotent(top_up, "w")
    with pytest.raises(ValueError, match="payload"):
        handle(conn, Message("bad", {"account": "ada", "amount": "five"}))
    assert conn.raw.execute("SELECT COUNT(*) FROM processed_messages").fetchone()[0] == 0
    assert handle(conn, Message("bad", {"account": "ada", "amount": 5})) == PROCESSED


def test_redrive_keeps_the_original_id(tmp_path):
    """a message replayed (e.g. from a DLQ) with its original id is still a duplicate."""
    topic = _topic(MESSAGES[:1])
    original = Message.from_record(next(topic[0].records()))
    original.send_to(topic, 0)                          # redrive: same id, same payload
    c = _run(tmp_path, idempotent(top_up, "wallets"), CrashSchedule.at(), topic=topic)
    assert (c.stats.processed, c.stats.duplicates) == (1, 1)


def test_bad_input_names_the_problem_and_the_fix(tmp_path):
    with pytest.raises(MissingMessageIdError, match="unique, stable id"):
        Message("", {"amount": 1})
    topic = Topic("t", 1, clock=lambda: 0)
    topic.send(b"{}", partition=0)
    with pytest.raises(MissingMessageIdError, match="'id' header"):
        Message.from_record(next(topic[0].records()))
    with pytest.raises(ValueError, match="JSON"):
        Message.from_record(Record(None, b"not json", 0, (("id", b"x"),), 3))
    with pytest.raises(TypeError, match="handle"):
        IdempotentConsumer(topic, str(tmp_path / "x.db"), "w", None)
    with pytest.raises(ValueError, match="file path"):
        connect(":memory:")
    with pytest.raises(ValueError, match="consumer_id"):
        idempotent(top_up, "")

    def bad_handle(conn, message):
        return True

    c = IdempotentConsumer(_topic(MESSAGES[:1]), str(tmp_path / "y.db"), "w", bad_handle)
    with pytest.raises(ValueError, match="must return 'processed' or 'duplicate'"):
        c.poll()


def test_a_handle_that_swallows_the_crash_is_still_restarted(tmp_path):
    def sloppy(conn, message):
        try:
            return idempotent(top_up, "wallets")(conn, message)
        except Exception:
            return DUPLICATE

    c = _run(tmp_path, sloppy, CrashSchedule.at(2))
    assert c.stats.crashes == 1
    assert balances(c.conn) == EXPECTED


def test_crash_schedule_rules():
    s = CrashSchedule.at(2)
    s("a")
    with pytest.raises(InjectedCrash):
        s("b")
    s("c")
    assert s.crashes == [(2, "b")] and s.points == ["a", "b", "c"]
    assert "point 2 (b)" in s.describe()
    with pytest.raises(ValueError):
        CrashSchedule.at(0)
    with pytest.raises(ValueError):
        CrashSchedule.random(1, rate=2.0)
    r1, r2 = CrashSchedule.random(7, rate=0.5), CrashSchedule.random(7, rate=0.5)
    for sched in (r1, r2):
        for i in range(50):
            try:
                sched(f"p{i}")
            except InjectedCrash:
                pass
    assert r1.crashes == r2.crashes and r1.crashes


def test_checkpoint_variant_resumes_from_the_tracked_position(tmp_path):
    """the offset is stored with the effect; a restart resumes after the highest tracked offset, and a
    replay of tracked offsets is recognised (IntegrityError -> already done)."""
    from msglib.patterns.idempotent import TrackingConsumer

    topic = _topic(MESSAGES)                          # no producer duplicates
    dry = CrashSchedule.at()
    TrackingConsumer(topic, str(tmp_path / "dry.db"), "w", top_up, fault=dry).run()
    for k in range(1, len(dry.points) + 1):
        c = TrackingConsumer(topic, str(tmp_path / f"t{k}.db"), "w", top_up, fault=CrashSchedule.at(k))
        c.run()
        assert balances(c.conn) == EXPECTED and c.crashes == 1
    c.rewind(0)                                      # replay the whole partition
    c.run()
    assert c.already_done == 5 and balances(c.conn) == EXPECTED
    again = TrackingConsumer(topic, str(tmp_path / f"t{k}.db"), "w", top_up)
    assert again.position == 5 == again.max_tracked() + 1


def test_checkpoint_variant_does_not_catch_a_message_the_producer_wrote_twice(tmp_path):
    """Tracking dedupes offsets, not messages: the same id at two offsets is applied twice; ids catch it."""
    from msglib.patterns.idempotent import TrackingConsumer

    topic = _topic(MESSAGES, duplicates=(0,))
    c = TrackingConsumer(topic, str(tmp_path / "t.db"), "w", top_up)
    c.run()
    assert balances(c.conn)["ada"] == EXPECTED["ada"] + 1
    assert balances(_run(tmp_path, idempotent(top_up, "w"), CrashSchedule.at(), topic=topic).conn) == EXPECTED
