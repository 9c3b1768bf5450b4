"""Seeded runs of the KRaft quorum judged by ``msglib.check.kraft``, and KIP-966's ELR story.

- :func:`run_quorum`: three controllers and three brokers under a random fault schedule (crashes and
  restarts, partitions, cuts, pauses, slow links, message loss) plus ``ControllerFailover`` faults;
  the admin creates topics meanwhile. Returns the history and the checker's verdict.
- :func:`elr_scenario`: the "last replica standing" example of KIP-966 on the controller's decisions,
  run with and without ELR, with each replica's log end offset tracked so the committed records lost
  (or kept) can be counted.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from msglib.check.kraft import check
from msglib.check.kafka import CheckResult
from msglib.kraft.controller import MetadataImage, ReplicationControl
from msglib.kraft.policies import Policies, elect_partition_leader_isr_only
from msglib.kraft.quorum import ControllerFailover, KRaftQuorum
from msglib.kraft.records import NO_LEADER, PartitionRecord, RegisterBrokerRecord, UnfenceBrokerRecord
from msglib.sim.faults import random_schedule
from msglib.sim.history import History


@dataclass
class QuorumRun:
    seed: int
    history: History
    result: CheckResult
    quorum: KRaftQuorum

    @property
    def valid(self) -> bool:
        return self.result.valid

    def report(self) -> str:
        return f"seed {self.seed}: " + self.result.report()


def run_quorum(seed: int, *, policies: Policies | None = None, duration_ms: float = 2000.0,
               settle_ms: float = 1500.0, failovers: int = 2, loss: float = 0.02,
               mean_fault_interval_ms: float = 250.0, topics: int = 4, controllers: int = 3,
               brokers: int = 3, max_down: int | None = 1, duplicate: float = 0.0) -> QuorumRun:
    """One seeded run: faults for ``duration_ms``, healed, then ``settle_ms`` to recover; then the check.

    ``max_down`` caps the controllers crashed at once by the random schedule (``ControllerFailover``
    may add one more); ``None`` lets all of them crash."""
    q = KRaftQuorum(seed, policies=policies, loss=loss, duplicate=duplicate, controllers=controllers,
                    brokers=brokers)
    q.history.meta.update({"runner": "msglib.kraft.scenario:run_quorum_history",
                           "params": {"seed": seed, "duration_ms": duration_ms, "settle_ms": settle_ms,
                                      "failovers": failovers, "loss": loss,
                                      "mean_fault_interval_ms": mean_fault_interval_ms, "topics": topics,
                                      "controllers": controllers, "brokers": brokers, "max_down": max_down,
                                      "duplicate": duplicate}})
    rng = q.sim.random("faults")
    schedule = random_schedule(rng, list(q.controllers), duration_ms, mean_interval_ms=mean_fault_interval_ms,
                               max_down=max_down, network_only=list(q.brokers))
    for _ in range(failovers):
        schedule.add(round(rng.uniform(0.1, 0.9) * duration_ms, 1),
                     ControllerFailover(round(rng.uniform(50.0, 400.0), 1)))
    q.schedule_faults(schedule)
    q.create_topics(topics)
    q.sim.run(until=duration_ms + settle_ms)
    history = q.finish()
    return QuorumRun(seed, history, check(history), q)


def run_quorum_history(**params) -> History:
    """``History.replay``'s entry point: the same run, its history only."""
    return run_quorum(**params).history


# -- KIP-966's "last replica standing" -----------------------------------------------------------------------
@dataclass
class ElrStep:
    what: str
    leader: int
    isr: tuple[int, ...]
    elr: tuple[int, ...]
    high_watermark: int
    log_end: dict[int, int]


@dataclass
class ElrOutcome:
    mode: str
    steps: list[ElrStep] = field(default_factory=list)
    leader: int = NO_LEADER
    committed_lost: int = 0

    def table(self) -> str:
        lines = [f"{self.mode}:"]
        for s in self.steps:
            leo = ", ".join(f"b{b}={o}" for b, o in sorted(s.log_end.items()))
            lines.append(f"  {s.what:<44} leader={s.leader:>2} isr={list(s.isr)} elr={list(s.elr)} "
                         f"hwm={s.high_watermark} leo: {leo}")
        lines.append(f"  -> leader {self.leader}, committed records lost: {self.committed_lost}")
        return "\n".join(lines)


def elr_scenario(eligible_leader_replicas: bool = True, unclean_leader_election_enable: bool = False,
                 policies: Policies | None = None) -> ElrOutcome:
    """KIP-966's example: replicas 0, 1, 2 of one partition, ``min.insync.replicas=2``.

    1. 0 is cut off and fenced; 1 and 2 keep writing (ISR {1, 2} = min ISR, the HWM advances).
    2. 1 is cut off and fenced: the ISR {2} is below min ISR, so the HWM stops; with ELR, 1 enters the ELR.
    3. 2 (the leader) loses power: it is fenced and loses its unflushed tail.
    4. 0 and 1 come back and are unfenced; 2 registers again after its unclean shutdown and is unfenced.
    Without ELR the partition waits for its last ISR member, 2, which comes back without the committed
    tail (or, with unclean election, elects 0, which is further behind): committed records are lost.
    With ELR, 1 is elected as soon as it is unfenced and nothing committed is lost.
    """
    if policies is None:
        policies = Policies() if eligible_leader_replicas else Policies(
            elect_partition_leader=elect_partition_leader_isr_only)
    control = ReplicationControl(policies, min_insync_replicas=2,
                                 unclean_leader_election_enable=unclean_leader_election_enable,
                                 eligible_leader_replicas=eligible_leader_replicas)
    image = MetadataImage()
    for b in (0, 1, 2):
        image.apply(RegisterBrokerRecord(b, b))
        image.apply(UnfenceBrokerRecord(b, b))
    image.apply(PartitionRecord("orders", 0, (0, 1, 2), (0, 1, 2), 2))
    leo = {0: 0, 1: 0, 2: 0}
    hwm = 0
    out = ElrOutcome("ELR" if eligible_leader_replicas else "ISR only"
                     + (", unclean election" if unclean_leader_election_enable else ""))

    def p():
        return image.partitions[("orders", 0)]

    def note(what: str) -> None:
        out.steps.append(ElrStep(what, p().leader, p().isr, p().elr, hwm, dict(leo)))

    def write(n: int) -> None:  # the leader appends; ISR members replicate; the HWM follows the ISR
        nonlocal hwm
        part = p()
        if part.leader == NO_LEADER:
            return
        leo[part.leader] += n
        for r in part.isr:
            leo[r] = leo[part.leader]
        if len(part.isr) >= 2:  # strict min ISR: the HWM only moves with a large enough ISR
            hwm = max(hwm, min(leo[r] for r in part.isr))

    def run(records) -> None:
        for r in records:
            image.apply(r)

    write(10)
    note("start: all in sync, 10 records committed")
    run(control.fence_broker(image, 0))
    write(10)
    note("b0 fenced; 10 more written and committed")
    run(control.fence_broker(image, 1))
    write(5)
    note("b1 fenced; 5 more written (HWM frozen)")
    run(control.fence_broker(image, 2))
    leo[2] = 12  # power loss: b2 loses its unflushed tail
    note("b2 loses power (keeps 12 records), fenced")
    run(control.unfence_broker(image, 0))
    note("b0 unfenced")
    run(control.unfence_broker(image, 1))
    note("b1 unfenced")
    run(control.register_broker(image, 2, 99, clean_shutdown=False))
    run(control.unfence_broker(image, 2))
    note("b2 registers after an unclean shutdown")
    out.leader = p().leader
    if out.leader != NO_LEADER:
        out.committed_lost = max(0, hwm - leo[out.leader])
    return out
