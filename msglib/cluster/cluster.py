"""A whole simulated Kafka cluster in one object: brokers, a KRaft controller quorum, a network, a clock.

::

    cluster = Cluster(brokers=3, seed=7, config=ClusterConfig.fast(min_insync_replicas=2))
    cluster.create_topic("orders", partitions=2, replication_factor=3)
    producer = cluster.producer(acks="all")
    producer.send("orders", b"hello").get()
    consumer = cluster.consumer("orders", group_id="billing", auto_offset_reset="earliest")
    consumer.poll(timeout_ms=500)
    cluster.crash(0)                 # faults are recorded in cluster.history
    cluster.controller_failover()    # crash the active controller; the quorum elects another
    cluster.run(500)                 # 500 simulated ms
    cluster.settle()                 # heal everything and wait until replicas agree
    cluster.replica_entries("orders", 0)

Everything is driven by one seeded :class:`~msglib.sim.Simulation`: the same
seed and the same calls give the same run, message for message.

The metadata plane is KRaft (``ClusterConfig.controller="kraft"``, the default): three controllers
``controller-0..2`` (one for a single-broker cluster) replicate the metadata log, and partition leadership
and ISR changes take effect once committed there (``msglib.cluster.kraft_controller``). The name
``"controller"`` in ``partition``/``cut`` stands for every controller. ``ClusterConfig(controller=
"single_node")`` brings back the single controller node that never fails, for comparison.
"""
from __future__ import annotations

import itertools
from typing import Any, Iterable

from msglib.client.consumer import KafkaConsumer
from msglib.client.producer import FAST_CLIENT_DEFAULTS, KafkaProducer
from msglib.client.reader import LogReader
from msglib.cluster.broker import Broker
from msglib.cluster.config import ClusterConfig
from msglib.cluster.controller import CONTROLLER, Controller, broker_node
from msglib.cluster.divergence import Divergence, divergences
from msglib.cluster.kraft_controller import ControllerQuorum
from msglib.kraft.policies import Policies as QuorumPolicies
from msglib.kraft.quorum import ControllerFailover
from msglib.cluster.policies import Policies
from msglib.protocol import NO_LEADER, PartitionState, TopicPartition
from msglib.sim.core import Simulation
from msglib.sim.faults import (Crash, Cut, Fault, Heal, HealAll, Partition as NetPartition, Pause, Restart, Resume,
                               Slow, apply_fault)
from msglib.sim.history import History
from msglib.sim.network import Network


def _prefix_equal(a: list, b: list) -> bool:
    n = min(len(a), len(b))
    return a[:n] == b[:n]


class Cluster:
    """A simulated Kafka cluster: ``brokers`` brokers, a controller, a seeded network and clock.

    Creates topics, hands out clients (``producer``, ``consumer``, ``reader``), applies faults
    (``crash``, ``cut``, ``heal_link``, ``partition``, ``slow``, ``pause``) and records them in
    ``history``; ``run(ms)`` lets simulated time pass."""

    def __init__(self, brokers: int = 3, *, seed: int = 0, config: ClusterConfig | None = None,
                 policies: Policies | None = None, latency_ms: tuple[float, float] = (0.5, 2.0),
                 loss: float = 0.0, duplicate: float = 0.0, trace: bool = False,
                 history: History | None = None, quorum_policies: QuorumPolicies | None = None) -> None:
        if brokers < 1:
            raise ValueError(f"a cluster needs at least one broker, got {brokers}")
        self.seed = seed
        self.sim = Simulation(seed)
        self.network = Network(self.sim, latency_ms=latency_ms, loss=loss, duplicate=duplicate)
        self.config = config or ClusterConfig.fast()
        self.policies = policies or Policies()
        self.history = history if history is not None else History(meta={"seed": seed})
        self.broker_ids = list(range(brokers))
        self.trace: list[dict[str, Any]] | None = [] if trace else None
        fast = self.config.broker_heartbeat_interval_ms < 1000
        self.client_defaults: dict[str, Any] = dict(FAST_CLIENT_DEFAULTS) if fast else {}
        if self.config.controller == "kraft":
            voters = self.config.controller_quorum_voters if brokers > 1 else 1
            self.controller: Controller | ControllerQuorum = ControllerQuorum(
                self.network, self.config, self.policies, self.broker_ids, voters=voters,
                quorum_policies=quorum_policies)
            self.controller_names = list(self.controller.names)
        else:
            self.controller = Controller(self.network, self.config, self.policies, self.broker_ids)
            self.controller_names = [CONTROLLER]
        self.brokers = {b: Broker(b, self.network, self.config, self.policies,
                                  trace=self._record_trace if trace else None, controllers=self.controller_names)
                        for b in self.broker_ids}
        self._names = itertools.count(1)
        # Let every broker register and be unfenced before anything else happens.
        self.sim.run_until(lambda: len(self.controller.brokers) == brokers and not any(
            r.fenced for r in self.controller.brokers.values()),
            until=self.sim.now + 20 * self.config.broker_session_timeout_ms)

    # -- naming -----------------------------------------------------------------------------
    def next_client_name(self, kind: str) -> str:
        return f"{kind}-{next(self._names)}"

    def node(self, broker: int | str) -> str:
        return broker if isinstance(broker, str) else broker_node(broker)

    def _nodes(self, name: int | str) -> list[str]:
        """``"controller"`` stands for every controller node; anything else for itself."""
        if name == CONTROLLER and CONTROLLER not in self.network.nodes:
            return list(self.controller_names)
        return [self.node(name)]

    @property
    def kraft(self) -> bool:
        return isinstance(self.controller, ControllerQuorum)

    def active_controller(self) -> str | None:
        """The active controller's node name (None while a KRaft failover is in progress)."""
        if not self.kraft:
            return CONTROLLER
        c = self.controller.active()
        return None if c is None else c.name

    # -- topics and clients -----------------------------------------------------------------
    def create_topic(self, name: str, partitions: int = 1, replication_factor: int | None = None,
                     wait: bool = True) -> list[TopicPartition]:
        rf = len(self.broker_ids) if replication_factor is None else replication_factor
        self.controller.create_topic(name, partitions, rf)
        tps = [TopicPartition(name, i) for i in range(partitions)]
        if wait:
            self.wait_for_leaders(tps)
        return tps

    def leaders_ready(self, tps: Iterable[TopicPartition]) -> bool:
        """Every partition in ``tps`` has a leader that is up and knows it leads."""
        for tp in tps:
            st = self.controller.partitions[tp]
            if st.leader == NO_LEADER or not self.brokers[st.leader].alive:
                return False
            part = self.brokers[st.leader].partitions.get(tp)
            if part is None or not part.is_leader or part.leader_epoch != st.leader_epoch:
                return False
        return True

    def wait_for_leaders(self, tps: Iterable[TopicPartition], timeout_ms: float = 10_000.0) -> bool:
        """Run until every partition in ``tps`` has a leader that knows it leads."""
        tps = list(tps)
        return self.sim.run_until(lambda: self.leaders_ready(tps), until=self.sim.now + timeout_ms)

    def producer(self, **configs: Any) -> KafkaProducer:
        """A :class:`~msglib.client.producer.KafkaProducer` of this cluster."""
        return KafkaProducer(cluster=self, **dict(self.client_defaults, **configs))

    def consumer(self, *topics: str, **configs: Any) -> KafkaConsumer:
        """A :class:`~msglib.client.consumer.KafkaConsumer` of this cluster (``subscribe(topics)`` if given)."""
        return KafkaConsumer(*topics, cluster=self, **configs)

    def reader(self, name: str | None = None, **kwargs: Any) -> LogReader:
        """A :class:`~msglib.client.reader.LogReader` of this cluster's committed records."""
        return LogReader(self, name, **kwargs)

    # -- time -------------------------------------------------------------------------------
    def run(self, ms: float) -> None:
        """Let ``ms`` of simulated time pass."""
        self.sim.run(until=self.sim.now + ms)

    # -- faults (recorded in the history) -------------------------------------------------------
    def apply(self, fault: Fault) -> None:
        self.history.fault(self.sim.now, fault)
        if isinstance(fault, ControllerFailover):
            active = self.active_controller() if self.kraft else None
            if active is not None:  # nothing to crash while no controller is active
                apply_fault(Crash(active), self.network)
                self.controller.note_crash()
                self.sim.schedule(fault.down_ms, self.apply, Restart(active))
            return
        apply_fault(fault, self.network)
        if self.kraft and isinstance(fault, (Crash, Pause)):
            self.controller.note_crash()

    def controller_failover(self, down_ms: float = 200.0) -> None:
        """Crash the active controller now and restart it ``down_ms`` later (KRaft mode)."""
        if not self.kraft:
            raise ValueError("controller_failover needs ClusterConfig(controller='kraft'); the single_node "
                             "controller never fails")
        self.apply(ControllerFailover(down_ms))

    def crash(self, broker: int | str, power_loss: bool = False) -> None:
        self.apply(Crash(self.node(broker), power_loss))

    def restart(self, broker: int | str) -> None:
        self.apply(Restart(self.node(broker)))

    def pause(self, broker: int | str) -> None:
        self.apply(Pause(self.node(broker)))

    def resume(self, broker: int | str) -> None:
        self.apply(Resume(self.node(broker)))

    def slow(self, broker: int | str, extra_ms: float) -> None:
        self.apply(Slow(self.node(broker), extra_ms))

    def cut(self, a: int | str, b: int | str, one_way: bool = False) -> None:
        for x in self._nodes(a):
            for y in self._nodes(b):
                self.apply(Cut(x, y, one_way))

    def heal_link(self, a: int | str, b: int | str) -> None:
        """Reconnect ``a`` and ``b`` (both ways); recorded in the history like the cut."""
        for x in self._nodes(a):
            for y in self._nodes(b):
                self.apply(Heal(x, y))

    def partition(self, *groups: Iterable[int | str]) -> None:
        self.apply(NetPartition(tuple(tuple(n for name in g for n in self._nodes(name)) for g in groups)))

    def heal_all(self) -> None:
        self.apply(HealAll())

    def schedule(self, faults) -> None:
        """Apply a :class:`FaultSchedule` at its times (relative to now)."""
        start = self.sim.now
        for at, fault in faults:
            self.sim.at(start + at, self.apply, fault)

    # -- looking inside ----------------------------------------------------------------------
    def state(self, topic: str, partition: int = 0) -> PartitionState:
        """The controller's view of a partition (leader, epoch, ISR)."""
        return self.controller.partitions[TopicPartition(topic, partition)]

    def leader(self, topic: str, partition: int = 0) -> int | None:
        st = self.state(topic, partition)
        return None if st.leader == NO_LEADER else st.leader

    def topic_partitions(self) -> list[TopicPartition]:
        return sorted(self.controller.partitions)

    def replica(self, broker: int, topic: str, partition: int = 0):
        """Broker ``broker``'s :class:`~msglib.cluster.partition.Partition` (None if crashed)."""
        return self.brokers[broker].partitions.get(TopicPartition(topic, partition))

    def replica_entries(self, topic: str, partition: int = 0) -> dict[int, list]:
        """``{broker: [(offset, leader_epoch, value), ...]}`` for every running replica."""
        out = {}
        tp = TopicPartition(topic, partition)
        for b in self.controller.partitions[tp].replicas:
            part = self.brokers[b].partitions.get(tp) if self.brokers[b].alive else None
            if part is not None:
                out[b] = part.entries()
        return out

    def divergences(self) -> list[Divergence]:
        """Pairs of running replicas that hold different records at the same offset."""
        found = []
        for tp in self.topic_partitions():
            parts = [self.brokers[b].partitions.get(tp) for b in self.controller.partitions[tp].replicas
                     if self.brokers[b].alive]
            summaries = [part.batch_summary() for part in parts if part is not None]
            if all(_prefix_equal(summaries[0], other) for other in summaries[1:]):
                continue  # same batches, same CRCs: no need to compare record by record
            found += divergences(str(tp), self.replica_entries(tp.topic, tp.partition))
        return found

    def describe(self) -> str:
        lines = [self.controller.status()] if self.kraft else []
        for tp in self.topic_partitions():
            st = self.controller.partitions[tp]
            lines.append(st.describe())
            for b in st.replicas:
                part = self.brokers[b].partitions.get(tp) if self.brokers[b].alive else None
                if part is None:
                    lines.append(f"  broker {b}: down")
                else:
                    lines.append(f"  broker {b}: {part.role or '-':<8} epoch {part.leader_epoch:>2}  "
                                 f"LEO {part.log_end_offset:>5}  HW {part.high_watermark:>5}")
        return "\n".join(lines)

    # -- recovery ----------------------------------------------------------------------------
    def heal(self) -> None:
        """Undo every fault in force: reconnect, resume, unslow, restart."""
        if self.network.cuts:
            self.heal_all()
        for b, broker in self.brokers.items():
            if broker.paused:
                self.resume(b)
            if self.network.slowed.get(broker.name):
                self.slow(b, 0.0)
            if not broker.alive:
                self.restart(b)
        if self.kraft:
            for name, node in self.controller.nodes.items():
                if node.paused:
                    self.resume(name)
                if self.network.slowed.get(name):
                    self.slow(name, 0.0)
                if not node.alive:
                    self.restart(name)

    def settled(self) -> bool:
        """Every partition has a leader, a full ISR, and replicas that agree on LEO and HW (and, in KRaft
        mode, a controller is active)."""
        if self.kraft and self.controller.active() is None:
            return False
        for tp, st in self.controller.partitions.items():
            if st.leader == NO_LEADER or set(st.isr) != set(st.replicas):
                return False
            leader = self.brokers[st.leader].partitions.get(tp)
            if leader is None or not leader.is_leader or leader.leader_epoch != st.leader_epoch:
                return False
            for b in st.replicas:
                part = self.brokers[b].partitions.get(tp)
                if part is None or part.leader_epoch != st.leader_epoch \
                        or part.log_end_offset != leader.log_end_offset \
                        or part.high_watermark != leader.log_end_offset:
                    return False
        return True

    def settle(self, timeout_ms: float = 20_000.0) -> bool:
        """Heal every fault, then run until :meth:`settled` (or the timeout). Returns settled()."""
        self.heal()
        deadline = self.sim.now + timeout_ms
        step = self.config.broker_heartbeat_interval_ms
        while self.sim.now < deadline:
            if self.settled():
                return True
            self.sim.run(until=min(deadline, self.sim.now + step))
        return self.settled()

    # -- trace ----------------------------------------------------------------------------------
    def _record_trace(self, broker: int, tp: TopicPartition, part, event: str) -> None:
        self.trace.append({"time": self.sim.now, "broker": broker, "partition": str(tp), "event": event,
                           "role": part.role, "leader_epoch": part.leader_epoch, "leo": part.log_end_offset,
                           "hw": part.high_watermark, "isr": sorted(part.isr)})
