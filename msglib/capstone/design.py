"""The capstone's design decision, judged by the simulation: keys, partitions, a lane, the retry order.

A design is a few choices (:class:`Design`):

* ``key``: what keys a job on ``notify.<channel>``: ``"user"``, ``"event"`` or ``"none"`` (spread);
* ``partitions`` of each channel topic and ``workers`` per channel group (a partition has one owner in a
  group, so workers beyond the partition count stand idle);
* ``critical_lane``: critical jobs (a password reset) travel on ``notify.<channel>.priority``, which the
  workers read before the rest; ``critical_skips_limiter``: they are never rate-limited;
* ``retry_order``: ``"retry-topic"`` (a failed job goes to the retry topic and the user's later jobs
  overtake it) or ``"block-user"`` (a user's later jobs on that channel wait behind the retrying one).

:func:`run_design` runs the seeded *design story* with it: the usual faults (crashes, a stalled worker, an
outage) plus a marketing campaign that floods the channels with work, during which some users ask for a
password reset. The workers have a finite capacity (``worker_batch`` jobs per 10 ms step). The end-to-end
checker and :func:`msglib.check.notifications.measure_design` then measure what the design is judged on
(:data:`THRESHOLDS`): per-user order, the latency of critical messages, critical messages lost, everyday
latency, and the end-to-end verdict (nothing lost, nothing twice).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, fields
from typing import Any

from msglib.capstone.events import Event, Workload, make_workload
from msglib.capstone.faults import ProviderOutage, RouterCrash, SlowConsumer, WorkerCrash, schedule
from msglib.capstone.system import CHANNEL_KEYS, RETRY_ORDERS, RunResult, SystemConfig, run_notifications
from msglib.capstone.worker import handle as msglib_handle
from msglib.check.notifications import DesignMeasures, measure_design
from msglib.sim.faults import FaultSchedule

KEYS = CHANNEL_KEYS
ORDERS = RETRY_ORDERS
MAX_PARTITIONS = 12
MAX_WORKERS = 8


@dataclass(frozen=True)
class Design:
    """One design of the notification system's channel tier (see the module docstring)."""

    key: str = "user"
    partitions: int = 3
    workers: int = 2
    critical_lane: bool = True
    critical_skips_limiter: bool = True
    retry_order: str = "block-user"

    def __post_init__(self) -> None:
        if self.key not in KEYS:
            raise ValueError(f"design key must be one of {', '.join(map(repr, KEYS))}, got {self.key!r}")
        for name, top in (("partitions", MAX_PARTITIONS), ("workers", MAX_WORKERS)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= top:
                raise ValueError(f"design {name} must be an int from 1 to {top}, got {value!r}")
        for name in ("critical_lane", "critical_skips_limiter"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"design {name} must be True or False, got {getattr(self, name)!r}")
        if self.retry_order not in ORDERS:
            raise ValueError(f"design retry_order must be one of {', '.join(map(repr, ORDERS))}, "
                             f"got {self.retry_order!r}")

    @classmethod
    def of(cls, answer: Any) -> "Design":
        """A Design from a Design or a dict with these keys (unknown or missing keys are named)."""
        if isinstance(answer, cls):
            return answer
        if not isinstance(answer, dict):
            raise TypeError(f"a design is a dict with the keys {', '.join(FIELDS)}; got {type(answer).__name__} "
                            f"{answer!r}")
        unknown = sorted(set(answer) - set(FIELDS))
        missing = [f for f in FIELDS if f not in answer]
        if unknown or missing:
            raise ValueError("a design dict has exactly the keys " + ", ".join(FIELDS)
                             + (f"; unknown: {', '.join(map(str, unknown))}" if unknown else "")
                             + (f"; missing: {', '.join(missing)}" if missing else ""))
        return cls(**answer)

    def as_dict(self) -> dict:
        return {f: getattr(self, f) for f in FIELDS}

    def config(self, **changes: Any) -> SystemConfig:
        """The system's configuration for this design, in the design story (workers of finite capacity)."""
        base = dict(channel_key=self.key, channel_partitions=self.partitions, workers=self.workers,
                    critical_lane=self.critical_lane, retry_order=self.retry_order, worker_batch=WORKER_BATCH,
                    job_ms=JOB_MS)
        return SystemConfig(**{**base, **changes})


FIELDS = tuple(f.name for f in fields(Design))


def design() -> dict:
    """msglib's answer: jobs keyed by user (one user's jobs stay in one partition, in order), more partitions
    than workers so every worker has work and the group can grow, critical messages in their own lane and
    past the limiter, and a user's later jobs waiting behind a retrying one."""
    return {"key": "user", "partitions": 6, "workers": 3, "critical_lane": True, "critical_skips_limiter": True,
            "retry_order": "block-user"}


# ---------------------------------------------------------------------------------------------- the story
WORKER_BATCH = 1            # a worker takes one job at a time ...
JOB_MS = 10.0               # ... and is busy 10 ms with it: 100 jobs per second per worker
CAMPAIGN_AT = 1_200.0
CAMPAIGN_JOBS = 300
RESETS = 4
LATENCY_P95_MS = 3_000.0


@dataclass(frozen=True)
class Threshold:
    measure: str
    limit: float
    what: str


THRESHOLDS: tuple[Threshold, ...] = (
    Threshold("invalid", 0, "the end-to-end check finds nothing lost, duplicated or wrongly sent"),
    Threshold("critical_lost", 0, "no critical message is lost or rate-limited"),
    Threshold("critical_wait_ms", 100.0, "a worker takes each password reset of the campaign up within 100 ms"),
    Threshold("inversions", 0, "no user receives two everyday messages on a channel in the wrong order"),
    Threshold("latency_p95_ms", LATENCY_P95_MS, "95% of everyday messages arrive within 3 s, campaign included"),
)


def design_workload(seed: int) -> Workload:
    """The seeded workload, a marketing campaign from CAMPAIGN_AT (price drops to every user, about
    CAMPAIGN_JOBS jobs on each of push and email) and, during it, password resets (events ``r0``...) from
    users whose email bucket the campaign has just emptied."""
    w = make_workload(seed, users=20, events=90, duration_ms=4_000.0)
    rng = random.Random(f"design-story/{seed}")
    users = sorted(w.prefs)
    consenting = [u for u in users if w.prefs[u].marketing]
    per_event = max(1, min(sum("push" in w.prefs[u].channels for u in consenting),
                           sum("email" in w.prefs[u].channels for u in consenting)))
    extra: list[tuple[float, Event]] = []
    for i in range(-(-CAMPAIGN_JOBS // per_event)):
        t = CAMPAIGN_AT + 10.0 * i
        extra.append((t, Event(f"c{i}", "PriceDropped", tuple(users), w.epoch_ms + int(t),
                               {"product": f"campaign-{i}", "price": f"{9 + i % 90}.99"})))
    wanted = [u for u in consenting if "email" in w.prefs[u].channels]
    for j, user in enumerate(rng.sample(wanted, min(RESETS, len(wanted)))):
        t = CAMPAIGN_AT + 200.0 + 100.0 * j
        extra.append((t, Event(f"r{j}", "PasswordReset", (user,), w.epoch_ms + int(t),
                               {"code": f"{rng.randrange(10**6):06d}"})))
    events = sorted(w.events + extra, key=lambda x: (x[0], x[1].event_id))
    return Workload(w.seed, w.epoch_ms, w.prefs, events, w.duplicated, w.invalid_contacts)


def design_faults(seed: int) -> FaultSchedule:
    """A router crash before the campaign, a push outage and a stalled push worker during it, email and SMS
    workers crashing (before and after a provider call) once the password resets are through."""
    rng = random.Random(f"design-faults/{seed}")
    return schedule((round(rng.uniform(300, 700), 1), RouterCrash()),
                    (round(CAMPAIGN_AT + rng.uniform(100, 300), 1), ProviderOutage("push", rng.randint(400, 700))),
                    (round(CAMPAIGN_AT + rng.uniform(800, 1_200), 1), SlowConsumer("push", rng.randint(400, 800))),
                    (round(rng.uniform(3_000, 3_500), 1), WorkerCrash("email", rng.choice(["before-send",
                                                                                         "after-send"]))),
                    (round(rng.uniform(3_000, 3_500), 1), WorkerCrash("sms", "after-send")))


def limited_handle(job: Any, ctx: Any) -> None:
    """msglib's handler for a design whose critical messages do *not* skip the limiter: every job asks it."""
    key = (job.event_id, job.channel, job.user)
    if key not in ctx.delivered and job.critical and not ctx.limiter.allow(job.user, job.channel, key=key):
        ctx.ack(job)                                     # refused: the critical message is dropped
        return
    msglib_handle(job, ctx)


def run_design(answer: Any, seed: int = 0, *, faults: FaultSchedule | None | str = "story", **config: Any) -> RunResult:
    """Run the design story with this design (a :class:`Design` or its dict)."""
    d = Design.of(answer)
    story = design_faults(seed) if faults == "story" else faults
    if isinstance(story, str):
        raise ValueError(f"faults must be a FaultSchedule, 'story' or None, not {story!r}")
    handler = msglib_handle if d.critical_skips_limiter else limited_handle
    return run_notifications(seed, workload=design_workload(seed), faults=story, config=d.config(**config),
                             handle=handler)


@dataclass
class DesignVerdict:
    """A design's measured properties on one seed, each against its threshold."""

    design: Design
    seed: int
    measures: DesignMeasures
    values: dict[str, float]
    failed: list[Threshold]

    @property
    def passed(self) -> bool:
        return not self.failed

    def table(self) -> str:
        rows = []
        for t in THRESHOLDS:
            ok = "ok  " if t not in self.failed else "FAIL"
            rows.append(f"{ok} {t.measure:<17} {self.values[t.measure]:>9.1f}  (limit {t.limit:g}: {t.what})")
        return "\n".join(rows)


def judge(result: RunResult, answer: Any, seed: int) -> DesignVerdict:
    m = measure_design(result.history)
    values = {"invalid": float(len(m.check.anomalies)), "critical_lost": float(len(m.critical_lost)),
              "critical_wait_ms": max((w for j, w in m.critical_wait_ms.items() if j.startswith("r")), default=0.0),
              "inversions": float(len(m.inversions)),
              "latency_p95_ms": m.latency(95)}
    failed = [t for t in THRESHOLDS if values[t.measure] > t.limit]
    return DesignVerdict(Design.of(answer), seed, m, values, failed)


def evaluate(answer: Any, seed: int = 0, **config: Any) -> DesignVerdict:
    """Run the design story on ``seed`` and judge the design by what was measured."""
    return judge(run_design(answer, seed, **config), answer, seed)


__all__ = ["Design", "FIELDS", "design", "THRESHOLDS", "Threshold", "design_workload", "design_faults",
           "run_design", "limited_handle", "DesignVerdict", "judge", "evaluate", "KEYS", "ORDERS", "WORKER_BATCH"]

