"""Share groups (KIP-932): the record state machine, the share-partition window, the checker and the runs."""
from __future__ import annotations

import pytest

from msglib.check.share import check_history
from msglib.share import AcknowledgeType, InFlightRecord, RecordState, ShareGroupConfig, transition
from msglib.share.partition import INVALID_RECORD_STATE, SharePartition
from msglib.share.scenario import run_share_schedule, run_share_schedules
from msglib.sim import Simulation
from tests.wrong.ex09_share import WRONG

A, Q, K, X = RecordState.AVAILABLE, RecordState.ACQUIRED, RecordState.ACKNOWLEDGED, RecordState.ARCHIVED


def partition(n: int = 10, **config) -> tuple[Simulation, SharePartition]:
    sim = Simulation(1)
    return sim, SharePartition(sim, lambda: n, config=ShareGroupConfig(**config))


def test_defaults_are_kafkas():
    c = ShareGroupConfig()
    assert (c.delivery_count_limit, c.record_lock_duration_ms, c.partition_max_record_locks) == (5, 30_000, 200)
    assert (c.heartbeat_interval_ms, c.session_timeout_ms) == (5_000, 45_000)


@pytest.mark.parametrize("bad,word", [({"delivery_count_limit": 0}, "delivery.count.limit"),
                                      ({"record_lock_duration_ms": 0}, "lock.duration"),
                                      ({"partition_max_record_locks": 0}, "max.record.locks"),
                                      ({"heartbeat_interval_ms": 50_000}, "session timeout")])
def test_bad_settings_are_named(bad, word):
    with pytest.raises(ValueError, match=word.replace(".", r"\.")):
        ShareGroupConfig(**bad)


def test_transition_rules():
    r = InFlightRecord(3)
    got = transition(r, "acquire", "c1", 5)
    assert (got.state, got.delivery_count, got.member) == (Q, 1, "c1")
    assert transition(got, "acquire", "c2", 5) is got                     # one holder at a time
    assert transition(got, "accept", "c2", 5) is got                      # not the lock holder
    assert transition(got, "accept", "c1", 5).state is K
    assert transition(got, "reject", "c1", 5).state is X
    assert transition(got, "release", "c1", 5).state is A
    last = InFlightRecord(3, Q, 5, "c1")
    assert transition(last, "release", "c1", 5).state is X                # the delivery limit archives it
    assert transition(last, "lock_expired", "c1", 5).state is X
    assert transition(InFlightRecord(3, K, 1), "acquire", "c1", 5).state is K
    with pytest.raises(ValueError, match="unknown share-partition event"):
        transition(got, "commit", "c1", 5)


def test_spso_moves_past_complete_records_only():
    sim, p = partition(10)
    got = p.acquire("c1", 3)
    assert [r.offset for r in got] == [0, 1, 2] and (p.spso, p.speo) == (0, 3)
    assert p.acknowledge("c1", 1, AcknowledgeType.ACCEPT) is None
    assert p.spso == 0                                   # offset 0 is still in flight
    assert p.acknowledge("c1", 0, AcknowledgeType.REJECT) is None
    assert p.spso == 2 and p.state_of(0) is X and p.state_of(1) is K
    assert p.acknowledge("c1", 1, AcknowledgeType.ACCEPT) == INVALID_RECORD_STATE   # accepted once only


def test_lock_expiry_releases_and_a_late_ack_is_refused():
    sim, p = partition(5, record_lock_duration_ms=1_000)
    p.acquire("c1", 1)
    sim.run(until=1_001)
    assert p.records[0].state is A and p.records[0].delivery_count == 1
    p.acquire("c2", 1)
    assert p.acknowledge("c1", 0, AcknowledgeType.ACCEPT) == INVALID_RECORD_STATE   # c1 was too late
    assert p.acknowledge("c2", 0, AcknowledgeType.ACCEPT) is None


def test_poison_record_is_archived_at_the_limit_and_does_not_block():
    sim, p = partition(3, delivery_count_limit=3, partition_max_record_locks=2)
    for attempt in range(3):
        got = p.acquire("c1", 1)
        assert got[0].offset == 0 and got[0].delivery_count == attempt + 1
        p.acknowledge("c1", 0, AcknowledgeType.RELEASE)
    assert p.state_of(0) is X and p.spso == 1           # archived: the partition moves on
    assert [r.offset for r in p.acquire("c1", 5)] == [1, 2]


def test_window_is_capped_by_max_record_locks():
    sim, p = partition(100, partition_max_record_locks=4)
    assert len(p.acquire("c1", 50)) == 4
    assert p.acquire("c2", 50) == []                    # full until the SPSO moves
    p.acknowledge("c1", 0, AcknowledgeType.ACCEPT)
    assert [r.offset for r in p.acquire("c2", 50)] == [4]


def test_snapshot_forgets_locks_keeps_counts():
    sim, p = partition(5)
    p.acquire("c1", 2)
    p.acknowledge("c1", 1, AcknowledgeType.ACCEPT)
    snap = p.snapshot()
    assert snap == {"start_offset": 0, "end_offset": 2, "states": [[0, "AVAILABLE", 1], [1, "ACKNOWLEDGED", 1]]}
    sim2, q = partition(5)
    q.restore(snap)
    got = q.acquire("c9", 5)
    assert [(r.offset, r.delivery_count) for r in got] == [(0, 2), (2, 1), (3, 1), (4, 1)]


def test_a_wrong_return_type_is_named():
    sim = Simulation(0)
    p = SharePartition(sim, lambda: 3, transition=lambda r, e, m, limit: None)
    with pytest.raises(TypeError, match="must return an InFlightRecord"):
        p.acquire("c1")


def test_checker_accepts_the_reference_over_many_seeds():
    summary = run_share_schedules(range(300))
    assert summary.runs == 300 and not summary.failed, summary.smallest_failure()
    assert summary.crashes > 50 and summary.late_acks_refused > 20 and summary.lock_expiries > 50
    assert summary.archived > 0 and summary.accepted > 0


@pytest.mark.parametrize("mistake,source", WRONG["09-share_transition"], ids=lambda x: x[:40])
def test_seeded_runs_catch_each_known_wrong_state_machine(mistake, source):
    ns = {"InFlightRecord": InFlightRecord, "RecordState": RecordState}
    exec(source, ns)
    summary = run_share_schedules(range(300), transition=ns["share_transition"], stop_after=1)
    assert summary.failed, f"300 seeded runs did not catch: {mistake}"
    result, violation = summary.smallest_failure()
    assert violation.events and violation.rule


def test_checker_sees_a_record_never_completed():
    sim, p = partition(2)
    p.acquire("c1", 1)
    found = check_history(p.history, 5, log_end=2, final_states={0: Q, 1: A})
    assert [v.offset for v in found] == [0, 1] and "never accepted or archived" in found[0].what


def test_one_run_is_deterministic():
    a, b = run_share_schedule(42), run_share_schedule(42)
    assert (a.deliveries, a.accepted, a.archived, a.events) == (b.deliveries, b.accepted, b.archived, b.events)


def test_grader_names_a_bad_return_value_found_only_inside_a_run():
    from msglib.grading import ex09_share
    from msglib.grading.core import CheckFailed

    def sneaky(record, event, member, limit):
        if event == "lock_expired" and record.delivery_count == 2:
            return None
        return transition(record, event, member, limit)

    with pytest.raises(CheckFailed, match="must return an InFlightRecord") as info:
        ex09_share.check_share_transition(sneaky)
    assert info.value.seed is not None


def test_grader_prints_the_smallest_history_and_the_seed():
    from msglib.grading import ex09_share
    from msglib.grading.core import CheckFailed

    ns = {"InFlightRecord": InFlightRecord, "RecordState": RecordState}
    exec(WRONG["09-share_transition"][1][1], ns)             # off by one on the limit
    with pytest.raises(CheckFailed) as info:
        ex09_share.check_share_transition(ns["share_transition"])
    text = str(info.value)
    assert "archived too early" in text and "history of that record" in text and "seed:" in text


@pytest.mark.slow  # 2,000 seeded schedules, a few seconds
def test_two_thousand_schedules_with_crashes_lock_expiry_and_failover_break_no_rule():
    summary = run_share_schedules(range(2_000))
    assert summary.runs == 2_000 and not summary.failed, summary.smallest_failure()
    assert summary.crashes > 1_000 and summary.lock_expiries > 1_000 and summary.failovers > 200
