"""``SharePartition``: one partition's in-flight records for one share group (KIP-932's share-partition).

The share-partition start offset (SPSO) is the first record that is not yet delivery complete; every record
before it is ACKNOWLEDGED or ARCHIVED. The share-partition end offset (SPEO) is one past the last record
the share-partition has started tracking. The records in between are *in flight*: AVAILABLE, ACQUIRED or
already terminal but behind a record that is not. The window is capped by
``group.share.partition.max.record.locks``: when it is full, no new records are acquired until the SPSO
moves on, which is why one stuck record must end (ACKNOWLEDGED or ARCHIVED) for the partition to progress.

Each acquisition starts an acquisition lock (``group.share.record.lock.duration.ms``) on the simulation
clock; when it expires the record's delivery attempt ends (policies.transition decides what next).
The record rule is a seam: ``SharePartition(..., transition=your_function)``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from msglib.share.config import ShareGroupConfig
from msglib.share.policies import transition as default_transition
from msglib.share.record import ACK_EVENTS, ACQUIRE, LOCK_EXPIRED, AcknowledgeType, InFlightRecord, RecordState
from msglib.sim import Simulation, Timer

Transition = Callable[[InFlightRecord, str, str, int], InFlightRecord]

INVALID_RECORD_STATE = "INVALID_RECORD_STATE"   # Kafka's error code 121


@dataclass(frozen=True)
class ShareEvent:
    """One decision of the share-partition: what happened to which record, before and after (for checkers)."""

    time: float
    event: str                     # acquire, accept, release, reject, lock_expired
    offset: int
    member: str
    before: InFlightRecord
    after: InFlightRecord
    applied: bool                  # False: the event was refused (INVALID_RECORD_STATE / not acquirable)

    def __str__(self) -> str:
        verdict = "" if self.applied else "  (refused)"
        return (f"t={self.time:.0f} {self.member} {self.event} offset {self.offset}: "
                f"{_short(self.before)} -> {_short(self.after)}{verdict}")


def _short(r: InFlightRecord) -> str:
    owner = f"({r.member})" if r.member else ""
    return f"{r.state.value}{owner}#{r.delivery_count}"


class SharePartition:
    """The in-flight window of one topic-partition for one share group.

    ``log_end_offset``: a callable giving how far the partition's log goes (records at offsets below it
    can be delivered). ``on_change(partition)`` runs after every change, so the owner can persist the
    state (the share coordinator's WriteShareGroupState) before it answers.
    """

    def __init__(self, sim: Simulation, log_end_offset: Callable[[], int], *,
                 config: ShareGroupConfig | None = None, transition: Transition = default_transition,
                 start_offset: int = 0, on_change: Callable[["SharePartition"], None] | None = None,
                 name: str = "share-partition") -> None:
        self.sim = sim
        self.log_end_offset = log_end_offset
        self.config = config or ShareGroupConfig()
        self.transition = transition
        self.name = name
        self.spso = start_offset           # share-partition start offset
        self.speo = start_offset           # share-partition end offset (exclusive)
        self.records: dict[int, InFlightRecord] = {}
        self.history: list[ShareEvent] = []
        self.completed: dict[int, RecordState] = {}   # offsets the SPSO moved past, and how they ended
        self.on_change = on_change
        self._locks: dict[int, Timer] = {}

    # -- what a ShareFetch does ---------------------------------------------------------------------
    def acquire(self, member: str, max_records: int = 500) -> list[InFlightRecord]:
        """Acquire up to ``max_records`` records for ``member``, oldest first; each gets a lock timer."""
        if max_records < 1:
            raise ValueError(f"max_records must be >= 1, got {max_records!r}")
        acquired: list[InFlightRecord] = []
        offset = self.spso
        limit_end = self.spso + self.config.partition_max_record_locks
        while len(acquired) < max_records:
            if offset >= self.speo:
                if offset >= min(self.log_end_offset(), limit_end):
                    break                                 # nothing more in the log, or the window is full
                self.records[offset] = InFlightRecord(offset)
                self.speo = offset + 1
            # every record in the window is offered to the state machine: it alone decides what may be acquired
            after = self._apply(self.records[offset], ACQUIRE, member)
            if after is not None:
                acquired.append(after)
                self._locks[offset] = self.sim.schedule(self.config.record_lock_duration_ms,
                                                        self._lock_expired, offset, member, after.delivery_count)
            offset += 1
        if acquired:
            self._changed()
        return acquired

    # -- what a ShareAcknowledge does ----------------------------------------------------------------
    def acknowledge(self, member: str, offset: int, ack: AcknowledgeType) -> str | None:
        """Apply one acknowledgement; returns None, or INVALID_RECORD_STATE when it does not apply."""
        ack = AcknowledgeType(ack)
        record = self.records.get(offset)
        if record is None:
            return INVALID_RECORD_STATE        # before the SPSO (already complete) or never delivered
        after = self._apply(record, ACK_EVENTS[ack], member)
        if after is None:
            return INVALID_RECORD_STATE
        self._release_lock(offset)
        self._changed()
        return None

    def release_all(self, member: str) -> int:
        """A member left or was fenced: its acquired records end their delivery attempt now (as RELEASE)."""
        mine = [o for o, r in sorted(self.records.items()) if r.state is RecordState.ACQUIRED and r.member == member]
        for offset in mine:
            self.acknowledge(member, offset, AcknowledgeType.RELEASE)
        return len(mine)

    # -- the acquisition lock ----------------------------------------------------------------------
    def _lock_expired(self, offset: int, member: str, delivery_count: int) -> None:
        self._locks.pop(offset, None)
        record = self.records.get(offset)
        if record is None or record.state is not RecordState.ACQUIRED or record.delivery_count != delivery_count:
            return                              # that delivery already ended
        if self._apply(record, LOCK_EXPIRED, member) is not None:
            self._changed()

    def _release_lock(self, offset: int) -> None:
        timer = self._locks.pop(offset, None)
        if timer is not None:
            timer.cancel()

    def fail_over(self) -> int:
        """The share-partition leader changed: every acquisition lock is lost, so each acquired record's
        delivery attempt ends as if its lock expired. Returns how many records were acquired."""
        held = [(o, r.member) for o, r in sorted(self.records.items()) if r.state is RecordState.ACQUIRED]
        self.cancel_locks()
        for offset, member in held:
            self._apply(self.records[offset], LOCK_EXPIRED, member or "")
        if held:
            self._changed()
        return len(held)

    def cancel_locks(self) -> None:
        """Forget every lock timer (the share-partition leader crashed: its in-memory locks are gone)."""
        for timer in self._locks.values():
            timer.cancel()
        self._locks.clear()

    # -- state ----------------------------------------------------------------------------------------
    def _apply(self, record: InFlightRecord, event: str, member: str) -> InFlightRecord | None:
        after = self.transition(record, event, member, self.config.delivery_count_limit)
        if not isinstance(after, InFlightRecord) or after.offset != record.offset:
            raise TypeError(f"the record state machine must return an InFlightRecord for offset {record.offset} "
                            f"(the record itself when the event does not apply), got {after!r}")
        applied = after != record
        self.history.append(ShareEvent(self.sim.now, event, record.offset, member, record, after, applied))
        if not applied:
            return None
        self.records[record.offset] = after
        if after.state is not RecordState.ACQUIRED:
            self._release_lock(record.offset)
        return after

    def _changed(self) -> None:
        # the SPSO moves past records that are delivery complete, never past one that is not
        while self.spso < self.speo and self.records[self.spso].state.terminal:
            self.completed[self.spso] = self.records.pop(self.spso).state
            self.spso += 1
        if self.on_change is not None:
            self.on_change(self)

    def state_of(self, offset: int) -> RecordState:
        """The state of any offset. Before the SPSO every record is delivery complete: how it ended, when this
        share-partition saw it end; after a reload the durable state keeps only "complete" (shown ARCHIVED)."""
        if offset < self.spso:
            return self.completed.get(offset, RecordState.ARCHIVED)
        record = self.records.get(offset)
        return record.state if record else RecordState.AVAILABLE

    @property
    def in_flight(self) -> int:
        """Records in the window (SPEO - SPSO)."""
        return self.speo - self.spso

    def snapshot(self) -> dict:
        """The durable part of the state: SPSO and each in-flight record's state and delivery count.

        Acquisition locks are not durable: an ACQUIRED record is written as its lock's expiry would leave it
        (AVAILABLE with its count, or ARCHIVED on its last attempt), so a new share-partition leader can hand
        it out again and the old holder's acknowledgement is refused.
        """
        states = []
        for offset in range(self.spso, self.speo):
            r = self.records[offset]
            state = r.state
            if state is RecordState.ACQUIRED:     # the attempt ends with the leader, as if its lock expired
                last = r.delivery_count >= self.config.delivery_count_limit
                state = RecordState.ARCHIVED if last else RecordState.AVAILABLE
            states.append([offset, state.value, r.delivery_count])
        return {"start_offset": self.spso, "end_offset": self.speo, "states": states}

    def restore(self, snapshot: dict | None) -> None:
        """Load a snapshot written by :meth:`snapshot` (None: start empty at the current SPSO)."""
        self.cancel_locks()
        self.records.clear()
        if snapshot is None:
            self.speo = self.spso
            return
        self.spso = int(snapshot["start_offset"])
        self.speo = int(snapshot["end_offset"])
        for offset, state, count in snapshot["states"]:
            self.records[int(offset)] = InFlightRecord(int(offset), RecordState(state), int(count))

    def __repr__(self) -> str:
        return f"SharePartition({self.name}, SPSO={self.spso}, SPEO={self.speo}, in flight={self.in_flight})"
