"""msglib's cooperative-sticky rule (KIP-429) and the exercise checker that judges it."""
from __future__ import annotations

import itertools
import random

import pytest

from msglib.grading import ex05_cooperative as X
from msglib.groups.assignors import CooperativeStickyAssignor, cooperative_sticky_assign, resolve_claims
from msglib.protocol import Subscription, TopicPartition


def _brute_minimum(n: int, owned: dict[str, list]) -> int:
    """The fewest moves over every balanced final count vector (small cases only)."""
    m = len(owned)
    base, extra = divmod(n, m)
    best = None
    for larger in itertools.combinations(list(owned), extra):
        kept = sum(min(len(owned[x]), base + (x in larger)) for x in owned)
        moves = sum(len(t) for t in owned.values()) - kept
        best = moves if best is None else min(best, moves)
    return best


def test_minimum_revocations_matches_a_brute_force_search():
    rng = random.Random(1)
    for _ in range(400):
        partitions, owned = X.random_case(rng)
        assert X.minimum_revocations(len(partitions), owned) == _brute_minimum(len(partitions), owned)


def test_msglib_rule_settles_every_random_rebalance():
    rng = random.Random(2)
    for _ in range(500):
        partitions, owned = X.random_case(rng)
        X.judge_until_settled(cooperative_sticky_assign, partitions, owned)


def test_a_partition_that_moves_is_held_back_for_one_rebalance():
    t = [TopicPartition("t", p) for p in range(6)]
    out = cooperative_sticky_assign(t, {"a": t[:3], "b": t[3:], "c": []})
    assert out == {"a": t[:2], "b": t[3:5], "c": []}
    out = cooperative_sticky_assign(t, out)
    assert out == {"a": t[:2], "b": t[3:5], "c": [t[2], t[5]]}


def test_stale_claims_lose_to_newer_ones_and_ties_are_contested():
    tp = TopicPartition("t", 0)
    owned, contested = resolve_claims({"zombie": Subscription(("t",), (tp,), 3),
                                       "live": Subscription(("t",), (tp,), 5)})
    assert owned == {"live": [tp], "zombie": []} and not contested
    owned, contested = resolve_claims({"a": Subscription(("t",), (tp,), 5), "b": Subscription(("t",), (tp,), 5)})
    assert contested == {tp} and owned == {"a": [], "b": []}
    assignor = CooperativeStickyAssignor(assign=cooperative_sticky_assign)
    out = assignor.assign({"t": 2}, {"a": Subscription(("t",), (tp,), 5), "b": Subscription(("t",), (tp,), 5)})
    assert all(tp not in tps for tps in out.values()), "a contested partition is given to nobody this time"


@pytest.mark.slow   # 200 live groups, about 15 s
def test_msglib_rule_in_live_groups_never_gives_a_partition_two_owners():
    for s in range(200):
        X._live(cooperative_sticky_assign, s, X.random_events(s, 6, 1 + s % 3), partitions=3 + s % 6,
                consumers=1 + s % 3)
