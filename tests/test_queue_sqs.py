"""msglib.queue.sqs: visibility timeouts, receive counts, redrive to a DLQ and back.

Each test's name states the behaviour. The real systems' rules and their sources (Spring Kafka, Celery,
RabbitMQ, SQS) are in docs/kafka-behaviours.md, "Retries and dead letters", and docs/fidelity.md, "SQS rules".
"""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from msglib.queue.sqs import (DAY, HOUR, InvalidParameterValue, MessageNotInflight, MoveTaskError, ORIGINAL_ID,
                              QueueUnavailable, ReceiptHandleIsInvalid, RedrivePolicy, SqsQueue)
from msglib.sim import Simulation


def queues(max_receive_count=3, **kw):
    sim = Simulation(0)
    dlq = SqsQueue(sim, "orders-dlq", retention_ms=14 * DAY)
    src = SqsQueue(sim, "orders", redrive_policy=RedrivePolicy(dlq, max_receive_count), **kw)
    return sim, src, dlq


def test_receive_hides_for_the_visibility_timeout_then_it_reappears_with_a_higher_count():
    sim = Simulation(0)
    q = SqsQueue(sim, "q")                         # default 30 s
    q.send_message("hello")
    [m] = q.receive_message()
    assert m.receive_count == 1 and q.receive_message() == []
    assert q.approximate_number_of_messages_not_visible == 1
    sim.run(until=29_999)
    assert q.receive_message() == []
    sim.run(until=30_000)
    [again] = q.receive_message()
    assert again.message_id == m.message_id and again.receive_count == 2
    assert again.receipt_handle != m.receipt_handle
    q.delete_message(again.receipt_handle)
    assert len(q) == 0


def test_visibility_timeout_limits():
    sim = Simulation(0)
    with pytest.raises(InvalidParameterValue, match="VisibilityTimeout"):
        SqsQueue(sim, "q", visibility_timeout_ms=13 * HOUR)
    q = SqsQueue(sim, "q", visibility_timeout_ms=0)
    q.send_message(1)
    assert q.receive_message() and q.receive_message()      # timeout 0: visible again at once
    with pytest.raises(InvalidParameterValue, match="MaxNumberOfMessages"):
        q.receive_message(max_number_of_messages=11)


def test_change_visibility_counts_from_now_and_the_12_hour_cap():
    sim = Simulation(0)
    q = SqsQueue(sim, "q", visibility_timeout_ms=10_000)
    q.send_message(1)
    [m] = q.receive_message()
    sim.run(until=8_000)
    q.change_message_visibility(m.receipt_handle, 5_000)      # hidden until 13 s, not 15 s
    sim.run(until=12_999)
    assert q.receive_message() == []
    sim.run(until=13_000)
    [m2] = q.receive_message(visibility_timeout_ms=1_000)
    sim.run(until=13_500)
    with pytest.raises(InvalidParameterValue, match="12 h"):
        q.change_message_visibility(m2.receipt_handle, 12 * HOUR)
    sim.run(until=20_000)
    with pytest.raises(MessageNotInflight):                   # its timeout already ended
        q.change_message_visibility(m2.receipt_handle, 1_000)
    q.delete_message(m2.receipt_handle)
    assert len(q) == 0


def test_only_the_latest_receipt_handle_works():
    """DeleteMessage with an old handle succeeds (AWS) and, msglib's choice, deletes nothing."""
    sim = Simulation(0)
    q = SqsQueue(sim, "q", visibility_timeout_ms=100)
    q.send_message(1)
    [old] = q.receive_message()
    sim.run(until=100)
    [new] = q.receive_message()
    assert q.delete_message(old.receipt_handle) is False and len(q) == 1 and q.stats["stale_deletes"] == 1
    with pytest.raises(ReceiptHandleIsInvalid, match="stale"):
        q.change_message_visibility(old.receipt_handle, 0)
    with pytest.raises(ReceiptHandleIsInvalid, match="not a receipt handle"):
        q.delete_message(12)
    q.change_message_visibility(new.receipt_handle, 0)
    [newest] = q.receive_message()
    assert q.delete_message(newest.receipt_handle) is True
    assert q.delete_message(newest.receipt_handle) is False    # deleting twice is not an error
    assert len(q) == 0


def test_change_visibility_zero_makes_it_visible_now():
    sim = Simulation(0)
    q = SqsQueue(sim, "q")
    q.send_message(1)
    [m] = q.receive_message()
    q.change_message_visibility(m.receipt_handle, 0)
    [m2] = q.receive_message()
    assert m2.receive_count == 2


def test_message_moves_to_the_dlq_after_max_receive_count():
    sim, src, dlq = queues(max_receive_count=3, visibility_timeout_ms=1_000)
    mid = src.send_message("poison")
    counts = []
    for _ in range(5):
        counts += [m.receive_count for m in src.receive_message()]
        sim.run(until=sim.now + 1_000)
    assert counts == [1, 2, 3]
    assert len(src) == 0 and src.stats["moved_to_dlq"] == 1
    [m] = dlq.receive_message()
    assert m.message_id == mid and m.attributes["DeadLetterQueueSourceArn"] == "orders"


def test_max_receive_count_range():
    sim = Simulation(0)
    dlq = SqsQueue(sim, "dlq")
    for bad in (0, 1001, 2.5):
        with pytest.raises(InvalidParameterValue, match="maxReceiveCount"):
            RedrivePolicy(dlq, bad)
    q = SqsQueue(sim, "q")
    with pytest.raises(InvalidParameterValue, match="own dead-letter queue"):
        q.set_redrive_policy(q, 3)


def test_a_moved_message_keeps_its_original_timestamp_so_dlq_retention_must_be_longer():
    for dlq_retention, survives in ((2 * DAY, False), (4 * DAY, True)):
        sim = Simulation(0)
        dlq = SqsQueue(sim, "dlq", retention_ms=dlq_retention)
        src = SqsQueue(sim, "src", retention_ms=4 * DAY, visibility_timeout_ms=HOUR,
                       redrive_policy=RedrivePolicy(dlq, 1))
        src.send_message("old")
        src.receive_message()
        sim.run(until=3 * DAY)
        assert src.receive_message() == [] and src.stats["moved_to_dlq"] == 1
        if survives:
            assert dlq.messages()[0]["sent_at"] == 0.0      # the retention clock did not restart
        else:
            assert len(dlq) == 0 and dlq.stats["expired"] == 1   # older than the DLQ's 2 days: gone at once


def test_retention_deletes_old_messages():
    sim = Simulation(0)
    q = SqsQueue(sim, "q", retention_ms=60_000)
    q.send_message(1)
    sim.run(until=60_000)
    assert q.receive_message() == [] and q.stats["expired"] == 1


def test_delay_hides_new_messages():
    sim = Simulation(0)
    q = SqsQueue(sim, "q", delay_ms=5_000)
    q.send_message("a")
    q.send_message("b", delay_ms=0)
    assert [m.body for m in q.receive_message(10)] == ["b"]
    assert q.approximate_number_of_messages_delayed == 1
    sim.run(until=5_000)
    assert [m.body for m in q.receive_message(10)] == ["a"]
    with pytest.raises(InvalidParameterValue, match="DelaySeconds"):
        q.send_message("c", delay_ms=16 * 60_000)


def poison_to_dlq(sim, src, n):
    ids = [src.send_message(f"job-{i}", message_attributes={"kind": "job"}) for i in range(n)]
    while len(src):
        src.receive_message(10, visibility_timeout_ms=0)
    return ids


def test_redrive_moves_oldest_first_at_the_rate_cap_with_new_ids():
    sim, src, dlq = queues(max_receive_count=1)
    ids = poison_to_dlq(sim, src, 7)
    assert len(dlq) == 7
    task = dlq.start_message_move_task(max_per_second=3)
    assert task.destination is src and task.to_move == 7
    with pytest.raises(MoveTaskError, match="already running"):
        dlq.start_message_move_task()
    sim.run(until=sim.now + 10_000)
    assert task.status == "COMPLETED" and task.moved == 7
    assert [n for _, n in task.per_tick] == [3, 3, 1]
    moved = src.messages()
    assert [m["message_attributes"][ORIGINAL_ID] for m in moved] == ids      # oldest first
    assert all(m["message_id"] not in ids for m in moved)                    # new ids
    assert all(m["message_attributes"]["kind"] == "job" for m in moved)
    assert dlq.list_message_move_tasks() == [task]


def test_redrive_needs_a_dlq_and_checks_its_rate():
    sim, src, dlq = queues()
    with pytest.raises(MoveTaskError, match="not a dead-letter queue"):
        src.start_message_move_task()
    with pytest.raises(InvalidParameterValue, match="500"):
        dlq.start_message_move_task(max_per_second=501)


def test_redrive_survives_an_unavailable_destination_without_loss():
    sim, src, dlq = queues(max_receive_count=1)
    ids = poison_to_dlq(sim, src, 5)
    start = sim.now
    src.outages.append((start + 500, start + 3_500))
    task = dlq.start_message_move_task(max_per_second=2)
    sim.run(until=start + 600)
    with pytest.raises(QueueUnavailable, match="unavailable"):
        src.send_message("x")
    assert task.status == "RUNNING" and task.moved == 2       # the first second went through
    sim.run(until=start + 20_000)
    assert task.status == "COMPLETED"
    assert sorted(m["message_attributes"][ORIGINAL_ID] for m in src.messages()) == sorted(ids)
    # nothing was sent during the outage
    assert all(not start + 500 <= m["sent_at"] < start + 3_500 for m in src.messages())


def test_cancel_a_move_task():
    sim, src, dlq = queues(max_receive_count=1)
    poison_to_dlq(sim, src, 10)
    task = dlq.start_message_move_task(max_per_second=2)
    sim.run(until=sim.now + 1_500)
    dlq.cancel_message_move_task(task)
    sim.run(until=sim.now + 10_000)
    assert task.status == "CANCELLED" and task.moved == 4 and len(dlq) == 6
    with pytest.raises(MoveTaskError):
        dlq.cancel_message_move_task(task)
    assert dlq.start_message_move_task().status == "RUNNING"     # a new one may start now


def test_a_failing_mover_fails_the_task_and_keeps_the_messages():
    sim, src, dlq = queues(max_receive_count=1)
    poison_to_dlq(sim, src, 3)

    def broken(dlq_, dest, budget):
        raise RuntimeError("boom")

    task = dlq.start_message_move_task(mover=broken)
    sim.run(until=sim.now + 5_000)
    assert task.status == "FAILED" and "boom" in task.failure_reason and len(dlq) == 3


@settings(database=None, deadline=None, max_examples=40)
@given(st.lists(st.tuples(st.sampled_from(["send", "recv", "del", "wait", "hide"]), st.integers(0, 5)),
                max_size=60))
def test_model_every_message_is_held_received_or_deleted_never_duplicated(ops):
    """Random API sequences keep the invariants: each message is in exactly one state; a receive never
    returns a message twice while it is hidden; nothing vanishes except by delete or DLQ move."""
    sim = Simulation(1)
    dlq = SqsQueue(sim, "dlq")
    q = SqsQueue(sim, "q", visibility_timeout_ms=1_000, redrive_policy=RedrivePolicy(dlq, 2))
    sent, deleted, handles = set(), set(), {}
    hidden_until: dict[str, float] = {}
    for op, n in ops:
        if op == "send":
            sent.add(q.send_message(n))
        elif op == "recv":
            for m in q.receive_message(1 + n % 10):
                assert hidden_until.get(m.message_id, -1) <= sim.now, "received while hidden"
                hidden_until[m.message_id] = sim.now + 1_000
                handles[m.message_id] = m.receipt_handle
        elif op == "del" and handles:
            mid = sorted(handles)[n % len(handles)]
            if q.delete_message(handles.pop(mid)):             # an old handle deletes nothing
                deleted.add(mid)
        elif op == "hide" and handles:
            mid = sorted(handles)[n % len(handles)]
            try:
                q.change_message_visibility(handles[mid], 0)
                hidden_until[mid] = sim.now
            except MessageNotInflight:
                pass
        else:
            sim.run(until=sim.now + 300 * (n + 1))
        held = {m["message_id"] for m in q.messages()}
        in_dlq = {m["message_id"] for m in dlq.messages()}
        assert held.isdisjoint(in_dlq) and held | in_dlq | deleted >= sent
        assert held | in_dlq | deleted == sent


# ---------------------------------------------------------------- FIFO queues, long polling, the DLQ's count
def test_fifo_group_order_and_lock():
    sim = Simulation(0)
    q = SqsQueue(sim, "jobs.fifo", visibility_timeout_ms=1_000)
    for i, g in enumerate("AABAB"):
        q.send_message(f"{g}{i}", message_group_id=g, message_deduplication_id=str(i))
    [a0] = q.receive_message()
    [b2] = q.receive_message()
    assert (a0.body, b2.body) == ("A0", "B2") and q.receive_message(10) == []    # both groups are in flight
    assert a0.attributes["MessageGroupId"] == "A"
    sim.run(until=1_000)                               # A0 was not deleted: it comes back first, in order
    assert [m.body for m in q.receive_message(10)] == ["A0", "A1", "B2", "A3", "B4"]


def test_fifo_deduplication_window_is_5_minutes_on_the_simulated_clock():
    sim = Simulation(0)
    q = SqsQueue(sim, "pay.fifo", content_based_deduplication=True)
    first = q.send_message("charge 10", message_group_id="u1")
    sim.run(until=5 * 60_000 - 1)
    assert q.send_message("charge 10", message_group_id="u2") == first and len(q) == 1
    assert q.send_message("charge 10", message_group_id="u1", message_deduplication_id="explicit") != first
    sim.run(until=5 * 60_000)                          # the window counts from the first send
    assert q.send_message("charge 10", message_group_id="u1") != first and len(q) == 3
    assert q.stats["deduplicated"] == 1


def test_fifo_rules_are_clear_errors():
    sim = Simulation(0)
    q = SqsQueue(sim, "a.fifo")
    with pytest.raises(InvalidParameterValue, match="message_group_id"):
        q.send_message("x", message_deduplication_id="1")
    with pytest.raises(InvalidParameterValue, match="content_based_deduplication"):
        q.send_message("x", message_group_id="g")
    with pytest.raises(InvalidParameterValue, match="per-message delay"):
        q.send_message("x", message_group_id="g", message_deduplication_id="1", delay_ms=10)
    with pytest.raises(InvalidParameterValue, match="standard queue"):
        SqsQueue(sim, "std").send_message("x", message_group_id="g")
    with pytest.raises(InvalidParameterValue, match=".fifo"):
        SqsQueue(sim, "plain", fifo=True)
    with pytest.raises(InvalidParameterValue, match="must be a FIFO queue too"):
        SqsQueue(sim, "b.fifo", redrive_policy=RedrivePolicy(SqsQueue(sim, "std-dlq"), 3))


def test_long_polling_returns_when_a_message_arrives_or_after_the_wait():
    sim = Simulation(0)
    q = SqsQueue(sim, "q", visibility_timeout_ms=1_000)
    assert q.receive_message(wait_time_ms=20_000) == [] and sim.now == 20_000
    sim.schedule(3_000, q.send_message, "late")
    [m] = q.receive_message(wait_time_ms=20_000)
    assert m.body == "late" and sim.now == 23_000       # returned as soon as it arrived
    [again] = q.receive_message(wait_time_ms=5_000)     # hidden until 24 000: the poll waits for it
    assert again.receive_count == 2 and sim.now == 24_000
    sim.run()
    assert sim.now == 24_000                            # no timer of the poll is left to move the clock
    with pytest.raises(InvalidParameterValue, match="WaitTimeSeconds"):
        q.receive_message(wait_time_ms=20_001)
    held = SqsQueue(sim, "r", receive_wait_time_ms=2_000)           # the queue's own default
    assert held.receive_message() == [] and sim.now == 26_000


def test_a_message_moved_to_the_dlq_keeps_its_receive_count():
    sim, src, dlq = queues(max_receive_count=2, visibility_timeout_ms=0)
    src.send_message("poison")
    assert [m.receive_count for _ in range(3) for m in src.receive_message()] == [1, 2]
    [m] = dlq.receive_message()
    assert m.receive_count == 3 and m.attributes["DeadLetterQueueSourceArn"] == "orders"
