"""msglib.queue.work: module 01's work queue with crashing workers, and consumer groups."""
from __future__ import annotations

import pytest

from msglib.queue import Broker
from msglib.queue.work import (ProcessingFailed, WorkConfig, WorkerSpec, group_queue, simulate_groups,
                               simulate_work_queue)

HARSH = dict(crash_prob=0.05, ack_loss_prob=0.05, failure_prob=0.15, n_messages=150)


@pytest.mark.parametrize("seed", range(4))
def test_the_idempotent_handler_does_every_task_exactly_once_through_crashes_and_lost_acks(seed):
    run = simulate_work_queue(WorkConfig.uniform(3, **{k: v for k, v in HARSH.items() if k != "failure_prob"},
                                                 failure_prob=HARSH["failure_prob"]), seed)
    assert run.crashes and any(d.ack_lost for d in run.deliveries) and any(d.redelivered for d in run.deliveries)
    assert run.lost == [] and run.duplicated == [] and run.left_in_queue == 0


def naive(delivery, channel, process, seen):
    try:
        process(delivery.body)
    except ProcessingFailed:
        channel.nack(delivery, requeue=True)
        return
    channel.ack(delivery)


def ack_first(delivery, channel, process, seen):
    channel.ack(delivery)
    try:
        process(delivery.body)
    except ProcessingFailed:
        pass


def test_without_dedupe_lost_acks_cause_duplicates():
    run = simulate_work_queue(WorkConfig.uniform(3, ack_loss_prob=0.1, n_messages=150), 0, handle=naive)
    assert run.lost == [] and len(run.duplicated) > 0


def test_acking_before_the_work_loses_tasks_when_workers_crash():
    run = simulate_work_queue(WorkConfig.uniform(3, crash_prob=0.1, n_messages=150), 0, handle=ack_first)
    assert len(run.lost) > 0


def test_a_handler_that_never_answers_leaves_messages_unacked():
    run = simulate_work_queue(WorkConfig.uniform(2, n_messages=10, max_time_ms=2_000), 0,
                              handle=lambda d, ch, process, seen: process(d.body))
    assert run.left_in_queue > 0 and run.finished_at == 2_000


def test_faster_workers_do_more_with_prefetch_1():
    cfg = WorkConfig([WorkerSpec("fast", mean_ms=5), WorkerSpec("slow", mean_ms=50)], n_messages=200,
                     publish_every_ms=2)
    run = simulate_work_queue(cfg, 1)
    assert run.per_worker["fast"] > 4 * run.per_worker["slow"]


def test_same_seed_same_run():
    cfg = WorkConfig.uniform(3, **HARSH)
    a, b = simulate_work_queue(cfg, 5), simulate_work_queue(cfg, 5)
    assert a.summary() == b.summary() and [d.describe() for d in a.deliveries] == [d.describe() for d in b.deliveries]


def test_worker_spec_validation():
    with pytest.raises(ValueError, match="probability"):
        WorkerSpec("w", crash_prob=1.5)
    with pytest.raises(ValueError, match="at least one worker"):
        WorkConfig.uniform(0)


def test_one_queue_per_group_gives_every_group_every_message_shared_by_members():
    run = simulate_groups({"billing": 2, "email": 1, "audit": 3}, 30, seed=2)
    for g in run.groups:
        assert sorted(run.per_group(g)) == sorted(run.message_ids)     # every message, once per group
    counts = run.counts()
    assert all(counts[("billing", m)] > 0 for m in run.groups["billing"])
    assert all(counts[("audit", m)] > 0 for m in run.groups["audit"])
    assert len({run.queues[k] for k in run.queues if k[0] == "audit"}) == 1


def test_a_queue_per_member_is_plain_fanout_and_one_shared_queue_is_a_single_work_queue():
    per_member = simulate_groups({"billing": 2, "email": 1}, 10,
                                 group_queue=lambda b, ex, g, m: group_queue(b, ex, m, m))
    assert all(len(v) == 10 for v in per_member.received.values())          # every member gets everything
    shared = simulate_groups({"billing": 2, "email": 1}, 10, group_queue=lambda b, ex, g, m: group_queue(b, ex, "all", m))
    assert sum(len(v) for v in shared.received.values()) == 10              # the groups split one stream


def test_group_queue_must_return_a_declared_queue():
    with pytest.raises(ValueError, match="must return the name of a queue"):
        simulate_groups({"a": 1}, 2, group_queue=lambda b, ex, g, m: "nope")
    b = Broker()
    b.declare_exchange("events", "fanout")
    assert group_queue(b, "events", "g", "m1") == group_queue(b, "events", "g", "m2") == "events.g"
    assert len(b.exchanges["events"].bindings) == 1
