"""What flows in: business events, the users they concern, and what each user wants to hear about.

An e-commerce platform emits *events* (``OrderShipped``, ``PriceDropped``...)
to one topic. Each event names the users it concerns (one buyer, or every
watcher of a product) and carries the data its messages need. Each event
*type* says which channels it may use, whether it is **critical** (security:
it ignores quiet hours, and takes the priority lane past the rate limiter) and whether it is **marketing** (only for users who
agreed to marketing).

Each user has :class:`Preferences`: the channels they opted into, marketing
consent, a time zone, quiet hours in local time, and a locale for templates.

:func:`make_workload` draws a seeded workload: users, events over time (some
users far busier than others, so rate limits matter), events that producers
append twice (a producer retry), events with a field missing (a permanent
failure at the template step) and contacts the providers reject (a phone
number that does not exist, an unregistered device).
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

PUSH, EMAIL, SMS = "push", "email", "sms"
CHANNELS: tuple[str, ...] = (PUSH, EMAIL, SMS)
INTRUSIVE: frozenset[str] = frozenset({PUSH, SMS})   # what quiet hours silence (an email waits in the inbox)

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


@dataclass(frozen=True)
class EventType:
    """How an event type may notify: its channels (in order), and two flags."""

    channels: tuple[str, ...]
    fields: tuple[str, ...]            # the data its templates need
    critical: bool = False             # security messages: no quiet hours, no rate limit (priority lane)
    marketing: bool = False            # only for users with marketing consent


EVENT_TYPES: dict[str, EventType] = {
    "OrderPlaced": EventType((EMAIL, PUSH), ("order", "total")),
    "OrderShipped": EventType((PUSH, SMS, EMAIL), ("order", "tracking")),
    "DeliveryDelayed": EventType((SMS, PUSH), ("order", "eta")),
    "PriceDropped": EventType((PUSH, EMAIL), ("product", "price"), marketing=True),
    "PasswordReset": EventType((EMAIL, SMS), ("code",), critical=True),
}


@dataclass(frozen=True)
class Event:
    """One business event. ``time_ms``: when it happened, wall-clock milliseconds since the Unix epoch (UTC)."""

    event_id: str
    type: str
    users: tuple[str, ...]
    time_ms: int
    data: dict = field(default_factory=dict, hash=False)

    def to_json(self) -> dict:
        return {"event_id": self.event_id, "type": self.type, "users": list(self.users), "time_ms": self.time_ms,
                "data": self.data}

    @classmethod
    def from_json(cls, d: dict) -> "Event":
        return cls(d["event_id"], d["type"], tuple(d["users"]), int(d["time_ms"]), dict(d.get("data", {})))

    def encode(self) -> bytes:
        return json.dumps(self.to_json(), sort_keys=True).encode()

    @classmethod
    def decode(cls, raw: bytes) -> "Event":
        return cls.from_json(json.loads(raw))


@dataclass(frozen=True)
class Preferences:
    """What one user wants. ``quiet_hours=(22, 7)``: from 22:00 to 07:00 local time (start included, end
    excluded; it may wrap past midnight); None: never quiet. ``tz_offset_h``: local time minus UTC, in hours
    (it may be fractional: +5.5 in India, -3.5 in Newfoundland)."""

    user: str
    channels: frozenset[str]
    marketing: bool = False
    tz_offset_h: float = 0.0
    quiet_hours: tuple[int, int] | None = (22, 7)
    locale: str = "en"

    def __post_init__(self) -> None:
        unknown = set(self.channels) - set(CHANNELS)
        if unknown:
            raise ValueError(f"unknown channels {sorted(unknown)} for {self.user}; use {', '.join(CHANNELS)}")
        if self.quiet_hours is not None:
            start, end = self.quiet_hours
            if not (0 <= start < 24 and 0 <= end < 24):
                raise ValueError(f"quiet_hours {self.quiet_hours} for {self.user}: hours are 0..23")
        object.__setattr__(self, "channels", frozenset(self.channels))

    def to_json(self) -> dict:
        return {"user": self.user, "channels": sorted(self.channels), "marketing": self.marketing,
                "tz_offset_h": self.tz_offset_h,
                "quiet_hours": list(self.quiet_hours) if self.quiet_hours is not None else None,
                "locale": self.locale}

    @classmethod
    def from_json(cls, d: dict) -> "Preferences":
        q = d.get("quiet_hours")
        return cls(d["user"], frozenset(d["channels"]), bool(d.get("marketing", False)),
                   float(d.get("tz_offset_h", 0.0)), tuple(q) if q is not None else None, d.get("locale", "en"))


@dataclass
class Workload:
    """A seeded input for one run: who the users are, what happens when, and what is broken."""

    seed: int
    epoch_ms: int                                   # wall-clock time at simulated t = 0
    prefs: dict[str, Preferences]
    events: list[tuple[float, Event]]               # (simulated ms to produce it at, event), in time order
    duplicated: set[str] = field(default_factory=set)          # event ids a producer appends twice
    invalid_contacts: set[tuple[str, str]] = field(default_factory=set)   # (user, channel) a provider rejects

    def event(self, event_id: str) -> Event:
        for _, e in self.events:
            if e.event_id == event_id:
                return e
        raise KeyError(event_id)

    def to_json(self) -> dict:
        return {"seed": self.seed, "epoch_ms": self.epoch_ms,
                "prefs": {u: p.to_json() for u, p in self.prefs.items()},
                "events": [[t, e.to_json()] for t, e in self.events], "duplicated": sorted(self.duplicated),
                "invalid_contacts": sorted(map(list, self.invalid_contacts))}

    @classmethod
    def from_json(cls, d: dict) -> "Workload":
        return cls(d["seed"], d["epoch_ms"], {u: Preferences.from_json(p) for u, p in d["prefs"].items()},
                   [(float(t), Event.from_json(e)) for t, e in d["events"]], set(d["duplicated"]),
                   {tuple(x) for x in d["invalid_contacts"]})


TIME_ZONES = (-8.0, -5.0, -3.5, 0.0, 1.0, 2.0, 5.5, 5.75, 8.0, 9.0, 10.0, 12.0)
QUIET_HOURS = ((22, 7), (22, 7), (23, 6), (21, 8), (0, 6), (13, 15), None)
LOCALES = ("en", "en", "fr", "de", "es", "fr-CA")


def make_prefs(rng: random.Random, users: int) -> dict[str, Preferences]:
    """``users`` users with varied channels, consent, time zones, quiet hours and locales."""
    prefs: dict[str, Preferences] = {}
    for i in range(users):
        channels = {c for c in CHANNELS if rng.random() < 0.75} or {EMAIL}
        prefs[f"u{i}"] = Preferences(f"u{i}", frozenset(channels), marketing=rng.random() < 0.6,
                                     tz_offset_h=rng.choice(TIME_ZONES), quiet_hours=rng.choice(QUIET_HOURS),
                                     locale=rng.choice(LOCALES))
    return prefs


def _data(rng: random.Random, etype: str, n: int) -> dict[str, Any]:
    values = {"order": f"A{1000 + n}", "total": f"{rng.randint(5, 400)}.{rng.randint(0, 99):02d}",
              "tracking": f"1Z{rng.randint(10 ** 7, 10 ** 8 - 1)}", "eta": rng.choice(["Monday", "Tuesday", "Friday"]),
              "product": rng.choice(["kettle", "headphones", "desk lamp", "running shoes"]),
              "price": f"{rng.randint(9, 199)}.99", "code": f"{rng.randint(0, 999_999):06d}"}
    return {f: values[f] for f in EVENT_TYPES[etype].fields}


def make_workload(seed: int, *, users: int = 16, events: int = 100, duration_ms: float = 4_000.0,
                  duplicate_rate: float = 0.05, bad_data_rate: float = 0.03, invalid_contact_rate: float = 0.05,
                  hot_users: int = 2, hot_share: float = 0.15) -> Workload:
    """A seeded workload: ``events`` events over ``duration_ms`` of simulated time.

    Users are not equally busy: the first ``hot_users`` users get ``hot_share`` of the
    personal events (bursts that per-user rate limits exist for). ``PriceDropped``
    goes to 2-4 watchers at once (fan-out).
    """
    if users < 2:
        raise ValueError(f"a workload needs at least 2 users, got {users}")
    rng = random.Random(f"capstone-workload/{seed}")
    prefs = make_prefs(rng, users)
    names = list(prefs)
    # The wall clock at t=0: some day of 2024, at a seeded minute, so local hours differ from run to run.
    epoch_ms = 1_704_067_200_000 + rng.randrange(0, 300) * 86_400_000 + rng.randrange(0, 24 * 60) * 60_000
    types = list(EVENT_TYPES)
    weights = [4, 4, 2, 2, 1]
    out: list[tuple[float, Event]] = []
    for n in range(events):
        t = round(rng.uniform(0.0, duration_ms), 1)
        etype = rng.choices(types, weights)[0]
        if etype == "PriceDropped":
            who = tuple(rng.sample(names, min(len(names), rng.randint(2, 4))))
        elif rng.random() < hot_share:
            who = (rng.choice(names[:hot_users]),)
        else:
            who = (rng.choice(names),)
        data = _data(rng, etype, n)
        if rng.random() < bad_data_rate:
            data.pop(rng.choice(sorted(data)))           # a producer bug: a field the templates need is missing
        out.append((t, Event(f"e{n}", etype, who, epoch_ms + int(t), data)))
    out.sort(key=lambda x: (x[0], x[1].event_id))
    duplicated = {e.event_id for _, e in out if rng.random() < duplicate_rate}
    invalid = {(u, c) for u in names[hot_users:] for c in CHANNELS if rng.random() < invalid_contact_rate}
    return Workload(seed, epoch_ms, prefs, out, duplicated, invalid)


__all__ = ["PUSH", "EMAIL", "SMS", "CHANNELS", "INTRUSIVE", "HOUR_MS", "DAY_MS", "EventType", "EVENT_TYPES",
           "Event", "Preferences", "Workload", "make_prefs", "make_workload"]
