"""Assignors: the exact outputs of section J of the semantics reference, and their properties."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from msglib.groups.assignors import (CooperativeStickyAssignor, FunctionAssignor, RangeAssignor, RoundRobinAssignor,
                                     StickyAssignor, cooperative_adjust, make_assignor, problems, range_assign,
                                     roundrobin_assign, sorted_members, sticky_assign)
from msglib.groups.protocol import Subscription, TopicPartition


def subs(spec: dict[str, list[str]], owned: dict[str, list[str]] | None = None, generation: int = 1):
    owned = owned or {}
    return {m: Subscription(tuple(ts), tuple(tp_(x) for x in owned.get(m, [])), generation) for m, ts in spec.items()}


def tp_(s: str) -> TopicPartition:
    topic, _, p = s.rpartition("p")
    return TopicPartition(topic, int(p))


def names(assignment):
    return {m: sorted(f"{tp.topic}p{tp.partition}" for tp in tps) for m, tps in assignment.items()}


def same(assignment, expected: dict[str, list[str]]):
    assert names(assignment) == {m: sorted(v) for m, v in expected.items()}


def parts(topic, ps):
    return [f"{topic}p{p}" for p in ps]


ALL3 = ["C0", "C1", "C2"]


# ---------------------------------------------------------------- range (#102-#108)
def test_range_102_seven_partitions_three_members():
    same(range_assign({"t": 7}, subs({m: ["t"] for m in ALL3})),
         {"C0": parts("t", [0, 1, 2]), "C1": parts("t", [3, 4]), "C2": parts("t", [5, 6])})


def test_range_103_ten_partitions():
    same(range_assign({"t": 10}, subs({m: ["t"] for m in ALL3})),
         {"C0": parts("t", range(0, 4)), "C1": parts("t", [4, 5, 6]), "C2": parts("t", [7, 8, 9])})


def test_range_104_two_topics_two_members():
    same(range_assign({"t0": 3, "t1": 3}, subs({"C0": ["t0", "t1"], "C1": ["t0", "t1"]})),
         {"C0": ["t0p0", "t0p1", "t1p0", "t1p1"], "C1": ["t0p2", "t1p2"]})


def test_range_105_imbalance_accumulates_across_topics():
    out = range_assign({"t0": 7, "t1": 7}, subs({m: ["t0", "t1"] for m in ALL3}))
    same(out, {"C0": parts("t0", [0, 1, 2]) + parts("t1", [0, 1, 2]),
               "C1": parts("t0", [3, 4]) + parts("t1", [3, 4]), "C2": parts("t0", [5, 6]) + parts("t1", [5, 6])})
    assert [len(out[m]) for m in ALL3] == [6, 4, 4]


def test_range_106_more_members_than_partitions():
    same(range_assign({"t": 2}, subs({m: ["t"] for m in ALL3})), {"C0": ["tp0"], "C1": ["tp1"], "C2": []})


def test_range_107_mixed_subscriptions():
    same(range_assign({"t1": 3, "t2": 2}, subs({"c1": ["t1"], "c2": ["t1", "t2"], "c3": ["t1"]})),
         {"c1": ["t1p0"], "c2": ["t1p1", "t2p0", "t2p1"], "c3": ["t1p2"]})


def test_range_108_member_ids_sort_as_strings():
    same(range_assign({"t": 3}, subs({"C2": ["t"], "C10": ["t"]})), {"C10": ["tp0", "tp1"], "C2": ["tp2"]})


# ---------------------------------------------------------------- round robin (#109-#114)
def test_roundrobin_109():
    same(roundrobin_assign({"t0": 3, "t1": 3}, subs({"C0": ["t0", "t1"], "C1": ["t0", "t1"]})),
         {"C0": ["t0p0", "t0p2", "t1p1"], "C1": ["t0p1", "t1p0", "t1p2"]})


def test_roundrobin_110():
    same(roundrobin_assign({"t0": 3, "t1": 3}, subs({m: ["t0", "t1"] for m in ALL3})),
         {"C0": ["t0p0", "t1p0"], "C1": ["t0p1", "t1p1"], "C2": ["t0p2", "t1p2"]})


def test_roundrobin_111():
    same(roundrobin_assign({"t": 7}, subs({m: ["t"] for m in ALL3})),
         {"C0": parts("t", [0, 3, 6]), "C1": parts("t", [1, 4]), "C2": parts("t", [2, 5])})


def test_roundrobin_112():
    same(roundrobin_assign({"t0": 7, "t1": 7}, subs({m: ["t0", "t1"] for m in ALL3})),
         {"C0": ["t0p0", "t0p3", "t0p6", "t1p2", "t1p5"], "C1": ["t0p1", "t0p4", "t1p0", "t1p3", "t1p6"],
          "C2": ["t0p2", "t0p5", "t1p1", "t1p4"]})


def test_roundrobin_113_skips_unsubscribed_members():
    same(roundrobin_assign({"t0": 1, "t1": 2, "t2": 3},
                           subs({"C0": ["t0"], "C1": ["t0", "t1"], "C2": ["t0", "t1", "t2"]})),
         {"C0": ["t0p0"], "C1": ["t1p0"], "C2": ["t1p1", "t2p0", "t2p1", "t2p2"]})


EX114 = {"C0": ["t0p0", "t1p1", "t3p0"], "C1": ["t0p1", "t2p0", "t3p1"], "C2": ["t1p0", "t2p1"]}
FOUR = {f"t{i}": 2 for i in range(4)}


def test_roundrobin_114():
    same(roundrobin_assign(FOUR, subs({m: list(FOUR) for m in ALL3})), EX114)


# ---------------------------------------------------------------- sticky (#115-#118)
def test_sticky_116_keeps_every_ownership_when_a_member_leaves():
    start = subs({"C0": list(FOUR), "C2": list(FOUR)}, owned={"C0": EX114["C0"], "C2": EX114["C2"]})
    same(sticky_assign(FOUR, start), {"C0": ["t0p0", "t1p1", "t3p0", "t2p0"], "C2": ["t1p0", "t2p1", "t0p1", "t3p1"]})
    # round robin would move almost everything
    same(roundrobin_assign(FOUR, start), {"C0": ["t0p0", "t1p0", "t2p0", "t3p0"], "C2": ["t0p1", "t1p1", "t2p1", "t3p1"]})


def test_sticky_117_unequal_subscriptions():
    spec = {"C0": ["t0"], "C1": ["t0", "t1"], "C2": ["t0", "t1", "t2"]}
    ppt = {"t0": 1, "t1": 2, "t2": 3}
    first = sticky_assign(ppt, subs(spec))
    same(first, {"C0": ["t0p0"], "C1": ["t1p0", "t1p1"], "C2": ["t2p0", "t2p1", "t2p2"]})
    after = sticky_assign(ppt, subs({"C1": spec["C1"], "C2": spec["C2"]},
                                    owned={"C1": names(first)["C1"], "C2": names(first)["C2"]}))
    same(after, {"C1": ["t1p0", "t1p1", "t0p0"], "C2": ["t2p0", "t2p1", "t2p2"]})


def test_cooperative_118_two_phase_move():
    gen1 = subs({"C0": ["t"], "C1": ["t"]}, owned={"C0": ["tp0", "tp1", "tp2"]})
    a = CooperativeStickyAssignor().assign({"t": 3}, gen1)
    assert len(a["C0"]) == 2 and a["C1"] == []            # one partition revoked, given to nobody yet
    (x,) = set(tp_(s) for s in ["tp0", "tp1", "tp2"]) - set(a["C0"])
    gen2 = subs({"C0": ["t"], "C1": ["t"]}, owned={"C0": [f"tp{p.partition}" for p in a["C0"]]}, generation=2)
    b = CooperativeStickyAssignor().assign({"t": 3}, gen2)
    assert b["C1"] == [x] and b["C0"] == a["C0"]           # C0 never lost its other two


def test_sticky_conflicting_claims_the_higher_generation_wins():
    s = {"A": Subscription(("t",), (TopicPartition("t", 0),), 3), "B": Subscription(("t",), (TopicPartition("t", 0),), 5)}
    assert sticky_assign({"t": 2}, s)["B"] == [TopicPartition("t", 0)]


# ---------------------------------------------------------------- properties
members_st = st.lists(st.sampled_from([f"m{i}" for i in range(12)]), min_size=1, max_size=8, unique=True)


@st.composite
def groups(draw):
    topics = {f"t{i}": draw(st.integers(0, 7)) for i in range(draw(st.integers(1, 4)))}
    ms = draw(members_st)
    spec = {m: draw(st.lists(st.sampled_from(sorted(topics)), min_size=1, unique=True)) for m in ms}
    return topics, spec


@settings(database=None, deadline=None, max_examples=150)
@given(groups(), st.sampled_from(["range", "roundrobin", "sticky", "cooperative-sticky"]))
def test_every_partition_assigned_exactly_once_to_a_subscriber(group, name):
    ppt, spec = group
    out = make_assignor(name).assign(ppt, subs(spec))
    assert problems(ppt, subs(spec), out) == []
    assert out == make_assignor(name).assign(ppt, subs(spec))   # deterministic


@settings(database=None, deadline=None, max_examples=100)
@given(groups())
def test_sticky_is_balanced_where_subscriptions_allow(group):
    ppt, spec = group
    out = sticky_assign(ppt, subs(spec))
    for a in out:
        for b in out:
            if len(out[a]) - len(out[b]) >= 2:
                assert not any(tp.topic in spec[b] for tp in out[a]), f"{b} could take one of {a}'s partitions"


@settings(database=None, deadline=None, max_examples=100)
@given(st.integers(1, 20), st.integers(1, 8), st.data())
def test_same_subscriptions_balance_within_one_and_sticky_keeps_what_it_can(n, m, data):
    members = [f"c{i}" for i in range(m)]
    ppt = {"t": n}
    first = sticky_assign(ppt, subs({x: ["t"] for x in members}))
    counts = [len(v) for v in first.values()]
    assert max(counts) - min(counts) <= 1
    # one member leaves: everything the others owned stays where it was
    leaver = data.draw(st.sampled_from(members))
    rest = [x for x in members if x != leaver]
    if rest:
        owned = {x: [f"tp{tp.partition}" for tp in first[x]] for x in rest}
        second = sticky_assign(ppt, subs({x: ["t"] for x in rest}, owned=owned))
        for x in rest:
            assert set(first[x]) <= set(second[x])


@settings(database=None, deadline=None, max_examples=100)
@given(groups(), st.data())
def test_cooperative_never_gives_a_partition_to_a_new_owner_in_the_same_rebalance(group, data):
    ppt, spec = group
    before = sticky_assign(ppt, subs(spec))
    # some members leave, some join: the survivors claim what they own
    survivors = data.draw(st.lists(st.sampled_from(sorted(spec)), min_size=1, unique=True))
    newcomers = {f"n{i}": spec[survivors[0]] for i in range(data.draw(st.integers(0, 3)))}
    spec2 = {**{s: spec[s] for s in survivors}, **newcomers}
    owned = {s: [f"{tp.topic}p{tp.partition}" for tp in before[s]] for s in survivors}
    s2 = subs(spec2, owned=owned)
    out = CooperativeStickyAssignor().assign(ppt, s2)
    assert problems(ppt, s2, out, complete=False) == []
    for m, tps in out.items():
        for tp in tps:
            for other, sub in s2.items():
                assert other == m or tp not in sub.owned_partitions, f"{tp} moves from {other} to {m} in one step"


# ---------------------------------------------------------------- plumbing
def test_static_members_sort_first_by_instance_id():
    s = {"a": Subscription(("t",)), "z": Subscription(("t",), group_instance_id="i2"),
         "y": Subscription(("t",), group_instance_id="i1")}
    assert sorted_members(s) == ["y", "z", "a"]


def test_function_assignor_simple_form_and_errors():
    seen = {}

    def mine(ppt, members):
        seen.update(members)
        return {m: [("t", 0)] if i == 0 else [] for i, m in enumerate(sorted(members))}
    a = FunctionAssignor("mine", mine, simple=True)
    assert a.assign({"t": 1}, subs({"b": ["t"], "a": ["t"]})) == {"a": [TopicPartition("t", 0)], "b": []}
    assert seen == {"a": ["t"], "b": ["t"]}
    with pytest.raises(TypeError, match="must return a dict"):
        FunctionAssignor("bad", lambda p, s: [1]).assign({"t": 1}, subs({"a": ["t"]}))
    with pytest.raises(ValueError, match="unknown assignor"):
        make_assignor("nope")
    assert make_assignor(RangeAssignor).name == "range"
    assert make_assignor(RoundRobinAssignor()).name == "roundrobin"
    assert StickyAssignor().rebalance_protocols == ("eager",)
    assert "cooperative" in CooperativeStickyAssignor().rebalance_protocols


def test_problems_names_each_mistake():
    s = subs({"a": ["t"], "b": ["u"]})
    found = problems({"t": 2, "u": 1}, s, {"a": [TopicPartition("t", 0), TopicPartition("t", 0),
                                                 TopicPartition("u", 0), TopicPartition("t", 5)]})
    text = " | ".join(found)
    for piece in ("'b' is missing", "assigned twice", "does not subscribe to 'u'", "t-5, which does not exist",
                  "t-1 is assigned to nobody"):
        assert piece in text, (piece, text)


def test_cooperative_adjust_holds_back_only_moving_partitions():
    s = subs({"a": ["t"], "b": ["t"]}, owned={"a": ["tp0", "tp1"]})
    target = {"a": [TopicPartition("t", 0)], "b": [TopicPartition("t", 1), TopicPartition("t", 2)]}
    assert cooperative_adjust(target, s) == {"a": [TopicPartition("t", 0)], "b": [TopicPartition("t", 2)]}
