"""Judge a share-partition's history (KIP-932 share groups): the record state machine's promises.

Given every decision a ``SharePartition`` made (``partition.history``), the checker verifies, per record:

* **one holder at a time**: a record is acquired only while AVAILABLE (never while another consumer holds
  it, never after it was accepted or archived);
* **only the lock holder acknowledges**: an accept, release or reject is applied only while the record is
  ACQUIRED by that member (a late acknowledgement after the lock expired must be refused); lock expiry
  ends only a live acquisition;
* **the delivery count**: +1 on each acquisition, unchanged otherwise, never above
  ``group.share.delivery.count.limit``;
* **accepted at most once**, and an accept makes the record ACKNOWLEDGED (not available again);
* **not archived too early**: a release or lock expiry archives a record only once its delivery count
  has reached the limit (below it the record must be AVAILABLE again); reject archives at once;
* **terminal states stay terminal**;
* **every record delivered until accepted or archived** (when the run ended quiet): each offset below the
  log end is ACKNOWLEDGED or ARCHIVED.

A violation carries the offset, the rule in plain words and the record's history up to the violation
(the smallest history that shows it).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

from msglib.share.partition import ShareEvent
from msglib.share.record import ACCEPT, ACQUIRE, LOCK_EXPIRED, REJECT, RELEASE, RecordState

AVAILABLE, ACQUIRED = RecordState.AVAILABLE, RecordState.ACQUIRED
ACKNOWLEDGED, ARCHIVED = RecordState.ACKNOWLEDGED, RecordState.ARCHIVED


@dataclass
class ShareViolation:
    """One broken promise: which record, what rule, and the record's events up to it."""

    offset: int
    rule: str
    what: str
    events: list[ShareEvent] = field(default_factory=list)

    def history(self) -> str:
        return "\n".join(f"  {e}" for e in self.events)

    def __str__(self) -> str:
        return f"offset {self.offset}: {self.what}\n{self.history()}"


def _expected_ok(e: ShareEvent, limit: int) -> tuple[str, str] | None:
    """(rule, what is wrong) for one applied (state-changing) event, or None."""
    b, a = e.before, e.after
    if a.offset != b.offset:
        return "one record at a time", f"asked about offset {b.offset}, the state machine answered offset {a.offset}"
    if b.state.terminal:
        twice = " (accepted twice)" if a.state is ACKNOWLEDGED else ""
        return ("terminal states stay terminal",
                f"{b.state.value} is terminal, but {e.event} by {e.member} changed it to {a.state.value}{twice}")
    if e.event == ACQUIRE:
        if b.state is not AVAILABLE:
            return ("one holder at a time",
                    f"{e.member} acquired it while it was {b.state.value} by {b.member}: two consumers hold one record")
        if a.state is not ACQUIRED or a.member != e.member:
            return ("one holder at a time",
                    f"acquire by {e.member} left it {a.state.value}({a.member}), not ACQUIRED by {e.member}")
        if a.delivery_count != b.delivery_count + 1:
            return ("delivery count", f"acquisition must count one delivery: delivery count went "
                                      f"{b.delivery_count} -> {a.delivery_count}")
        if a.delivery_count > limit:
            return "delivery count", f"delivered {a.delivery_count} times, above the delivery count limit {limit}"
        return None
    # accept / release / reject / lock expiry: they end the current holder's delivery attempt
    if b.state is not ACQUIRED or b.member != e.member:
        holder = f" by {b.member}" if b.member else ""
        return ("only the lock holder acknowledges",
                f"{e.event} by {e.member} was applied while the record was {b.state.value}{holder}: only the "
                f"member holding the acquisition lock may end its delivery")
    if a.delivery_count != b.delivery_count:
        return "delivery count", f"{e.event} changed the delivery count {b.delivery_count} -> {a.delivery_count}"
    if a.member is not None:
        return ("only the lock holder acknowledges",
                f"{e.event} made it {a.state.value} but left {a.member} holding it")
    if e.event == ACCEPT:
        if a.state is not ACKNOWLEDGED:
            return ("accept completes the record",
                    f"accepted by {e.member} but left {a.state.value}: a processed record would be delivered again")
        return None
    if e.event == REJECT:
        if a.state is not ARCHIVED:
            return ("reject archives the record",
                    f"rejected by {e.member} but left {a.state.value}: a poison record would be delivered again")
        return None
    if e.event in (RELEASE, LOCK_EXPIRED):
        if a.state in (ACKNOWLEDGED, ACQUIRED):
            return "release ends the delivery attempt", f"{e.event} made it {a.state.value}: nobody processed it"
        if a.state is ARCHIVED and b.delivery_count < limit:
            return ("not archived below the limit",
                    f"archived on {e.event} after {b.delivery_count} deliveries, below the limit {limit}: "
                    f"archived too early, the record is lost")
        if a.state is AVAILABLE and b.delivery_count >= limit:
            return ("archived at the limit",
                    f"{e.event} after {b.delivery_count} deliveries (the limit is {limit}) made it AVAILABLE "
                    f"again: it must be archived")
        return None
    return "known events only", f"unknown event {e.event!r}"


def check_history(history: Sequence[ShareEvent], limit: int, *, log_end: int | None = None,
                  start_offset: int = 0, final_states: dict[int, RecordState] | None = None
                  ) -> list[ShareViolation]:
    """Every violation in ``history`` (first one per record), oldest first.

    ``log_end`` and ``final_states`` (offset -> state at the end): when given, every offset in
    ``[start_offset, log_end)`` must end ACKNOWLEDGED or ARCHIVED.
    """
    by_offset: dict[int, list[ShareEvent]] = {}
    found: list[ShareViolation] = []
    bad: set[int] = set()
    accepts: dict[int, int] = {}
    for e in history:
        events = by_offset.setdefault(e.offset, [])
        events.append(e)
        if e.offset in bad:
            continue
        problem: str | None = None
        rule = ""
        if e.applied:
            found_rule = _expected_ok(e, limit)
            if found_rule is not None:
                rule, problem = found_rule
            elif e.event == ACCEPT:
                accepts[e.offset] = accepts.get(e.offset, 0) + 1
                if accepts[e.offset] > 1:
                    problem, rule = "accepted twice", "accepted at most once"
        elif e.event != ACQUIRE and e.before.state is ACQUIRED and e.before.member == e.member:
            problem, rule = (f"{e.event} by the lock holder {e.member} was refused: the record stays "
                             f"ACQUIRED until its lock expires", "lock holder acknowledges")
        elif e.event == ACQUIRE and e.before.state is AVAILABLE:
            problem, rule = (f"an AVAILABLE record (delivered {e.before.delivery_count}x, limit {limit}) was not "
                             f"acquired by {e.member}: it is stuck", "delivered until accepted or archived")
        if problem is not None:
            bad.add(e.offset)
            found.append(ShareViolation(e.offset, rule, problem, list(events)))
    if log_end is not None and final_states is not None:
        for offset in range(start_offset, log_end):
            state = final_states.get(offset, AVAILABLE)
            if not state.terminal and offset not in bad:
                found.append(ShareViolation(offset, "delivered until accepted or archived",
                                            f"still {state.value} when the run ended quiet: never accepted or "
                                            f"archived", list(by_offset.get(offset, []))))
    return found


def size(v: ShareViolation) -> tuple[bool, int]:
    """How hard a violation is to read: a record with no events at all says least, then shorter is better."""
    return (not v.events, len(v.events))


def smallest(violations: Iterable[ShareViolation]) -> ShareViolation | None:
    """The violation with the shortest record history (the easiest to read)."""
    return min(violations, key=lambda v: (size(v), v.offset), default=None)
