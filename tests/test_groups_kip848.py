"""KIP-848 consumer groups: ConsumerGroupHeartbeat, epochs, server-side assignors, reconciliation, fencing."""
from __future__ import annotations

import pytest

from msglib import protocol as p
from msglib.groups import GroupConfig, LocalBroker
from msglib.groups.consumer_group import GROUP_STABLE
from msglib.groups.reconciliation import (STABLE, UNRELEASED_PARTITIONS, UNREVOKED_PARTITIONS, Reconciliation,
                                          check_reconciliation, reconcile)
from msglib.groups.server_assignors import range_assign, uniform_assign
from msglib.protocol import TopicPartition as TP
from msglib.protocol.errors import CommitFailedError, KafkaConfigurationError
from msglib.sim.network import Endpoint


def tps(*ns: int, topic: str = "t") -> frozenset:
    return frozenset(TP(topic, n) for n in ns)


# ------------------------------------------------------------------ the pure pieces
def test_reconcile_revokes_first_then_takes_only_free_partitions():
    step = reconcile(tps(0, 1, 2), tps(0, 3), owned_by_others=tps(3))
    assert step == Reconciliation(tps(0), tps(1, 2), frozenset()) and step.state == UNREVOKED_PARTITIONS
    step = reconcile(tps(0), tps(0, 3, 4), owned_by_others=tps(3))
    assert step == Reconciliation(tps(0, 4), frozenset(), tps(3)) and step.state == UNRELEASED_PARTITIONS
    assert reconcile(tps(0, 4), tps(0, 3, 4), frozenset()).state == STABLE


def test_a_reconciliation_of_the_wrong_shape_is_refused_with_the_fix():
    with pytest.raises(TypeError, match="Reconciliation"):
        check_reconciliation({"assigned": set()})
    with pytest.raises(TypeError, match="TopicPartition"):
        check_reconciliation(({("t", 0)}, set(), set()))
    assert check_reconciliation((tps(1), set(), [])) == Reconciliation(tps(1), frozenset(), frozenset())


def test_uniform_is_balanced_and_sticky_range_is_contiguous():
    first = uniform_assign({"a": ["t"], "b": ["t"]}, {"t": 6})
    assert sorted(len(v) for v in first.values()) == [3, 3]
    second = uniform_assign({"a": ["t"], "b": ["t"], "c": ["t"]}, {"t": 6}, first)
    assert sorted(len(v) for v in second.values()) == [2, 2, 2]
    moved = sum(1 for m in ("a", "b") for tp in first[m] if tp not in second[m])
    assert moved == 2                                   # only what the newcomer needs moves
    assert range_assign({"b": ["t"], "a": ["t"]}, {"t": 5}) == {"a": tps(0, 1, 2), "b": tps(3, 4)}
    hetero = uniform_assign({"a": ["t", "u"], "b": ["t"]}, {"t": 2, "u": 2})
    assert hetero["b"] <= tps(0, 1) and len(hetero["a"]) + len(hetero["b"]) == 4
    with pytest.raises(ValueError, match="partition count"):
        uniform_assign({"a": ["t"]}, {"t": -1})


def test_group_config_checks_the_consumer_settings():
    assert GroupConfig().group_consumer_session_timeout_ms == 45_000
    assert GroupConfig().group_consumer_heartbeat_interval_ms == 5_000
    with pytest.raises(ValueError, match="server-side assignors"):
        GroupConfig(group_consumer_assignors=("sticky",))
    with pytest.raises(ValueError, match="heartbeat_interval"):
        GroupConfig(group_consumer_heartbeat_interval_ms=50_000)


# ------------------------------------------------------------------ with KafkaConsumers
def make(partitions: int = 6, seed: int = 3) -> LocalBroker:
    b = LocalBroker(seed=seed, fast=True)
    b.create_topic("t", partitions)
    for i in range(10 * partitions):
        b.send("t", str(i).encode(), partition=i % partitions)
    return b


def run(b: LocalBroker, consumers: list, ms: float) -> None:
    end = b.sim.now + ms
    while b.sim.now < end:
        for c in consumers:
            if not c._closed:
                c.poll(timeout_ms=5)


def owners_overlap(consumers: list) -> list:
    """(partition, a, b) for every moment two consumers believed they owned one partition."""
    spans = []
    for c in consumers:
        log = c.assignment_log
        for i, (t, owned) in enumerate(log):
            end = log[i + 1][0] if i + 1 < len(log) else float("inf")
            spans += [(tp, c.name, t, end) for tp in owned if end > t]
    out = []
    for i, (tp, a, s, e) in enumerate(spans):
        for tq, b2, s2, e2 in spans[i + 1:]:
            if tp == tq and a != b2 and s < e2 and s2 < e:
                out.append((tp, a, b2))
    return out


def test_members_join_one_by_one_and_partitions_move_only_after_revocation():
    b = make()
    cs = []
    for _ in range(3):
        cs.append(b.consumer("t", group_id="g", group_protocol="consumer", auto_offset_reset="earliest"))
        run(b, cs, 300)
    group = b.coordinator.consumer_groups.group("g")
    assert group.state == GROUP_STABLE and group.group_epoch == group.assignment_epoch == 3
    owned = [tp for c in cs for tp in c.assignment()]
    assert sorted(owned) == sorted(tps(*range(6))) and all(len(c.assignment()) == 2 for c in cs)
    assert all(c.generation == 3 for c in cs)            # member epochs caught up with the target epoch
    assert owners_overlap(cs) == []
    events = [e["event"] for e in b.coordinator.trace if e.get("protocol") == "consumer"]
    assert "target assignment" in events and "member reconciled" in events


def test_a_leaving_member_hands_its_partitions_over_and_a_crashed_one_after_the_session_timeout():
    b = make()
    cs = [b.consumer("t", group_id="g", group_protocol="consumer") for _ in range(3)]
    run(b, cs, 600)
    cs[1].close()
    run(b, cs, 300)
    assert sorted(tp for c in cs for tp in c.assignment()) == sorted(tps(*range(6)))
    crashed_at = b.sim.now
    cs[2].crash()
    session = b.coordinator.config.group_consumer_session_timeout_ms
    run(b, cs[:1], session * 0.8)
    assert len(cs[0].assignment()) < 6                   # not before the session timeout
    run(b, cs[:1], session)
    assert cs[0].assignment() == set(tps(*range(6)))
    removed = [e for e in b.coordinator.trace if e["event"] == "member removed" and "session" in e["reason"]]
    interval = b.coordinator.config.group_consumer_heartbeat_interval_ms   # the last heartbeat came before the crash
    assert removed and removed[0]["time"] - crashed_at >= session - interval
    assert owners_overlap(cs) == []


def test_commits_are_fenced_by_member_epoch():
    b = make()
    c = b.consumer("t", group_id="g", group_protocol="consumer", auto_offset_reset="earliest",
                   enable_auto_commit=False)
    run(b, [c], 300)
    c.commit()
    assert b.coordinator.committed("g", TP("t", 0)) == 10
    inbox: list = []
    ep = Endpoint("raw", b.network, lambda src, msg: inbox.append(msg))

    def commit(member: str, epoch: int) -> str | None:
        ep.send(b.coordinator.name, p.OffsetCommitRequest(len(inbox) + 100, "g", epoch, member, None,
                                                          {TP("t", 0): p.OffsetAndMetadata(3, "", -1)}))
        b.run(10)
        return inbox[-1].error
    assert commit(c.member_id, c.generation - 1) == p.STALE_MEMBER_EPOCH
    assert commit("nobody", 1) == p.UNKNOWN_MEMBER_ID
    assert commit(c.member_id, c.generation) is None
    assert b.coordinator.committed("g", TP("t", 0)) == 3


def test_heartbeat_epochs_ahead_or_stale_are_fenced_and_the_previous_epoch_is_forgiven():
    b = make(partitions=2)
    inbox: list = []
    ep = Endpoint("m", b.network, lambda src, msg: inbox.append(msg))

    def hb(**kw):
        ep.send(b.coordinator.name, p.ConsumerGroupHeartbeatRequest(len(inbox) + 1, "g", **kw))
        b.run(10)
        return inbox[-1]
    r = hb(member_id="m-1", member_epoch=0, subscribed_topic_names=["t"], rebalance_timeout_ms=1000,
           topic_partitions=[])
    assert r.error is None and r.member_id == "m-1" and r.member_epoch == 1 and r.assignment == sorted(tps(0, 1))
    assert r.heartbeat_interval_ms == GroupConfig.fast().group_consumer_heartbeat_interval_ms
    assert hb(member_id="m-1", member_epoch=5, topic_partitions=[]).error == p.FENCED_MEMBER_EPOCH
    # a second member bumps the group epoch; m-1 then moves to epoch 2 after revoking (previous epoch: 1)
    ep2 = Endpoint("m2", b.network, lambda src, msg: None)
    ep2.send(b.coordinator.name, p.ConsumerGroupHeartbeatRequest(50, "g", "m-2", 0, subscribed_topic_names=["t"],
                                                                 rebalance_timeout_ms=1000, topic_partitions=[]))
    b.run(10)
    r = hb(member_id="m-1", member_epoch=1, topic_partitions=sorted(tps(0, 1)))
    kept = r.assignment
    assert len(kept) == 1 and r.member_epoch == 1                # revoke first, epoch unchanged
    r = hb(member_id="m-1", member_epoch=1, topic_partitions=kept)
    assert r.member_epoch == 2
    assert hb(member_id="m-1", member_epoch=1, topic_partitions=kept).error is None     # the lost-answer case
    assert hb(member_id="m-1", member_epoch=1, topic_partitions=sorted(tps(0, 1))).error == p.FENCED_MEMBER_EPOCH
    assert hb(member_id="ghost", member_epoch=3, topic_partitions=[]).error == p.UNKNOWN_MEMBER_ID
    assert hb(member_id="m-3", member_epoch=0, subscribed_topic_names=["t"], rebalance_timeout_ms=10,
              server_assignor="sticky").error == p.UNSUPPORTED_ASSIGNOR


def test_a_static_member_leaves_with_epoch_minus_2_and_its_successor_gets_its_partitions_back():
    b = make()
    cs = [b.consumer("t", group_id="g", group_protocol="consumer", group_instance_id=f"worker-{i}")
          for i in range(2)]
    run(b, cs, 600)
    before = cs[0].assignment()
    epoch = b.coordinator.consumer_groups.group("g").group_epoch
    cs[0].close()                                       # a static member's close: epoch -2, not a leave
    run(b, cs[1:], 100)
    assert cs[1].assignment().isdisjoint(before)        # nobody took them meanwhile
    again = b.consumer("t", group_id="g", group_protocol="consumer", group_instance_id="worker-0")
    cs.append(again)
    run(b, cs, 300)
    assert again.assignment() == before
    assert b.coordinator.consumer_groups.group("g").group_epoch == epoch   # no rebalance for the restart
    twin = b.consumer("t", group_id="g", group_protocol="consumer", group_instance_id="worker-0")
    with pytest.raises(p.UnreleasedInstanceIdError):
        run(b, [twin], 200)


def test_consumer_groups_survive_a_coordinator_restart():
    b = make()
    cs = [b.consumer("t", group_id="g", group_protocol="consumer") for _ in range(2)]
    run(b, cs, 600)
    before = b.coordinator.consumer_groups.describe("g")
    b.coordinator.crash(power_loss=True)
    b.run(50)
    b.coordinator.restart()
    assert b.coordinator.consumer_groups.describe("g") == before      # replayed from __consumer_offsets
    run(b, cs, 300)
    assert sorted(tp for c in cs for tp in c.assignment()) == sorted(tps(*range(6)))


def test_group_protocol_is_checked_and_classic_stays_the_default():
    b = make()
    assert b.consumer("t", group_id="g").config["group_protocol"] == "classic"
    with pytest.raises(KafkaConfigurationError, match="group_protocol"):
        b.consumer("t", group_id="g", group_protocol="new")
    classic = b.consumer("t", group_id="mixed")
    run(b, [classic], 300)
    modern = b.consumer("t", group_id="mixed", group_protocol="consumer")
    with pytest.raises(p.InconsistentGroupProtocolError):
        run(b, [classic, modern], 200)


def test_stale_commit_raises_commit_failed():
    b = make()
    c = b.consumer("t", group_id="g", group_protocol="consumer", enable_auto_commit=False,
                   auto_offset_reset="earliest")
    run(b, [c], 300)
    c._coordinator.generation -= 1                      # as if the epoch-bumping answer had not arrived yet
    with pytest.raises(CommitFailedError, match="STALE_MEMBER_EPOCH"):
        c.commit()


def test_at_least_once_over_the_consumer_protocol_loses_nothing_under_crashes_pauses_and_coordinator_crashes():
    from msglib.groups.workload import at_least_once_step, random_events, run_group
    for seed in range(8):
        events = random_events(seed, 2_000, kinds=("crash", "pause", "join", "coordinator_crash"))
        r = run_group(seed, events=events, step=at_least_once_step, consumer_config={"group_protocol": "consumer"})
        assert r.lost == [] and r.drained, r.summary()


def test_an_application_that_crashes_during_another_ones_gc_pause_is_not_stepped_again():
    from msglib.groups.workload import GroupEvent, run_group
    events = [GroupEvent(1229, "pause", 3, 1_000), GroupEvent(1371, "crash", 1),
              GroupEvent(1445, "coordinator_crash", 6, 300)]
    for protocol in ("classic", "consumer"):
        r = run_group(25, events=events, consumer_config={"group_protocol": protocol})
        assert r.lost == [] and r.drained, (protocol, r.summary())


def test_a_subscribed_topic_that_appears_bumps_the_group_epoch_and_is_assigned():
    b = LocalBroker(seed=3, fast=True)
    b.create_topic("t", 2)
    cs = [b.consumer(group_id="g", group_protocol="consumer") for _ in range(2)]
    for c in cs:
        c.subscribe(["t", "later"])
    run(b, cs, 300)
    epoch = b.coordinator.consumer_groups.group("g").group_epoch
    assert sorted(tp for c in cs for tp in c.assignment()) == sorted(tps(0, 1))
    b.create_topic("later", 4)
    run(b, cs, 300)
    assert b.coordinator.consumer_groups.group("g").group_epoch == epoch + 1
    assert sorted(tp for c in cs for tp in c.assignment()) == sorted(tps(0, 1) | tps(0, 1, 2, 3, topic="later"))
