"""Faults as first-class operations, and schedules of them.

A fault is a small frozen value (``Crash("b1")``, ``Partition((("b0",), ("b1", "b2")))``)
that can be printed, saved to JSON, put in a history, and applied to a
running simulation with :func:`apply_fault`. A :class:`FaultSchedule` is a
list of ``(time_ms, fault)``: written by hand for a scripted scenario, or
drawn by :func:`random_schedule` from a seed. Same seed, same faults.

Crashes come in two strengths. A process crash keeps what the broker had
written to its files (the OS page cache survives). A ``power_loss`` crash
also loses whatever had not been flushed to disk yet: the case Kafka
deliberately leaves to replication rather than fsync.
"""
from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from typing import Iterable, Iterator

from msglib.sim.network import Network, Node


@dataclass(frozen=True)
class Fault:
    """Base class. ``kind`` names the fault in histories and JSON."""

    kind = "fault"

    def describe(self) -> str:
        return self.kind

    def to_json(self) -> dict:
        d = {k: (list(map(list, v)) if k == "groups" else v) for k, v in asdict(self).items()}
        return {"kind": self.kind, **d}


@dataclass(frozen=True)
class Crash(Fault):
    """Kill the node's process: its timers and memory go; with ``power_loss``, unflushed writes too."""

    node: str
    power_loss: bool = False
    kind = "crash"

    def describe(self) -> str:
        return f"crash {self.node}" + (" (power loss: unflushed writes lost)" if self.power_loss else "")


@dataclass(frozen=True)
class Restart(Fault):
    """Start a crashed node again, from what it has on disk."""

    node: str
    kind = "restart"

    def describe(self) -> str:
        return f"restart {self.node}"


@dataclass(frozen=True)
class Cut(Fault):
    """Drop every message between ``a`` and ``b`` (only from ``a`` to ``b`` if ``one_way``)."""

    a: str
    b: str
    one_way: bool = False
    kind = "cut"

    def describe(self) -> str:
        return f"cut {self.a} {'->' if self.one_way else '<->'} {self.b}"


@dataclass(frozen=True)
class Heal(Fault):
    """Reconnect ``a`` and ``b`` in both directions."""

    a: str
    b: str
    kind = "heal"

    def describe(self) -> str:
        return f"heal {self.a} <-> {self.b}"


@dataclass(frozen=True)
class Partition(Fault):
    """Split the named nodes into groups that cannot reach each other (others reach everyone)."""

    groups: tuple[tuple[str, ...], ...]
    kind = "partition"

    def __post_init__(self) -> None:
        object.__setattr__(self, "groups", tuple(tuple(g) for g in self.groups))

    def describe(self) -> str:
        return "partition " + " | ".join(",".join(g) for g in self.groups)


@dataclass(frozen=True)
class HealAll(Fault):
    """Undo every cut and partition."""

    kind = "heal_all"

    def describe(self) -> str:
        return "heal all links"


@dataclass(frozen=True)
class Pause(Fault):
    """Freeze the node (a long GC pause): no timer fires, no message is handled until ``Resume``."""

    node: str
    kind = "pause"

    def describe(self) -> str:
        return f"pause {self.node}"


@dataclass(frozen=True)
class Resume(Fault):
    """Unfreeze a paused node; what arrived meanwhile is handled now, in arrival order."""

    node: str
    kind = "resume"

    def describe(self) -> str:
        return f"resume {self.node}"


@dataclass(frozen=True)
class Slow(Fault):
    """Add ``extra_ms`` to every message to or from the node (0 makes it normal again)."""

    node: str
    extra_ms: float
    kind = "slow"

    def describe(self) -> str:
        return f"slow {self.node} by {self.extra_ms:g} ms" if self.extra_ms else f"unslow {self.node}"


FAULT_TYPES: dict[str, type[Fault]] = {
    t.kind: t for t in (Crash, Restart, Cut, Heal, Partition, HealAll, Pause, Resume, Slow)}


def fault_from_json(d: dict) -> Fault:
    d = dict(d)
    kind = d.pop("kind")
    if kind not in FAULT_TYPES:
        raise ValueError(f"unknown fault kind {kind!r}; known kinds: {', '.join(FAULT_TYPES)}")
    return FAULT_TYPES[kind](**d)


def apply_fault(fault: Fault, network: Network, nodes: dict[str, Node] | None = None) -> None:
    """Make ``fault`` happen now. ``nodes`` maps names to the nodes that can crash."""
    nodes = nodes if nodes is not None else network.nodes
    if isinstance(fault, Crash):
        _node(nodes, fault.node).crash(power_loss=fault.power_loss)
    elif isinstance(fault, Restart):
        _node(nodes, fault.node).restart()
    elif isinstance(fault, Pause):
        _node(nodes, fault.node).pause()
    elif isinstance(fault, Resume):
        _node(nodes, fault.node).resume()
    elif isinstance(fault, Cut):
        network.cut(fault.a, fault.b, one_way=fault.one_way)
    elif isinstance(fault, Heal):
        network.heal(fault.a, fault.b)
    elif isinstance(fault, Partition):
        network.partition(fault.groups)
    elif isinstance(fault, HealAll):
        network.heal_all()
    elif isinstance(fault, Slow):
        network.slow(fault.node, fault.extra_ms)
    else:
        raise TypeError(f"do not know how to apply {fault!r}")


def _node(nodes: dict[str, Node], name: str) -> Node:
    if name not in nodes:
        raise ValueError(f"no node named {name!r} can take this fault (known: {', '.join(sorted(nodes))})")
    return nodes[name]


@dataclass
class FaultSchedule:
    """Faults to apply at given simulated times (ms), kept sorted by time."""

    entries: list[tuple[float, Fault]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.entries = sorted(self.entries, key=lambda e: e[0])

    def add(self, at_ms: float, fault: Fault) -> "FaultSchedule":
        self.entries.append((at_ms, fault))
        self.entries.sort(key=lambda e: e[0])  # stable: same-time faults keep their order
        return self

    def __iter__(self) -> Iterator[tuple[float, Fault]]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def describe(self) -> str:
        return "\n".join(f"{t:>9.1f} ms  {f.describe()}" for t, f in self.entries) or "(no faults)"

    def to_json(self) -> list:
        return [[t, f.to_json()] for t, f in self.entries]

    @classmethod
    def from_json(cls, data: Iterable) -> "FaultSchedule":
        return cls([(float(t), fault_from_json(f)) for t, f in data])

    def dumps(self) -> str:
        return json.dumps(self.to_json())


def random_schedule(seed: int | random.Random, nodes: list[str], duration_ms: float, *,
                    mean_interval_ms: float = 500.0,
                    kinds: Iterable[str] = ("crash", "partition", "cut", "pause", "slow"),
                    max_down: int | None = None, power_loss: bool = False,
                    slow_ms: tuple[float, float] = (20.0, 200.0),
                    heal_at_end: bool = True, network_only: Iterable[str] = ()) -> FaultSchedule:
    """Draw a random fault schedule over ``nodes`` from a seed.

    Faults arrive with exponential gaps (mean ``mean_interval_ms``). Each step
    either starts a fault of one of ``kinds`` or undoes one in progress
    (restart a crashed node, heal a cut, resume a paused node...).
    ``max_down`` caps how many nodes are crashed at once. Nodes in
    ``network_only`` (say, a controller that must not crash) only take part
    in partitions and cuts. With
    ``heal_at_end`` the schedule ends, at ``duration_ms``, by undoing every
    fault still in force, so the system can recover before it is checked.
    """
    rng = seed if isinstance(seed, random.Random) else random.Random(seed)
    everyone = list(nodes) + [n for n in network_only if n not in nodes]
    kinds = list(kinds)
    unknown = set(kinds) - {"crash", "partition", "cut", "pause", "slow"}
    if unknown:
        raise ValueError(f"unknown fault kinds {sorted(unknown)}; use crash, partition, cut, pause, slow")
    if len(everyone) < 2 and ({"partition", "cut"} & set(kinds)):
        raise ValueError("partition and cut need at least two nodes")
    crashed: list[str] = []
    paused: list[str] = []
    slowed: list[str] = []
    cuts: list[tuple[str, str]] = []
    partitioned = False
    sched = FaultSchedule()
    t = 0.0
    while True:
        t += rng.expovariate(1.0 / mean_interval_ms)
        if t >= duration_ms:
            break
        undo = [k for k, active in (("restart", crashed), ("resume", paused), ("unslow", slowed),
                                    ("heal", cuts), ("heal_all", partitioned)) if active]
        start = [k for k in kinds if _can_start(k, nodes, crashed, paused, slowed, partitioned, max_down)]
        if not start and not undo:
            continue
        if undo and (not start or rng.random() < 0.5):
            action = rng.choice(undo)
            if action == "restart":
                sched.add(t, Restart(crashed.pop(rng.randrange(len(crashed)))))
            elif action == "resume":
                sched.add(t, Resume(paused.pop(rng.randrange(len(paused)))))
            elif action == "unslow":
                sched.add(t, Slow(slowed.pop(rng.randrange(len(slowed))), 0.0))
            elif action == "heal":
                a, b = cuts.pop(rng.randrange(len(cuts)))
                sched.add(t, Heal(a, b))
            else:
                sched.add(t, HealAll())
                partitioned, cuts = False, []
            continue
        kind = rng.choice(start)
        up = [n for n in nodes if n not in crashed and n not in paused]
        if kind == "crash":
            n = rng.choice([n for n in nodes if n not in crashed])
            if n in paused:
                paused.remove(n)
            crashed.append(n)
            sched.add(t, Crash(n, power_loss=power_loss))
        elif kind == "pause":
            n = rng.choice(up)
            paused.append(n)
            sched.add(t, Pause(n))
        elif kind == "slow":
            n = rng.choice([n for n in nodes if n not in slowed])
            slowed.append(n)
            sched.add(t, Slow(n, round(rng.uniform(*slow_ms), 1)))
        elif kind == "cut":
            a, b = rng.sample(everyone, 2)
            cuts.append((a, b))
            sched.add(t, Cut(a, b))
        else:  # partition: a random non-empty proper subset against the rest
            shuffled = everyone[:]
            rng.shuffle(shuffled)
            k = rng.randint(1, len(everyone) - 1)
            sched.add(t, Partition((tuple(sorted(shuffled[:k])), tuple(sorted(shuffled[k:])))))
            partitioned = True
    if heal_at_end:
        for n in paused:
            sched.add(duration_ms, Resume(n))
        if cuts or partitioned:
            sched.add(duration_ms, HealAll())
        for n in slowed:
            sched.add(duration_ms, Slow(n, 0.0))
        for n in crashed:
            sched.add(duration_ms, Restart(n))
    return sched


def _can_start(kind: str, nodes: list[str], crashed: list[str], paused: list[str], slowed: list[str],
               partitioned: bool, max_down: int | None) -> bool:
    if kind == "crash":
        return len(crashed) < len(nodes) and (max_down is None or len(crashed) < max_down)
    if kind == "pause":
        return any(n not in crashed and n not in paused for n in nodes)
    if kind == "slow":
        return len(slowed) < len(nodes)
    if kind == "partition":
        return not partitioned
    return True  # cut
