"""What goes wrong in a notification system, as faults on simulated time.

Each fault is a frozen value (printable, JSON, recorded in the history like
``msglib.sim.faults``'), applied at its time by the system:

===================================  ===========================================================
``WorkerCrash(channel, when)``       a worker of the channel dies during its next provider call:
                                     ``"before-send"`` (the request never left) or ``"after-send"``
                                     (the provider notified the user; the answer died with the
                                     worker). A new worker takes its place ``restart_after_ms`` later
``RouterCrash()``                    a router dies in the middle of its next batch, after routing
                                     part of it and before committing any of it
``ProviderOutage(channel, ms)``      the channel's provider answers 503 to every call for ``ms``
``SlowConsumer(channel, ms)``        a worker freezes for ``ms`` inside a provider call (a GC pause,
                                     a hung connection): the group evicts it and, when it wakes, it
                                     is a zombie that still believes it owns its partitions
===================================  ===========================================================

``worker`` picks which worker (an index into the live ones, oldest first);
None lets the seed choose.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Iterable

from msglib.capstone.events import CHANNELS
from msglib.sim.faults import Fault, FaultSchedule

CRASH_POINTS = ("before-send", "after-send")


@dataclass(frozen=True)
class WorkerCrash(Fault):
    channel: str
    when: str = "after-send"
    worker: int | None = None
    kind = "worker-crash"

    def __post_init__(self) -> None:
        _check_channel(self.channel)
        if self.when not in CRASH_POINTS:
            raise ValueError(f"WorkerCrash.when must be one of {CRASH_POINTS}, got {self.when!r}")

    def describe(self) -> str:
        return f"{_a(self.channel)} worker crashes in its next provider call ({self.when})"


@dataclass(frozen=True)
class RouterCrash(Fault):
    router: int | None = None
    kind = "router-crash"

    def describe(self) -> str:
        return "a router crashes in the middle of its next batch"


@dataclass(frozen=True)
class ProviderOutage(Fault):
    channel: str
    duration_ms: float
    kind = "outage"

    def __post_init__(self) -> None:
        _check_channel(self.channel)
        if self.duration_ms <= 0:
            raise ValueError(f"an outage lasts > 0 ms, got {self.duration_ms}")

    def describe(self) -> str:
        return f"the {self.channel} provider is down for {self.duration_ms:g} ms"


@dataclass(frozen=True)
class SlowConsumer(Fault):
    channel: str
    duration_ms: float
    worker: int | None = None
    kind = "slow-consumer"

    def __post_init__(self) -> None:
        _check_channel(self.channel)
        if self.duration_ms <= 0:
            raise ValueError(f"a stall lasts > 0 ms, got {self.duration_ms}")

    def describe(self) -> str:
        return f"{_a(self.channel)} worker stalls for {self.duration_ms:g} ms inside a provider call"


FAULT_KINDS = {f.kind: f for f in (WorkerCrash, RouterCrash, ProviderOutage, SlowConsumer)}


def _a(channel: str) -> str:
    return ("an " if channel[0] in "aeiou" else "a ") + channel


def _check_channel(channel: str) -> None:
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}; use one of {', '.join(CHANNELS)}")


def schedule(*entries: tuple[float, Fault]) -> FaultSchedule:
    """``schedule((500, WorkerCrash("sms")), (900, ProviderOutage("email", 1500)))``."""
    for entry in entries:
        if not (isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[1], Fault)):
            raise TypeError(f"each entry is (time_ms, fault), got {entry!r}")
    return FaultSchedule(list(entries))


def fault_from_json(d: dict) -> Fault:
    d = dict(d)
    kind = d.pop("kind")
    d.pop("description", None)
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")
    return FAULT_KINDS[kind](**d)


def schedule_from_json(data: Iterable) -> FaultSchedule:
    return FaultSchedule([(float(t), fault_from_json(f)) for t, f in data])


def random_faults(seed: int, duration_ms: float = 4_000.0, *, count: int = 4,
                  kinds: Iterable[str] = ("worker-crash", "router-crash", "outage", "slow-consumer"),
                  outage_ms: tuple[float, float] = (600.0, 1_500.0),
                  stall_ms: tuple[float, float] = (500.0, 1_200.0)) -> FaultSchedule:
    """``count`` faults at seeded times in the first 80% of a run of ``duration_ms``; at most one outage
    per channel at a time."""
    kinds = list(kinds)
    unknown = set(kinds) - set(FAULT_KINDS)
    if unknown:
        raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {', '.join(FAULT_KINDS)}")
    rng = random.Random(f"capstone-faults/{seed}")
    out: list[tuple[float, Fault]] = []
    busy_until = {c: -1.0 for c in CHANNELS}
    for _ in range(count):
        t = round(rng.uniform(0.05, 0.8) * duration_ms, 1)
        kind = rng.choice(kinds)
        channel = rng.choice(CHANNELS)
        if kind == "worker-crash":
            out.append((t, WorkerCrash(channel, rng.choice(CRASH_POINTS))))
        elif kind == "router-crash":
            out.append((t, RouterCrash()))
        elif kind == "outage":
            if t < busy_until[channel]:
                continue
            ms = round(rng.uniform(*outage_ms))
            busy_until[channel] = t + ms
            out.append((t, ProviderOutage(channel, ms)))
        else:
            out.append((t, SlowConsumer(channel, round(rng.uniform(*stall_ms)))))
    return FaultSchedule(out)


__all__ = ["WorkerCrash", "RouterCrash", "ProviderOutage", "SlowConsumer", "CRASH_POINTS", "FAULT_KINDS",
           "schedule", "fault_from_json", "schedule_from_json", "random_faults"]
