"""One seeded, checked run: a cluster, a producer, a reader, faults, then the verdict.

:func:`run_scenario` is what the reliability tests, the benchmark, the
notebooks' tables and the graders all run:

1. a cluster of ``brokers`` with one topic;
2. a producer sends the integers 0, 1, 2... (each value once, to a partition
   drawn from the seed) every ``send_interval_ms``; a reader polls every
   partition every ``read_interval_ms``; both record a history;
3. a fault schedule (random from the seed, or given) runs meanwhile, plus ``controller_failovers``
   crashes of whichever KRaft controller is active at the time (``ControllerFailover``);
4. at ``duration_ms`` sending stops, every fault is healed, the cluster
   settles, the producer's outstanding sends finish, and a final read
   takes every partition from offset 0 to its high-water mark;
5. the history checker and the replica comparison give the verdict.

``final_read="leader"`` (the data-loss table's choice) skips waiting for the
followers: once every fault is healed and every partition has a leader, it
reads each leader's whole log directly. That is what the replicas will
converge to, and it saves most of the recovery time; replicas are then not
compared.

Everything except ``policies`` is plain data and is stored in the history's
``meta``, so ``result.history.replay()`` runs the same scenario again.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from msglib.check import CheckResult, Divergence, check
from msglib.check.kraft import cluster_metadata_problems
from msglib.cluster.cluster import Cluster
from msglib.cluster.config import ClusterConfig
from msglib.cluster.policies import Policies
from msglib.kraft.policies import Policies as QuorumPolicies
from msglib.kraft.quorum import ControllerFailover
from msglib.protocol import TopicPartition
from msglib.sim.faults import Crash, Cut, FaultSchedule, Heal, Pause, Restart, Resume, Slow, random_schedule
from msglib.sim.history import History

RUNNER = "msglib.cluster.scenario:run_scenario"


@dataclass
class ScenarioResult:
    """One scenario run: its parameters, the history, the checker's verdict and how the replicas compare."""

    params: dict
    history: History
    check: CheckResult
    divergences: list[Divergence]
    settled: bool
    faults: FaultSchedule
    acked: int  # sends acknowledged
    stats: dict = field(default_factory=dict)
    cluster: Cluster | None = None

    @property
    def lost(self) -> int:
        """Acknowledged writes that no final read found."""
        return len(self.check.lost)

    @property
    def duplicated(self) -> int:
        return len(self.check.duplicated)

    @property
    def ok(self) -> bool:
        """No anomaly at all, no divergent replica, no committed metadata changed, and the cluster recovered."""
        return self.check.valid and not self.divergences and self.settled and not self.stats.get("metadata_violations")

    def first_problem(self) -> tuple[str, str] | None:
        """The most serious finding, as ``(what, story)``: what went wrong in words, and the
        smallest sub-history that shows it (or the replicas' disagreement). None if all is well."""
        if self.stats.get("metadata_violations"):
            return f"the controllers' committed metadata is wrong: {self.stats['metadata_violations'][0]}", \
                self.faults.describe()
        if self.divergences:
            d = self.divergences[0]
            return f"replicas diverged: {d.describe()}", self.faults.describe()
        order = ["lost-write", "unseen", "inconsistent-offsets", "duplicate", "reorder", "read-past-hw",
                 "aborted-read"]
        found = sorted(self.check.anomalies, key=lambda a: order.index(a.kind) if a.kind in order else len(order))
        if found:
            a = found[0]
            return f"{a.kind}: {a.message}", a.sub_history(self.history).format()
        if not self.settled:
            return ("the cluster did not recover after every fault was healed (a partition without a leader, "
                    "a replica that never caught up, or an ISR that never refilled)"), self.faults.describe()
        return None

    def summary(self) -> str:
        seed = self.params.get("seed")
        parts = [f"seed {seed}: {self.acked} acknowledged, {self.lost} lost, {self.duplicated} duplicated",
                 f"{len(self.divergences)} divergent replicas", "settled" if self.settled else "NOT settled"]
        return ", ".join(parts) + f"; {self.check.summary()}"

    def __repr__(self) -> str:
        return f"ScenarioResult({self.summary()})"


def run_scenario(seed: int = 0, *, brokers: int = 3, partitions: int = 1, replication_factor: int = 3,
                 acks: Any = "all", min_insync_replicas: int = 2, unclean: bool = False,
                 idempotent: bool | None = None, retries: float | None = None, max_in_flight: int = 5,
                 linger_ms: float = 2.0, batch_size: int = 16384, truncation: str = "leader_epoch",
                 duration_ms: float = 2000.0, send_interval_ms: float = 4.0, read_interval_ms: float = 50.0,
                 faults: str | list | None = "random", fault_interval_ms: float = 300.0,
                 fault_kinds: tuple = ("crash", "partition", "cut", "pause", "slow"),
                 max_down: int | None = None, power_loss: bool = False, controller_faults: bool = True,
                 controller_failovers: int = 0, controller: str = "kraft", eligible_leader_replicas: bool = True,
                 loss: float = 0.0, duplicate: float = 0.0, latency_ms: tuple = (0.5, 2.0),
                 cluster_overrides: dict | None = None, producer_overrides: dict | None = None,
                 final_read: str = "settle", policies: Policies | None = None,
                 quorum_policies: QuorumPolicies | None = None, keep_cluster: bool = False) -> ScenarioResult:
    """Run one scenario (see the module docstring) and check it."""
    params = {k: v for k, v in locals().items() if k not in ("policies", "quorum_policies", "keep_cluster")}
    params["fault_kinds"] = list(fault_kinds)
    params["latency_ms"] = list(latency_ms)
    config = ClusterConfig.fast(min_insync_replicas=min_insync_replicas, unclean_leader_election_enable=unclean,
                                truncation=truncation, controller=controller,
                                eligible_leader_replicas=eligible_leader_replicas, **(cluster_overrides or {}))
    history = History(meta={"runner": RUNNER, "params": params})
    cluster = Cluster(brokers, seed=seed, config=config, policies=policies, latency_ms=tuple(latency_ms),
                      loss=loss, duplicate=duplicate, history=history, quorum_policies=quorum_policies)
    tps = cluster.create_topic("t", partitions, replication_factor)

    producer_cfg: dict[str, Any] = dict(acks=acks, linger_ms=linger_ms, batch_size=batch_size,
                                        max_in_flight_requests_per_connection=max_in_flight, history=history,
                                        value_serializer=lambda v: str(v).encode(), client_id="p1")
    if idempotent is not None:
        producer_cfg["enable_idempotence"] = idempotent
    if retries is not None:
        producer_cfg["retries"] = retries
    producer_cfg.update(producer_overrides or {})
    producer = cluster.producer(**producer_cfg)
    reader = cluster.reader("reader", history=history, value_deserializer=lambda b: int(b))
    reader.assign(tps)

    # Faults: random from the seed, a given schedule (JSON form), or none.
    if faults == "random":
        nodes = [cluster.node(b) for b in cluster.broker_ids]
        schedule = random_schedule(cluster.sim.random("faults"), nodes, duration_ms,
                                   mean_interval_ms=fault_interval_ms, kinds=fault_kinds, max_down=max_down,
                                   power_loss=power_loss,
                                   network_only=cluster.controller_names if controller_faults else ())
    elif faults == "leader_failure":
        schedule = leader_failure_schedule(cluster.sim.random("faults"), leader=cluster.node(cluster.leader("t")),
                                           followers=[cluster.node(b) for b in cluster.broker_ids
                                                      if b != cluster.leader("t")], duration_ms=duration_ms,
                                           power_loss=power_loss)
    elif faults:
        schedule = faults if isinstance(faults, FaultSchedule) else FaultSchedule.from_json(faults)
    else:
        schedule = FaultSchedule()
    if controller_failovers:  # drawn from a stream of their own: the rest of the schedule stays the same
        frng = cluster.sim.random("controller-failovers")
        extra = FaultSchedule(list(schedule))
        for _ in range(controller_failovers):
            extra.add(round(frng.uniform(0.05, 0.9) * duration_ms, 1), ControllerFailover(round(frng.uniform(30, 250), 1)))
        schedule = extra
    cluster.schedule(schedule)

    # The workload: value i to a partition drawn from the seed, every send_interval_ms.
    rng = cluster.sim.random("workload")
    futures = []
    start = cluster.sim.now
    count = int(duration_ms // send_interval_ms)
    for i in range(count):
        part = rng.randrange(partitions)
        cluster.sim.at(start + i * send_interval_ms,
                       lambda i=i, part=part: futures.append(producer.send("t", i, partition=part)))
    reader.start(read_interval_ms)
    cluster.sim.run(until=start + duration_ms)
    reader.stop()

    # Recover, let the producer finish, read everything.
    deadline = cluster.sim.now + producer.config["delivery_timeout_ms"] + producer.config["request_timeout_ms"]
    if final_read == "leader":
        cluster.heal()
        settled = cluster.sim.run_until(lambda: all(f.is_done for f in futures) and cluster.leaders_ready(tps),
                                        until=deadline + 5_000)
        _read_leader_logs(cluster, tps, history)
    else:
        settled = cluster.settle()
        cluster.sim.run_until(lambda: all(f.is_done for f in futures), until=deadline)
        settled = cluster.settle() and settled
        reader.read_to_end(tps)

    result = check(history)
    acked = sum(1 for f in futures if f.succeeded())
    stats = {"sent": len(futures), "acked": acked, "failed": sum(1 for f in futures if f.failed()),
             "elections": len(cluster.controller.elections),
             "unclean_elections": sum(1 for e in cluster.controller.elections if e["unclean"]),
             "elr_elections": sum(1 for e in cluster.controller.elections if e.get("source") == "elr"),
             "metadata_violations": list(getattr(cluster.controller, "violations", [])) + (
                 cluster_metadata_problems(cluster.controller.committed_log, min_insync_replicas=min_insync_replicas,
                                           eligible_leader_replicas=eligible_leader_replicas,
                                           unclean_leader_election_enable=unclean) if cluster.kraft else []),
             "controller_failovers": sum(1 for _, f in schedule if isinstance(f, ControllerFailover)),
             "no_controller_ms": cluster.controller.no_controller_ms() if cluster.kraft else 0.0,
             "sim_ms": cluster.sim.now, "events": cluster.sim.events_run,
             "messages": cluster.network.stats["sent"]}
    diverged = cluster.divergences() if final_read == "settle" else []
    return ScenarioResult(params, history, result, diverged, settled, schedule, acked, stats,
                          cluster if keep_cluster else None)


def _read_leader_logs(cluster: Cluster, tps: list[TopicPartition], history: History) -> None:
    """The final read when the run does not wait for followers to catch up: each leader's whole log,
    recorded as one poll. With every fault healed and no more to come, a leader's log is what all its
    replicas will hold (a leader never truncates; its followers copy it)."""
    for tp in tps:
        part = cluster.replica(cluster.leader(tp.topic, tp.partition), tp.topic, tp.partition)
        inv = history.invoke(cluster.sim.now, "final", "poll", {"from": {str(tp): 0}})
        reads = [[offset, int(value)] for offset, _, value in part.entries()]
        history.complete(inv, cluster.sim.now, "ok", {"reads": {str(tp): reads}, "hw": {str(tp): part.log_end_offset}})


# -- many runs ---------------------------------------------------------------------------------
# A short, fault-heavy run: enough sends and faults that each configuration
# shows what it promises within ~300 simulated ms.
def leader_failure_schedule(rng, leader: str, followers: list[str], duration_ms: float = 400.0,
                            power_loss: bool = False) -> FaultSchedule:
    """The failure that replication exists for, drawn from a seed: followers fall behind, then the leader dies.

    Sometimes the network to the followers is slow (they lag a little);
    one follower pauses, and often the other one too, long enough or not to
    leave the ISR; the leader crashes; the followers come back; the old leader
    restarts near the end. Whether an acknowledged write survives depends on
    acks, min.insync.replicas and unclean election: exactly the table's question.
    """
    f = list(followers)
    rng.shuffle(f)
    sched = FaultSchedule()
    if rng.random() < 0.5:
        lag = round(rng.uniform(5.0, 30.0), 1)
        for node in f:
            sched.add(0.0, Slow(node, lag))
    t1 = rng.uniform(0.0, 0.15 * duration_ms)
    sched.add(t1, Pause(f[0]))
    paused = [f[0]]
    t2 = t1
    if len(f) > 1 and rng.random() < 0.6:
        t2 = t1 + rng.uniform(0.0, 0.2 * duration_ms)
        sched.add(t2, Pause(f[1]))
        paused.append(f[1])
    t3 = t2 + rng.uniform(0.0, 0.4 * duration_ms)
    sched.add(t3, Crash(leader, power_loss))
    for node in paused:
        sched.add(t3 + rng.uniform(5.0, 20.0), Resume(node))
    sched.add(min(duration_ms, t3 + rng.uniform(0.2, 0.4) * duration_ms), Restart(leader))
    for node in f:
        sched.add(duration_ms, Slow(node, 0.0))
    return sched


# Short runs, timers scaled for them, and the leader-failure nemesis: each run
# costs a few ms, so the table's 12 cells x 200 seeds take seconds.
TABLE_SCENARIO = dict(duration_ms=300.0, send_interval_ms=20.0, read_interval_ms=1000.0, faults="leader_failure",
                      final_read="leader", power_loss=True, producer_overrides=dict(request_timeout_ms=150, delivery_timeout_ms=500),
                      cluster_overrides=dict(replica_lag_time_max_ms=60, broker_heartbeat_interval_ms=50,
                                             broker_session_timeout_ms=160, replica_fetch_wait_max_ms=150,
                                             replica_high_watermark_checkpoint_interval_ms=300,
                                             os_writeback_interval_ms=300))


def _summarise(args: tuple) -> dict:
    seed, kwargs = args
    r = run_scenario(seed, **kwargs)
    return {"seed": seed, "acked": r.acked, "lost": r.lost, "duplicated": r.duplicated,
            "divergent": len(r.divergences), "settled": r.settled, "valid": r.check.valid,
            "unclean_elections": r.stats["unclean_elections"]}


def run_many(seeds, processes: int = 1, **scenario: Any) -> list[dict]:
    """Run :func:`run_scenario` for every seed; one small summary dict per run.

    ``processes > 1`` spreads the runs over worker processes (each run is
    independent and deterministic, so the results do not depend on it).
    """
    return _map([(s, scenario) for s in seeds], processes)


def _map(jobs: list[tuple[int, dict]], processes: int) -> list[dict]:
    if processes <= 1:
        return [_summarise(j) for j in jobs]
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(processes) as pool:
        return pool.map(_summarise, jobs, chunksize=max(1, len(jobs) // (processes * 8)))


# The table's election modes: Kafka 3.x (and 4.0's default) without ELR, clean or unclean; and KIP-966's
# eligible leader replicas (on by default for new clusters from 4.1), clean.
ELECTION_MODES: dict[str, dict[str, bool]] = {
    "isr": dict(unclean=False, eligible_leader_replicas=False),
    "unclean": dict(unclean=True, eligible_leader_replicas=False),
    "elr": dict(unclean=False, eligible_leader_replicas=True),
}


def loss_table(seeds: int = 200, *, acks=(0, 1, "all"), min_insync_replicas=(1, 2),
               elections=("isr", "unclean", "elr"), processes: int = 1, **scenario: Any) -> dict[tuple, float]:
    """The fraction of seeded runs that lose acknowledged writes, per (acks, min.insync, election mode).

    Election modes (:data:`ELECTION_MODES`): ``"isr"`` clean election from the ISR only, ``"unclean"``
    any alive replica when no ISR member is, ``"elr"`` ISR then eligible leader replicas (KIP-966).
    Every cell runs the same seeds (so the same fault schedules): only the configuration differs.
    Keyword arguments go to :func:`run_scenario` (default: :data:`TABLE_SCENARIO`).
    """
    for e in elections:
        if e not in ELECTION_MODES:
            raise ValueError(f"unknown election mode {e!r}; choose among {', '.join(ELECTION_MODES)}")
    scenario = dict(TABLE_SCENARIO, **scenario)
    cells = [(a, m, e) for a in acks for m in min_insync_replicas for e in elections]
    jobs = [(s, dict(scenario, acks=a, min_insync_replicas=m, **ELECTION_MODES[e])) for a, m, e in cells
            for s in range(seeds)]
    runs = _map(jobs, processes)
    return {cell: sum(1 for r in runs[i * seeds:(i + 1) * seeds] if r["lost"]) / seeds
            for i, cell in enumerate(cells)}


# -- KRaft demos (module 04) ---------------------------------------------------------------------------------
@dataclass
class Step:
    """One moment of a demo: simulated time, what happened, and the partition as the controller has it."""

    time: float
    what: str
    leader: int | None
    isr: tuple
    elr: tuple
    controller: str | None
    high_watermark: int


@dataclass
class DemoResult:
    title: str
    steps: list[Step]
    acked: list[int]
    lost: list[int]
    cluster: Cluster

    def table(self) -> str:
        lines = [self.title]
        for s in self.steps:
            leader = "-" if s.leader is None else s.leader
            lines.append(f"  t={s.time:7.1f} ms  {s.what:<52} controller={(s.controller or 'NONE').replace('controller-', 'c'):<4} leader={leader} "
                         f"isr={list(s.isr)} elr={list(s.elr)} hw={s.high_watermark}")
        lines.append(f"  -> {len(self.acked)} writes acknowledged, {len(self.lost)} of them lost"
                     + (f": {self.lost}" if self.lost else ""))
        return "\n".join(lines)


def _step(c: Cluster, what: str) -> Step:
    st = c.state("t")
    leader = None if st.leader == -1 else st.leader
    part = c.replica(leader, "t") if leader is not None and c.brokers[leader].alive else None
    return Step(c.sim.now, what, leader, st.isr, st.elr, c.active_controller(),
                part.high_watermark if part is not None else -1)


def _final_values(c: Cluster) -> list[int]:
    leader = c.leader("t")
    if leader is None or not c.brokers[leader].alive:
        return []
    return [int(v) for _, _, v in c.replica(leader, "t").entries()]


def last_replica_standing(eligible_leader_replicas: bool = True, seed: int = 0) -> DemoResult:
    """KIP-966's motivating story on a real cluster (RF 3, ``min.insync.replicas=2``, acks=all).

    Both followers stall one after the other (paused): the ISR shrinks to the leader alone, below
    min.insync, so the high-water mark freezes; with ELR the second follower enters the ELR. Then the
    leader loses power, and with it the records it had not written back to disk (acknowledged ones among
    them). The followers come back. Without ELR the ISR still names the old leader, so the partition waits
    for it and it returns without those records: acknowledged writes are lost. With ELR the follower in the
    ELR, which has every committed record, leads as soon as it is unfenced."""
    config = ClusterConfig.fast(min_insync_replicas=2, eligible_leader_replicas=eligible_leader_replicas,
                                os_writeback_interval_ms=60_000)  # the OS writes back rarely: a power cut hurts
    c = Cluster(3, seed=seed, config=config)
    c.create_topic("t", 1, 3)
    leader = c.leader("t")
    f1, f2 = [b for b in c.state("t").replicas if b != leader]
    producer = c.producer(acks="all", retries=0, value_serializer=lambda v: str(v).encode())
    acked: list[int] = []
    steps = [_step(c, "3 replicas in sync")]

    def write(first: int, n: int) -> None:
        futures = [(i, producer.send("t", i)) for i in range(first, first + n)]
        producer.flush()
        acked.extend(i for i, f in futures if f.succeeded())

    write(0, 10)
    steps.append(_step(c, "10 records written, acknowledged"))
    c.pause(f1)
    c.run(600)
    write(10, 10)
    steps.append(_step(c, f"broker {f1} stalls (fenced, out of the ISR); 10 more"))
    c.pause(f2)
    c.run(600)
    write(20, 5)
    steps.append(_step(c, f"broker {f2} stalls too: ISR below min.insync"))
    c.crash(leader, power_loss=True)
    c.run(300)
    steps.append(_step(c, f"leader {leader} loses power (unflushed records gone)"))
    c.resume(f2)
    c.resume(f1)
    c.run(400)
    steps.append(_step(c, f"brokers {f2} and {f1} are back"))
    c.restart(leader)
    c.run(600)
    steps.append(_step(c, f"broker {leader} restarts"))
    c.settle()
    kept = set(_final_values(c))
    lost = [i for i in acked if i not in kept]
    title = "with ELR (KIP-966)" if eligible_leader_replicas else "ISR only (no ELR)"
    return DemoResult(title, steps, acked, lost, c)


def controller_crash_during_election(seed: int = 0, down_ms: float = 150.0) -> DemoResult:
    """The partition leader crashes, and the active controller crashes before it has fenced it.

    Until the quorum elects a new active controller nothing fences the dead broker and no partition leader
    is elected: the partition is unavailable (the producer's sends wait). The new active controller gives
    every broker a fresh session, fences the dead one when its session runs out, and elects a new leader
    from the ISR; no acknowledged write is lost (RF 3, ``min.insync.replicas=2``, acks=all)."""
    c = Cluster(3, seed=seed, config=ClusterConfig.fast(min_insync_replicas=2))
    c.create_topic("t", 1, 3)
    producer = c.producer(acks="all", value_serializer=lambda v: str(v).encode())
    futures = [(i, producer.send("t", i)) for i in range(10)]
    producer.flush()
    steps = [_step(c, "10 records acknowledged")]
    leader = c.leader("t")
    c.crash(leader)
    steps.append(_step(c, f"partition leader {leader} crashes"))
    c.run(20)
    c.controller_failover(down_ms)
    steps.append(_step(c, "the active controller crashes too"))
    futures += [(i, producer.send("t", i)) for i in range(10, 15)]
    for _ in range(12):
        c.run(25)
        steps.append(_step(c, "..."))
    producer.flush()
    c.restart(leader)
    c.settle()
    steps.append(_step(c, f"broker {leader} restarted, cluster settled"))
    acked = [i for i, f in futures if f.succeeded()]
    kept = set(_final_values(c))
    # squeeze repeated "..." rows that show nothing new
    squeezed: list[Step] = []
    for s in steps:
        if squeezed and s.what == "..." and (s.leader, s.isr, s.controller) == (squeezed[-1].leader, squeezed[-1].isr,
                                                                               squeezed[-1].controller):
            continue
        squeezed.append(s)
    return DemoResult("controller crash during a partition leader election", squeezed, acked,
                      [i for i in acked if i not in kept], c)


def double_failover(policies: Policies | None = None) -> ScenarioResult:
    """KIP-279's double failover, scripted on two replicas (acks=1, unclean election).

    Broker 0 keeps writing alone while cut off from broker 1, then crashes; broker 1 leads (uncleanly) and
    writes at the same offsets; broker 1 crashes and broker 0 leads again before it ever followed 1; broker 1
    comes back as a follower holding an epoch broker 0 never had. With KIP-101's truncation alone it keeps
    records broker 0 never wrote (``divergences``); KIP-279's asks again and the replicas agree."""
    sched = FaultSchedule([(20.0, Cut("b0", "b1")), (150.0, Crash("b0")), (700.0, Crash("b1")),
                           (740.0, Heal("b0", "b1")), (740.0, Restart("b0")), (950.0, Restart("b1"))])
    return run_scenario(5, brokers=2, replication_factor=2, acks=1, min_insync_replicas=1, unclean=True,
                        faults=sched.to_json(), duration_ms=1050, send_interval_ms=10, policies=policies,
                        keep_cluster=True)
