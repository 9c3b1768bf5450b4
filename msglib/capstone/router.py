"""The router: from one event to the (user, channel) pairs that should be notified.

The rules, in order (they are the spec the end-to-end checker holds the system to):

1. each user named by the event is considered once; a user without
   preferences (a deleted account) gets nothing;
2. a **marketing** event reaches only users with marketing consent;
3. a user is notified only on channels they **opted into**, among the
   channels of the event's type (in the type's order);
4. during the user's **quiet hours** (local time of the event: UTC plus the
   user's offset; start included, end excluded, possibly wrapping past
   midnight) push and SMS are silenced, unless the event is **critical**.
   Email is never silenced: it waits in the inbox.

``route`` is the seam of the capstone's first exercise: the system's router
loop calls whatever function it is given, msglib's being the default.
"""
from __future__ import annotations

from typing import Callable, Iterable

from msglib.capstone.events import DAY_MS, EVENT_TYPES, HOUR_MS, INTRUSIVE, Event, Preferences

Route = Callable[[Event, dict[str, Preferences]], Iterable[tuple[str, str]]]


def local_hour(time_ms: int | float, tz_offset_h: float) -> float:
    """The local time of day, in hours (0 <= h < 24), of a UTC instant for a user ``tz_offset_h`` hours ahead."""
    local_ms = (time_ms + tz_offset_h * HOUR_MS) % DAY_MS   # Python's % is never negative here
    return local_ms / HOUR_MS


def in_quiet_hours(hour: float, quiet_hours: tuple[int, int] | None) -> bool:
    """True if local ``hour`` falls in ``quiet_hours = (start, end)``: start included, end excluded."""
    if quiet_hours is None:
        return False
    start, end = quiet_hours
    if start == end:
        return False                                  # an empty window
    if start < end:
        return start <= hour < end                    # e.g. 13:00-15:00
    return hour >= start or hour < end                # wraps past midnight, e.g. 22:00-07:00


def route(event: Event, prefs: dict[str, Preferences]) -> list[tuple[str, str]]:
    """msglib's router: the (user, channel) pairs ``event`` should notify (see the module docstring)."""
    kind = EVENT_TYPES[event.type]
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for user in event.users:
        p = prefs.get(user)
        if p is None or user in seen:
            continue
        seen.add(user)
        if kind.marketing and not p.marketing:
            continue
        quiet = in_quiet_hours(local_hour(event.time_ms, p.tz_offset_h), p.quiet_hours)
        for channel in kind.channels:
            if channel not in p.channels:
                continue
            if quiet and channel in INTRUSIVE and not kind.critical:
                continue
            out.append((user, channel))
    return out


def why_not(event: Event, prefs: dict[str, Preferences], user: str, channel: str) -> str | None:
    """None if ``(user, channel)`` should be notified of ``event``; otherwise the rule that forbids it."""
    kind = EVENT_TYPES.get(event.type)
    if kind is None:
        return f"{event.type} is not a known event type"
    if user not in event.users:
        return f"{user} is not one of the event's users {list(event.users)}"
    p = prefs.get(user)
    if p is None:
        return f"{user} has no preferences (a deleted account)"
    if channel not in kind.channels:
        return f"{event.type} does not use {channel} (its channels: {', '.join(kind.channels)})"
    if kind.marketing and not p.marketing:
        return f"{event.type} is marketing and {user} did not consent to marketing"
    if channel not in p.channels:
        return f"{user} did not opt into {channel} (opted into: {', '.join(sorted(p.channels)) or 'nothing'})"
    hour = local_hour(event.time_ms, p.tz_offset_h)
    if channel in INTRUSIVE and not kind.critical and in_quiet_hours(hour, p.quiet_hours):
        return (f"it is {format_hour(hour)} for {user} (UTC{p.tz_offset_h:+g}), inside their quiet hours "
                f"{p.quiet_hours[0]:02d}:00-{p.quiet_hours[1]:02d}:00, and {event.type} is not critical")
    return None


def format_hour(hour: float) -> str:
    """``22.5`` -> ``"22:30:00.000"``."""
    ms = round(hour * HOUR_MS)
    h, ms = divmod(ms, HOUR_MS)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


__all__ = ["Route", "local_hour", "in_quiet_hours", "route", "why_not", "format_hour"]
