"""Two consumers of one group, polled in turn by one application thread, settle on a split assignment.

A joining member's JoinGroup is answered while the *other* consumer polls. Like kafka-python 3.x (its
join-and-sync task runs on the background IO thread) the member sends SyncGroup at once instead of at its
own next poll; before, with the fast timers (session 450 ms) and polls of >= 500 ms, the member missed its
session while waiting to poll, and the group rebalanced for ever.
"""
from __future__ import annotations

import pytest

from msglib.cluster import Cluster
from msglib.groups.local import LocalBroker

SEEDS = range(25)


def _settles(backend, timeout_ms: int, rounds: int = 6) -> bool:
    backend.create_topic("t", partitions=4)
    a = backend.consumer("t", group_id="g", auto_offset_reset="earliest")
    b = backend.consumer("t", group_id="g", auto_offset_reset="earliest")
    for _ in range(rounds):
        a.poll(timeout_ms=timeout_ms)
        b.poll(timeout_ms=timeout_ms)
    mine, theirs = a.assignment(), b.assignment()
    stable = a.generation == b.generation and a.generation > 0
    return bool(mine and theirs and not mine & theirs and len(mine | theirs) == 4 and stable)


@pytest.mark.parametrize("timeout_ms", [500, 1_000])
def test_two_consumers_polled_in_turn_settle_on_a_local_broker(timeout_ms):
    failed = [s for s in SEEDS if not _settles(LocalBroker(seed=s, fast=True), timeout_ms)]
    assert failed == [], f"seeds that did not settle: {failed}"


@pytest.mark.slow
def test_two_consumers_polled_in_turn_settle_on_a_cluster():
    failed = [s for s in SEEDS if not _settles(Cluster(brokers=3, seed=s), 500)]
    assert failed == [], f"seeds that did not settle: {failed}"


def test_once_settled_the_generation_stays():
    broker = LocalBroker(seed=3, fast=True)
    broker.create_topic("t", partitions=4)
    a = broker.consumer("t", group_id="g")
    b = broker.consumer("t", group_id="g")
    generations = []
    for _ in range(12):
        a.poll(timeout_ms=500)
        b.poll(timeout_ms=500)
        generations.append(broker.coordinator.group("g").generation_id)
    assert len(set(generations[4:])) == 1, generations
