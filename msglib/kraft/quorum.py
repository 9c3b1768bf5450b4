"""A whole KRaft metadata plane on the simulator: three controllers, brokers, an admin, faults, a history.

:class:`KRaftQuorum` wires ``controller.QuorumController`` voters and ``broker_view.BrokerView``
observers to one ``msglib.sim`` network, applies a fault schedule, and records what happened as a
Jepsen-style :class:`~msglib.sim.history.History` for ``msglib.check.kraft``:

- ``leader`` / ``candidate`` / ``resign`` / ``truncate``: a voter's transitions, with its epoch;
- ``commit``: a voter's high-water mark passed an entry (offset, epoch, record); recorded again only if
  the same voter later commits something *different* at that offset;
- ``apply``: a broker replayed an entry into its metadata image;
- ``final``: each voter's role, epoch and log at the end; ``image``: each live broker's metadata image;
- faults, as ``nemesis`` operations.

``ControllerFailover`` is a fault of its own: it crashes whichever controller is active when it fires
(and restarts it ``down_ms`` later), which a schedule written in advance cannot name.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from msglib.kraft.broker_view import BrokerView
from msglib.kraft.controller import ControllerConfig, CreateTopic, QuorumController
from msglib.kraft.policies import Policies
from msglib.kraft.raft import LEADER, QuorumConfig
from msglib.kraft.records import describe
from msglib.sim.core import Simulation
from msglib.sim.faults import FAULT_TYPES, Fault, FaultSchedule, Restart, apply_fault
from msglib.sim.history import INFO, History, Op
from msglib.sim.network import Endpoint, Network


@dataclass(frozen=True)
class ControllerFailover(Fault):
    """Crash the active controller (whichever it is when this fires); restart it ``down_ms`` later."""

    down_ms: float = 200.0
    kind = "controller_failover"

    def describe(self) -> str:
        return f"crash the active controller (restart after {self.down_ms:g} ms)"


FAULT_TYPES.setdefault(ControllerFailover.kind, ControllerFailover)  # so histories with it replay


class KRaftQuorum:
    """Controllers ``c0..c{n-1}``, brokers ``b0..b{m-1}`` and an ``admin`` on one seeded network."""

    def __init__(self, seed: int = 0, *, controllers: int = 3, brokers: int = 3,
                 policies: Policies | None = None, config: QuorumConfig | None = None,
                 controller_config: ControllerConfig | None = None,
                 latency_ms: tuple[float, float] = (0.5, 3.0), loss: float = 0.0, duplicate: float = 0.0) -> None:
        if controllers < 1 or brokers < 0:
            raise ValueError(f"need at least one controller and no negative broker count "
                             f"(got controllers={controllers}, brokers={brokers})")
        self.sim = Simulation(seed)
        self.network = Network(self.sim, latency_ms=latency_ms, loss=loss, duplicate=duplicate)
        self.history = History(meta={"seed": seed})
        self._reported: dict[str, dict[int, tuple]] = {}
        voters = [f"c{i}" for i in range(controllers)]
        self.controllers = {v: QuorumController(v, self.network, voters, config=config, policies=policies,
                                                controller_config=controller_config, observe=self._observe)
                            for v in voters}
        self.brokers = {f"b{i}": BrokerView(i, self.network, voters, observe=self._observe)
                        for i in range(brokers)}
        self.admin = Endpoint("admin", self.network, lambda src, msg: None)
        self._admin_rng = self.sim.random("admin")

    # -- recording ---------------------------------------------------------------------------------
    def _observe(self, node: str, f: str, value: dict) -> None:
        if "record" in value:
            value = {**value, "record": describe(value["record"])}
        if f == "commit":
            seen = self._reported.setdefault(node, {})
            key = (value["epoch"], value["record"])
            if seen.get(value["offset"]) == key:
                return
            seen[value["offset"]] = key
        self.history.ops.append(Op(len(self.history.ops), self.sim.now, node, INFO, f, value))

    # -- faults and workload -------------------------------------------------------------------------
    @property
    def nodes(self) -> dict[str, Any]:
        return {**self.controllers, **self.brokers}

    def active_controller(self) -> str | None:
        """The controller that leads the highest epoch among those alive and leading."""
        leaders = [c for c in self.controllers.values() if c.alive and c.role == LEADER]
        return max(leaders, key=lambda c: c.epoch).name if leaders else None

    def apply(self, fault: Fault) -> None:
        self.history.fault(self.sim.now, fault)
        if isinstance(fault, ControllerFailover):
            active = self.active_controller()
            if active is not None:
                self.controllers[active].crash()
                self.sim.schedule(fault.down_ms, self.apply, Restart(active))
            return
        apply_fault(fault, self.network, self.nodes)

    def schedule_faults(self, schedule: FaultSchedule) -> None:
        for at, fault in schedule:
            self.sim.at(at, self.apply, fault)

    def create_topics(self, count: int, every_ms: float = 60.0, start_ms: float = 100.0) -> None:
        """The admin asks random controllers to create ``count`` topics (it retries every ``every_ms``)."""
        for i in range(count):
            for attempt in range(8):
                t = start_ms + i * every_ms + attempt * every_ms * count
                self.sim.at(t, self._create, f"t{i}")

    def _create(self, name: str) -> None:
        self.admin.send(self._admin_rng.choice(list(self.controllers)), CreateTopic(name, 1, min(3, len(self.brokers))))

    def finish(self) -> History:
        """Record each voter's final state; return the history."""
        for c in self.controllers.values():
            value = {"role": c.role if c.alive else "crashed", "epoch": c.epoch, "hwm": c.high_watermark,
                     "log": [[e.epoch, describe(e.record)] for e in c.log]}
            self.history.ops.append(Op(len(self.history.ops), self.sim.now, c.name, INFO, "final", value))
        min_isr = next(iter(self.controllers.values())).controller_config.min_insync_replicas
        for b in self.brokers.values():
            if b.alive:
                value = {**b.image.summary(), "min_insync_replicas": min_isr}
                self.history.ops.append(Op(len(self.history.ops), self.sim.now, b.name, INFO, "image", value))
        return self.history
