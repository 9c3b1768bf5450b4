"""Classic eager vs classic cooperative-sticky vs KIP-848 on the same workload: what one join costs.

:func:`join_cost` runs one seeded workload: ``members`` consumers share ``2 * members`` partitions, each
application polls every 10..1000 ms (seeded: the time it spends processing a batch), the group settles,
then one more member joins. Measured from that join:

* **time to a settled assignment** -- until every partition has an owner again, the newcomer owns some,
  and the group is stable (classic: Stable and every member synced; KIP-848: every member reconciled to
  the target epoch);
* **partition-seconds without an owner** -- summed over partitions, the time nobody could consume them:
  the stop-the-world cost (eager revokes everything; cooperative and KIP-848 only what moves).

The three protocols see the same partitions, poll periods and seed; only ``protocol`` differs:
``"eager"`` (range assignor), ``"cooperative"`` (cooperative-sticky, KIP-429) and ``"kip848"``
(``group_protocol="consumer"``, the server's uniform assignor). ``fast=True`` uses msglib's fast timers
(a hundredfold shorter), for a notebook; the benchmark uses Kafka's defaults.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any, Iterable

from msglib.groups.local import LocalBroker

PROTOCOLS = ("eager", "cooperative", "kip848")


@dataclass(frozen=True)
class JoinCost:
    protocol: str
    members: int
    seed: int
    settle_ms: float               # from the join to a settled assignment
    unowned_partition_s: float     # partition-seconds without an owner meanwhile
    moved: int                     # partitions that changed owner


def _consumer(b: LocalBroker, protocol: str) -> Any:
    if protocol == "eager":
        return b.consumer("t", group_id="g", partition_assignment_strategy=["range"])
    if protocol == "cooperative":
        return b.consumer("t", group_id="g", partition_assignment_strategy=["cooperative-sticky"])
    if protocol == "kip848":
        return b.consumer("t", group_id="g", group_protocol="consumer")
    raise ValueError(f"protocol must be one of {PROTOCOLS}, not {protocol!r}")


def _settled(b: LocalBroker, protocol: str, consumers: list) -> bool:
    if not all(c._coordinator.active for c in consumers):
        return False
    if protocol == "kip848":
        group = b.coordinator.consumer_groups.group("g")
        return group is not None and group.state == "Stable"
    group = b.coordinator.group("g")
    return group is not None and group.state == "Stable"


def join_cost(protocol: str, members: int = 4, seed: int = 0, *, fast: bool = False,
              timeout_ms: float | None = None) -> JoinCost:
    """One join into a settled group of ``members`` (see the module docstring)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, not {protocol!r}")
    if members < 1:
        raise ValueError(f"members must be >= 1, got {members}")
    b = LocalBroker(seed=seed, fast=fast)
    scale = 0.01 if fast else 1.0
    rng = b.sim.random(f"join-cost/{members}")
    partitions = 2 * members
    b.create_topic("t", partitions)
    consumers: list = []
    period: dict[str, float] = {}
    next_poll: dict[str, float] = {}
    tick = max(1.0, 10 * scale)

    def add() -> None:
        c = _consumer(b, protocol)
        consumers.append(c)
        period[c.name] = rng.uniform(10, 1_000) * scale
        next_poll[c.name] = b.sim.now

    def step(ms: float) -> None:
        end = b.sim.now + ms
        while b.sim.now < end:
            for c in consumers:
                if b.sim.now >= next_poll[c.name]:
                    c.poll(0)
                    next_poll[c.name] = b.sim.now + period[c.name]
            b.run(tick)

    for _ in range(members):
        add()
    warmup = (60_000 if protocol == "kip848" else 30_000) * scale
    step(warmup)
    before = {tp: c.name for c in consumers for tp in c.assignment()}
    if len(before) != partitions or not _settled(b, protocol, consumers):
        raise RuntimeError(f"the group of {members} ({protocol}, seed {seed}) did not settle before the join")
    add()
    start = b.sim.now
    unowned_ms = 0.0
    limit = timeout_ms if timeout_ms is not None else 120_000 * scale
    while b.sim.now - start < limit:
        step(tick)
        owned = {tp: c.name for c in consumers for tp in c.assignment()}
        unowned_ms += tick * (partitions - len(owned))
        if len(owned) == partitions and consumers[-1].assignment() and _settled(b, protocol, consumers):
            moved = sum(1 for tp, who in owned.items() if before[tp] != who)
            return JoinCost(protocol, members, seed, b.sim.now - start, unowned_ms / 1000, moved)
    raise RuntimeError(f"no settled group {limit:g} ms after the join (members={members}, {protocol}, seed {seed})")


@dataclass(frozen=True)
class Summary:
    protocol: str
    members: int
    seeds: int
    settle_ms_median: float
    settle_ms_mean: float
    unowned_s_median: float
    unowned_s_mean: float


def compare(members: int = 4, seeds: Iterable[int] = range(5), *, fast: bool = False,
            protocols: Iterable[str] = PROTOCOLS) -> dict[str, list[JoinCost]]:
    """:func:`join_cost` for each protocol over the same seeds."""
    seeds = list(seeds)
    return {proto: [join_cost(proto, members, s, fast=fast) for s in seeds] for proto in protocols}


def summarize(costs: dict[str, list[JoinCost]]) -> list[Summary]:
    out = []
    for proto, runs in costs.items():
        ms = [r.settle_ms for r in runs]
        gap = [r.unowned_partition_s for r in runs]
        out.append(Summary(proto, runs[0].members if runs else 0, len(runs), statistics.median(ms),
                           statistics.fmean(ms), statistics.median(gap), statistics.fmean(gap)))
    return out


__all__ = ["JoinCost", "PROTOCOLS", "Summary", "compare", "join_cost", "summarize"]
