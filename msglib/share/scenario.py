"""Seeded share-group runs: consumers that crash, stall past their acquisition locks and meet poison records.

One run: a partition with ``records`` records, ``consumers`` share consumers in one share group. Each
consumer loops: ShareFetch (acquire a few records), process each one (10-300 ms; sometimes it stalls for
longer than the acquisition lock, so its acknowledgement arrives late and must be refused), then
acknowledge: ACCEPT, or RELEASE after a transient failure; a *poison* record always fails (RELEASE, or
REJECT when the consumer recognises it). Consumers crash at random (their locks expire; they come back as
a new member), the share-partition leader fails over (every lock is lost at once; the state is reloaded from
its durable snapshot), and the run ends quiet: every consumer alive, until every record is delivery complete or
the time is up. ``msglib.check.share`` then judges the share-partition's history.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from msglib.check.share import ShareViolation, check_history, size, smallest
from msglib.share.config import ShareGroupConfig
from msglib.share.partition import SharePartition, Transition
from msglib.share.policies import transition as default_transition
from msglib.share.record import AcknowledgeType, RecordState
from msglib.sim import Simulation

@dataclass
class ShareRunResult:
    """What one seeded run did, and what the checker found."""

    seed: int
    records: int
    consumers: int
    limit: int
    violations: list[ShareViolation]
    deliveries: int = 0
    accepted: int = 0
    archived: int = 0
    late_acks_refused: int = 0
    crashes: int = 0
    lock_expiries: int = 0
    failovers: int = 0
    finished_ms: float = 0.0
    events: int = 0
    poison: frozenset[int] = frozenset()
    crash_times: list[float] = field(default_factory=list)
    timeline: list[tuple[float, int, int, list[RecordState]]] = field(default_factory=list)
    partition: SharePartition | None = None

    @property
    def ok(self) -> bool:
        return not self.violations

    def describe(self) -> str:
        return (f"seed {self.seed}: {self.records} records, {self.consumers} consumers, delivery count limit "
                f"{self.limit}")

@dataclass
class _Consumer:
    name: str
    incarnation: int = 0
    alive: bool = True

    @property
    def member(self) -> str:
        return self.name if self.incarnation == 0 else f"{self.name}.{self.incarnation}"

def run_share_schedule(seed: int, *, transition: Transition = default_transition, records: int | None = None,
                       consumers: int | None = None, limit: int | None = None, crash_rate: float = 1.0,
                       poison: set[int] | None = None, lock_ms: float = 1_000.0, max_record_locks: int | None = None,
                       sample_ms: float | None = None) -> ShareRunResult:
    """One seeded run; sizes are drawn from the seed unless given. ``crash_rate`` scales the faults (0: none).

    ``poison``: the offsets that always fail (default: 15% drawn from the seed). ``sample_ms``: also record
    the window every ``sample_ms`` (``result.timeline``: time, SPSO, SPEO, each offset's state) for pictures.
    """
    sim = Simulation(seed)
    rng = sim.random("share-schedule")
    n_records = records if records is not None else rng.randint(3, 24)
    n_consumers = consumers if consumers is not None else rng.randint(1, 4)
    the_limit = limit if limit is not None else rng.choice([1, 2, 3, 5, 5])
    window = rng.choice([4, 8, 200])
    config = ShareGroupConfig(delivery_count_limit=the_limit, record_lock_duration_ms=lock_ms,
                              partition_max_record_locks=max_record_locks or window)
    partition = SharePartition(sim, lambda: n_records, config=config, transition=transition)
    drawn = {o for o in range(n_records) if rng.random() < 0.15}
    poison = set(poison) if poison is not None else drawn
    result = ShareRunResult(seed, n_records, n_consumers, the_limit, [], poison=frozenset(poison),
                            partition=partition)
    fault_end = 20_000.0
    deadline = fault_end + 60_000.0 + the_limit * 4 * lock_ms * max(1, n_records // 4)
    work = sim.random("work")
    faults = sim.random("faults")
    group = [_Consumer(f"c{i}") for i in range(n_consumers)]

    def poll(c: _Consumer, incarnation: int) -> None:
        if not c.alive or c.incarnation != incarnation or sim.now > deadline:
            return
        got = partition.acquire(c.member, max_records=work.randint(1, 5))
        result.deliveries += len(got)
        if not got:
            sim.schedule(work.uniform(20, 100), poll, c, incarnation)
            return
        process(c, incarnation, [r.offset for r in got], 0)

    def process(c: _Consumer, incarnation: int, offsets: list[int], i: int) -> None:
        if not c.alive or c.incarnation != incarnation:
            return
        if i == len(offsets):
            sim.schedule(work.uniform(0, 30), poll, c, incarnation)
            return
        stall = work.random() < 0.08 * crash_rate
        took = work.uniform(1.2, 2.5) * lock_ms if stall else work.uniform(10, 300)
        sim.schedule(took, finish, c, incarnation, offsets, i)

    def finish(c: _Consumer, incarnation: int, offsets: list[int], i: int) -> None:
        if not c.alive or c.incarnation != incarnation:
            return
        offset = offsets[i]
        if offset in poison:
            ack = AcknowledgeType.REJECT if work.random() < 0.3 else AcknowledgeType.RELEASE
        else:
            ack = AcknowledgeType.RELEASE if work.random() < 0.1 else AcknowledgeType.ACCEPT
        if partition.acknowledge(c.member, offset, ack) is not None:
            result.late_acks_refused += 1
        process(c, incarnation, offsets, i + 1)

    def crash(c: _Consumer) -> None:
        if c.alive:
            c.alive = False                    # its acquired records stay locked until the locks expire
            result.crashes += 1
            result.crash_times.append(sim.now)
            sim.schedule(faults.uniform(500, 4_000), restart, c)

    def restart(c: _Consumer) -> None:
        c.alive = True
        c.incarnation += 1                     # a new member id, as a restarted share consumer gets
        sim.schedule(0, poll, c, c.incarnation)

    def leader_failover() -> None:
        # the share-partition leader moves: locks are lost; the new leader reads __share_group_state
        result.failovers += 1
        partition.fail_over()
        snapshot = partition.snapshot()
        partition.restore(snapshot)
        if partition.snapshot() != snapshot:
            raise AssertionError("the share-partition state did not survive a snapshot and restore")

    t = 0.0
    while crash_rate > 0:
        t += faults.expovariate(crash_rate / 15_000.0)
        if t > fault_end:
            break
        sim.at(t, leader_failover)
    for c in group:
        sim.schedule(work.uniform(0, 50), poll, c, 0)
        t = 0.0
        while crash_rate > 0:
            t += faults.expovariate(crash_rate / 6_000.0)
            if t > fault_end:
                break
            sim.at(t, crash, c)

    def sample() -> None:
        result.timeline.append((sim.now, partition.spso, partition.speo,
                                [partition.state_of(o) for o in range(n_records)]))
        if partition.spso < n_records and sample_ms:
            sim.schedule(sample_ms, sample)

    if sample_ms:
        sim.schedule(0, sample)

    def complete() -> bool:
        return partition.spso >= n_records
    sim.run_until(complete, until=deadline)
    result.finished_ms = sim.now
    if sample_ms:
        sample()
    result.events = len(partition.history)
    finals = {o: partition.state_of(o) for o in range(n_records)}
    result.accepted = sum(1 for s in finals.values() if s is RecordState.ACKNOWLEDGED)
    result.archived = sum(1 for s in finals.values() if s is RecordState.ARCHIVED)
    result.lock_expiries = sum(1 for e in partition.history if e.event == "lock_expired" and e.applied)
    result.violations = check_history(partition.history, the_limit, log_end=n_records, final_states=finals)
    return result

@dataclass
class ShareRunSummary:
    """Many seeded runs: totals, and the smallest failing run (its seed and record history)."""

    runs: int = 0
    failed: list[ShareRunResult] = field(default_factory=list)
    deliveries: int = 0
    accepted: int = 0
    archived: int = 0
    late_acks_refused: int = 0
    crashes: int = 0
    lock_expiries: int = 0
    failovers: int = 0
    records: int = 0

    def smallest_failure(self) -> tuple[ShareRunResult, ShareViolation] | None:
        best = None
        for r in self.failed:
            v = smallest(r.violations)
            key = (size(v), r.records * r.consumers, r.seed) if v else None
            if v is not None and (best is None or key < best[0]):
                best = (key, r, v)
        return None if best is None else (best[1], best[2])

def run_share_schedules(seeds: list[int] | range, *, transition: Transition = default_transition,
                        stop_after: int | None = None, **kwargs) -> ShareRunSummary:
    """Run every seed; stop early after ``stop_after`` failing runs (None: run them all)."""
    summary = ShareRunSummary()
    for seed in seeds:
        r = run_share_schedule(seed, transition=transition, **kwargs)
        summary.runs += 1
        summary.records += r.records
        summary.deliveries += r.deliveries
        summary.accepted += r.accepted
        summary.archived += r.archived
        summary.late_acks_refused += r.late_acks_refused
        summary.crashes += r.crashes
        summary.lock_expiries += r.lock_expiries
        summary.failovers += r.failovers
        if not r.ok:
            summary.failed.append(r)
            if stop_after is not None and len(summary.failed) >= stop_after:
                break
    return summary

def explain(result: ShareRunResult, violation: ShareViolation) -> str:
    """A readable account: the run, the broken rule and the record's smallest history."""
    return (f"{result.describe()}\nrule broken: {violation.rule}\noffset {violation.offset}: {violation.what}\n"
            f"history of that record:\n{violation.history()}")
