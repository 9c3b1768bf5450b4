"""The group coordinator and membership: section I of the semantics reference."""
from __future__ import annotations

import pytest

from msglib.client.consumer import ConsumerRebalanceListener
from msglib.client.errors import IllegalStateError
from msglib.groups import (COORDINATOR_NOT_AVAILABLE, ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS, UNKNOWN_MEMBER_ID,
                           CommitFailedError, GroupConfig, GroupState, LocalBroker, TopicPartition, can_transition,
                           validate_offset_commit)
from msglib.groups.coordinator import Group, Member
from msglib.groups.errors import InconsistentGroupProtocolError
from msglib.groups.states import VALID_PREVIOUS_STATES

E, P, C, S, D = (GroupState.EMPTY, GroupState.PREPARING_REBALANCE, GroupState.COMPLETING_REBALANCE,
                 GroupState.STABLE, GroupState.DEAD)


def make(partitions: int = 4, records: int = 0, fast: bool = True, **kw) -> LocalBroker:
    b = LocalBroker(seed=11, fast=fast, **kw)
    b.create_topic("t", partitions)
    for i in range(records):
        b.send("t", str(i).encode(), partition=i % partitions)
    return b


def run(b: LocalBroker, consumers, ms: float, every: float = 10.0) -> dict:
    """Every consumer polls (without blocking) every ``every`` ms for ``ms``; returns what each read."""
    got: dict = {c.name: [] for c in consumers}
    end = b.sim.now + ms
    while b.sim.now < end:
        for c in consumers:
            if not c._closed:
                for recs in c.poll(0).values():
                    got[c.name] += [(r.partition, r.offset) for r in recs]
        b.run(every)
    return got


def owners(consumers) -> dict:
    return {c.name: sorted(tp.partition for tp in c.assignment()) for c in consumers if not c._closed}


def group_events(b, event):
    return [e for e in b.coordinator.trace if e["event"] == event]


# ------------------------------------------------------------------ I#89 the state machine
def test_transition_table_is_kafkas():
    allowed = {(a, b) for b in GroupState for a in GroupState if can_transition(a, b)}
    assert allowed == {(S, P), (C, P), (E, P), (P, C), (C, S), (P, E)} | {(x, D) for x in GroupState}
    assert can_transition("Stable", "PreparingRebalance") and not can_transition("Empty", "Stable")
    assert VALID_PREVIOUS_STATES[D] == frozenset(GroupState)


def test_the_coordinator_refuses_an_illegal_transition():
    b = make(can_transition=lambda cur, target: not (cur == E and target == P))
    c = b.consumer("t", group_id="g")
    with pytest.raises(IllegalStateError, match="cannot move from Empty to PreparingRebalance"):
        run(b, [c], 200)


# ------------------------------------------------------------------ I#90-91 generations and the join phase
def test_generations_count_rebalances_and_the_first_waits_the_initial_delay():
    b = make(fast=False)                      # Kafka's timers: group.initial.rebalance.delay.ms = 3 s
    a = b.consumer("t", group_id="g")
    run(b, [a], 2_900, every=100)
    assert a.generation == -1 and b.coordinator.group("g").state == P
    run(b, [a], 400, every=100)
    assert a.generation == 1 and owners([a])[a.name] == [0, 1, 2, 3]
    c = b.consumer("t", group_id="g")
    run(b, [a, c], 10_000, every=100)
    assert a.generation == c.generation == 2
    states = [e["state"] for e in b.coordinator.trace if e["event"].startswith("->")]
    assert states == ["PreparingRebalance", "CompletingRebalance", "Stable"] * 2


def test_a_member_that_does_not_rejoin_is_removed_after_the_rebalance_timeout():
    b = make()
    a = b.consumer("t", group_id="g", max_poll_interval_ms=2_000)
    slow = b.consumer("t", group_id="g", max_poll_interval_ms=2_000)
    run(b, [a, slow], 500)
    assert owners([a, slow]) == {a.name: [0, 1], slow.name: [2, 3]}
    joiner = b.consumer("t", group_id="g", max_poll_interval_ms=2_000)
    # `slow` keeps heartbeating (its heartbeat thread is fine) but its application stops polling
    run(b, [a, joiner], 1_500)
    assert b.coordinator.group("g").state == P           # waiting for `slow` to rejoin
    run(b, [a, joiner], 1_000)
    removed = group_events(b, "member removed")
    assert removed and "rebalance timeout" in removed[-1]["reason"]
    assert owners([a, joiner]) == {a.name: [0, 1], joiner.name: [2, 3]}


def test_each_rebalance_leaves_every_partition_with_exactly_one_member():
    b = make(partitions=5)
    cs = [b.consumer("t", group_id="g") for _ in range(3)]
    run(b, cs, 500)
    mine = owners(cs)
    assert sorted(p for ps in mine.values() for p in ps) == [0, 1, 2, 3, 4]
    cs[1].close()
    run(b, cs, 500)
    mine = owners(cs)
    assert sorted(p for ps in mine.values() for p in ps) == [0, 1, 2, 3, 4] and len(mine) == 2


# ------------------------------------------------------------------ I#92 protocol selection
def test_the_assignor_every_member_supports_wins_by_votes():
    b = make()
    x = b.consumer("t", group_id="g", partition_assignment_strategy=["roundrobin", "range"])
    y = b.consumer("t", group_id="g", partition_assignment_strategy=["range", "roundrobin"])
    z = b.consumer("t", group_id="g", partition_assignment_strategy=["range"])
    run(b, [x, y, z], 500)
    assert b.coordinator.group("g").protocol_name == "range"     # 2 votes against 1 (z has only range)
    w = b.consumer("t", group_id="g", partition_assignment_strategy=["sticky"])
    with pytest.raises(InconsistentGroupProtocolError):
        run(b, [w], 200)


# ------------------------------------------------------------------ I#93-94 sessions, poll interval
def test_a_crashed_member_is_removed_after_the_session_timeout():
    b = make(records=40)
    a = b.consumer("t", group_id="g", session_timeout_ms=450)
    c = b.consumer("t", group_id="g", session_timeout_ms=450)
    run(b, [a, c], 300)
    crashed_at = b.sim.now
    c.crash()
    run(b, [a], 400)
    assert len(owners([a])[a.name]) == 2                  # not yet: the session has not timed out
    run(b, [a], 400)
    assert owners([a])[a.name] == [0, 1, 2, 3]
    removed = group_events(b, "member removed")[-1]
    assert "session timeout" in removed["reason"] and 450 - 30 <= removed["time"] - crashed_at <= 450  # last heartbeat + session


def test_a_member_that_stops_polling_leaves_and_its_commit_fails():
    b = make(records=8)
    a = b.consumer("t", group_id="g", max_poll_interval_ms=500, enable_auto_commit=False,
                   auto_offset_reset="earliest")
    run(b, [a], 200)
    assert a.generation >= 1
    b.run(700)                                            # processing something slowly: no poll
    assert a.generation == -1 and b.coordinator.group("g").state == E
    with pytest.raises(CommitFailedError):
        a.commit()
    run(b, [a], 200)                                      # polling again rejoins
    assert a.generation >= 2 and a.assignment()


def test_heartbeats_tell_members_to_rejoin():
    b = make()
    a = b.consumer("t", group_id="g")
    run(b, [a], 300)
    c = b.consumer("t", group_id="g")
    run(b, [a, c], 300)
    assert any("rebalancing" in what for _, what in a._coordinator.events)
    assert a.generation == c.generation == 2


# ------------------------------------------------------------------ I#95-96 offset commit validation
def group(state, generation=3, members=("m1",)) -> Group:
    g = Group("g", state=state, generation_id=generation)
    for m in members:
        g.members[m] = Member(m, None, "c", 1, 1, [])
    return g


@pytest.mark.parametrize("state,member,gen,expected", [
    (S, "m1", 3, None),
    (S, "m1", 2, ILLEGAL_GENERATION),
    (S, "ghost", 3, UNKNOWN_MEMBER_ID),
    (C, "m1", 3, REBALANCE_IN_PROGRESS),
    (P, "m1", 3, None),                       # revoking members of the previous generation may commit
    (D, "m1", 3, COORDINATOR_NOT_AVAILABLE),
    (E, "", -1, None),                        # assign() consumers commit to an empty group
    (S, "", -1, UNKNOWN_MEMBER_ID),           # ...but not to a group with members
])
def test_validate_offset_commit(state, member, gen, expected):
    g = group(state) if state != E else group(E, 0, ())
    assert validate_offset_commit(g, member, gen) == expected


def test_a_member_may_commit_in_on_partitions_revoked():
    b = make(records=20)

    class CommitOnRevoke(ConsumerRebalanceListener):
        def __init__(self):
            self.consumer = None
            self.results = []

        def on_partitions_revoked(self, revoked):
            if revoked:
                self.consumer.commit()
                self.results.append(b.coordinator.group("g").state)

    listener = CommitOnRevoke()
    a = b.consumer(group_id="g", enable_auto_commit=False, auto_offset_reset="earliest")
    listener.consumer = a
    a.subscribe(["t"], listener=listener)
    run(b, [a], 300)
    c = b.consumer("t", group_id="g", auto_offset_reset="earliest")
    run(b, [a, c], 500)
    assert listener.results == [P]
    assert b.coordinator.committed("g", TopicPartition("t", 0)) == 5


def test_a_zombie_commit_is_fenced():
    b = make(records=40)
    a = b.consumer("t", group_id="g", enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=3)
    c = b.consumer("t", group_id="g", enable_auto_commit=False, auto_offset_reset="earliest")
    run(b, [a, c], 300)
    a.node.pause()                                       # a long GC pause
    run(b, [c], 1_500)
    a.node.resume()
    assert owners([c])[c.name] == [0, 1, 2, 3]
    with pytest.raises(CommitFailedError):
        a.commit()                                       # stale member: rejected
    rejected = group_events(b, "commit rejected")
    assert rejected[-1]["error"] in (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION)


# ------------------------------------------------------------------ I#97-98 eager vs cooperative
class Log(ConsumerRebalanceListener):
    def __init__(self):
        self.calls = []

    def on_partitions_revoked(self, revoked):
        self.calls.append(("revoked", sorted(tp.partition for tp in revoked)))

    def on_partitions_assigned(self, assigned):
        self.calls.append(("assigned", sorted(tp.partition for tp in assigned)))


def test_eager_members_revoke_everything_before_rejoining():
    b = make(partitions=3)
    log = Log()
    a = b.consumer(group_id="g", partition_assignment_strategy=["sticky"])
    a.subscribe(["t"], listener=log)
    run(b, [a], 300)
    c = b.consumer("t", group_id="g", partition_assignment_strategy=["sticky"])
    run(b, [a, c], 500)
    assert log.calls == [("assigned", [0, 1, 2]), ("revoked", [0, 1, 2]), ("assigned", [0, 1])]


def test_cooperative_moves_one_partition_in_two_rebalances_and_never_stops_the_others():
    b = make(partitions=3, records=300)
    log = Log()
    strategy = ["cooperative-sticky"]
    a = b.consumer(group_id="g", partition_assignment_strategy=strategy, auto_offset_reset="earliest",
                   max_poll_records=2)
    a.subscribe(["t"], listener=log)
    run(b, [a], 300)
    gen = a.generation
    c = b.consumer("t", group_id="g", partition_assignment_strategy=strategy, auto_offset_reset="earliest")
    seen = {}
    end = b.sim.now + 1_000
    while b.sim.now < end:
        for cons in (a, c):
            for tp, recs in cons.poll(0).items():
                seen.setdefault(tp.partition, set()).add(cons.name)
        mine = owners([a, c])
        assert not set(mine[a.name]) & set(mine[c.name])     # never owned twice
        b.run(10)
    assert log.calls == [("assigned", [0, 1, 2]), ("revoked", [2]), ("assigned", []), ("assigned", [])]
    assert owners([a, c]) == {a.name: [0, 1], c.name: [2]}
    assert a.generation == c.generation == gen + 2            # two rebalances
    assert seen[0] == {a.name} and seen[1] == {a.name}       # partitions that did not move kept flowing


# ------------------------------------------------------------------ I#99-101 ids, static members, subscriptions
def test_member_ids_are_client_id_plus_a_suffix():
    b = make()
    a = b.consumer("t", group_id="g", client_id="billing")
    run(b, [a], 300)
    assert a.member_id.startswith("billing-") and len(a.member_id) > len("billing-")


def test_a_static_member_restarting_within_the_session_keeps_its_partitions_without_a_rebalance():
    b = make()
    a = b.consumer("t", group_id="g", group_instance_id="host-a", client_id="a1")
    c = b.consumer("t", group_id="g", group_instance_id="host-c", client_id="c1")
    run(b, [a, c], 500)
    before = owners([a, c])
    generation = a.generation
    a.close()                                            # static members do not leave the group
    a2 = b.consumer("t", group_id="g", group_instance_id="host-a", client_id="a2")
    run(b, [a2, c], 300)
    assert a2.generation == generation == c.generation
    assert owners([a2])[a2.name] == before[a.name]
    assert not group_events(b, "rebalance")[2:]          # only the two joins of the start


def test_a_subscription_change_rebalances_and_a_pattern_picks_up_new_topics():
    b = make(partitions=2)
    b.create_topic("orders-eu", 1)
    a = b.consumer(group_id="g")
    a.subscribe(pattern="orders-.*")
    run(b, [a], 300)
    assert a.assignment() == {TopicPartition("orders-eu", 0)}
    b.create_topic("orders-us", 1)
    run(b, [a], 300)
    assert a.assignment() == {TopicPartition("orders-eu", 0), TopicPartition("orders-us", 0)}
    a.subscribe(["t"])
    run(b, [a], 300)
    assert a.assignment() == {TopicPartition("t", 0), TopicPartition("t", 1)}


# ------------------------------------------------------------------ durability and retention
def test_offsets_and_groups_survive_a_coordinator_restart():
    b = make(records=20)
    a = b.consumer("t", group_id="g", enable_auto_commit=False, auto_offset_reset="earliest")
    run(b, [a], 300)
    a.commit()
    generation = a.generation
    b.coordinator.crash()
    b.run(50)
    b.coordinator.restart()
    run(b, [a], 500)
    assert b.coordinator.committed("g", TopicPartition("t", 0)) == 5
    assert a.generation == generation                      # the group came back from the log as it was
    a.commit()                                             # and the member can still commit


def test_the_offsets_log_is_compacted_and_replays_to_the_same_tables():
    b = make(records=4, config=GroupConfig.fast(offsets_segment_bytes=1024))
    a = b.consumer(group_id="g", enable_auto_commit=False)
    a.assign([TopicPartition("t", 0)])
    for i in range(200):
        a.commit({TopicPartition("t", 0): i})
    log = b.coordinator.store.log
    assert len(list(log.records())) < 60                   # 200 commits, compacted
    before = dict(b.coordinator.store.offsets)
    b.coordinator.store.load()
    assert b.coordinator.store.offsets == before and a.committed(TopicPartition("t", 0)) == 199


def test_offsets_of_an_empty_group_expire_after_the_retention():
    b = make(records=10, config=GroupConfig.fast(offsets_retention_minutes=0.1,
                                                 offsets_retention_check_interval_ms=1_000))
    a = b.consumer("t", group_id="g", enable_auto_commit=False, auto_offset_reset="earliest")
    run(b, [a], 300)
    a.commit()
    a.close()
    b.run(4_000)
    assert b.coordinator.committed("g", TopicPartition("t", 0)) == 3   # 6 s retention: still there
    b.run(4_000)
    assert b.coordinator.committed("g", TopicPartition("t", 0)) is None
    assert b.coordinator.group("g") is None                            # no members, no offsets: Dead
    n = b.consumer(group_id="g", auto_offset_reset="latest")
    n.assign([TopicPartition("t", 0)])
    assert n.position(TopicPartition("t", 0)) == 3                       # the reset policy applies again
