"""The dashboard's numbers, computed from a run's history (so a saved history gives the same figures).

* **delivered**: notifications users received (each counted once); **duplicates**: extra copies;
* **dropped by preference**: (user, channel) pairs of published events that the router did not route
  (opted out, no consent, quiet hours);
* **rate-limited**: notifications the limiter refused and that never arrived;
* **dead-lettered**: dead-letter operations; what the DLQs and parking lots hold at the end;
* **retries**, **redrives**, provider **calls** and **failures**;
* **end-to-end latency**: from the event entering the system to the user's first copy (p50, p95, p99, max).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from msglib import stats
from msglib.capstone.events import EVENT_TYPES, Event
from msglib.sim.history import INVOKE, History


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0..100) by the nearest-rank method; 0.0 for no values."""
    return stats.percentile(values, q, empty=0.0)


@dataclass
class Metrics:
    events: int = 0
    duplicate_events: int = 0
    routed: int = 0
    dropped_by_preference: int = 0
    delivered: int = 0
    duplicates: int = 0
    rate_limited: int = 0
    dead_lettered: int = 0
    in_dlq_at_end: int = 0
    parked: int = 0
    retries: int = 0
    redrives: int = 0
    provider_calls: int = 0
    provider_failures: int = 0
    latency_ms: list[float] = field(default_factory=list)
    alarms: list[tuple[float, str, str]] = field(default_factory=list)    # (time, channel, state)
    end_ms: float = 0.0

    def latency(self, q: float) -> float:
        return percentile(self.latency_ms, q)

    def as_dict(self) -> dict:
        return {"events": self.events, "duplicate events": self.duplicate_events, "routed": self.routed,
                "dropped by preference": self.dropped_by_preference, "delivered": self.delivered,
                "duplicates": self.duplicates, "rate-limited": self.rate_limited,
                "dead-lettered": self.dead_lettered, "in DLQ at the end": self.in_dlq_at_end,
                "parked at the end": self.parked,
                "retries": self.retries, "redrives": self.redrives, "provider calls": self.provider_calls,
                "provider failures": self.provider_failures, "latency p50 (ms)": round(self.latency(50), 1),
                "latency p99 (ms)": round(self.latency(99), 1), "latency max (ms)": round(self.latency(100), 1),
                "alarms": len(self.alarms)}

    def summary(self) -> str:
        return (f"{self.events} events → {self.routed} routed ({self.dropped_by_preference} dropped by preference): "
                f"{self.delivered} delivered, {self.duplicates} duplicates, {self.rate_limited} rate-limited, "
                f"{self.in_dlq_at_end} in the DLQs and {self.parked} parked ({self.dead_lettered} dead-letterings, "
                f"{self.redrives} redriven); "
                f"latency p50 {self.latency(50):.0f} ms, p99 {self.latency(99):.0f} ms")

    def table(self) -> str:
        return "\n".join(f"{k:<24}{v:>10}" for k, v in self.as_dict().items())


def metrics(history: History) -> Metrics:
    m = Metrics()
    events: dict[str, Event] = {}
    routed: set[str] = set()
    notified: Counter = Counter()
    first: dict[str, tuple[float, float]] = {}
    refused: set[str] = set()
    for op in history.ops:
        if op.type == INVOKE:
            continue
        v = op.value if isinstance(op.value, dict) else {}
        if op.f == "publish":
            if v["event_id"] in events:
                m.duplicate_events += 1
            else:
                events[v["event_id"]] = Event.from_json(v["event"])
        elif op.f == "route":
            routed.add(v["job"])
        elif op.f == "notify":
            notified[v["job"]] += 1
            first.setdefault(v["job"], (op.time, v.get("created_ms", op.time)))
        elif op.f == "throttle" and not v["allowed"]:
            refused.add(v.get("job"))
        elif op.f == "dead-letter":
            m.dead_lettered += 1
        elif op.f == "retry":
            m.retries += 1
        elif op.f == "redrive":
            m.redrives += 1
        elif op.f == "send":
            m.provider_calls += 1
            if op.error:
                m.provider_failures += 1
        elif op.f == "alarm":
            m.alarms.append((op.time, v["channel"], v["state"]))
        elif op.f == "final":
            m.in_dlq_at_end = sum(len(jobs) for jobs in v["dlq"].values())
            m.parked = sum(len(jobs) for jobs in v.get("parked", {}).values())
            m.end_ms = op.time
    m.events = len(events)
    m.routed = len(routed)
    candidates = sum(len(set(e.users)) * len(EVENT_TYPES[e.type].channels) for e in events.values()
                     if e.type in EVENT_TYPES)
    m.dropped_by_preference = max(0, candidates - m.routed)
    m.delivered = len(notified)
    m.duplicates = sum(n - 1 for n in notified.values())
    m.rate_limited = len({k for k in refused if k and k not in notified})
    m.latency_ms = [t - created for t, created in first.values()]
    return m


__all__ = ["Metrics", "metrics", "percentile"]
