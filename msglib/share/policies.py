"""The share-partition record state machine (KIP-932), as one pure function: the seam of module 09.

``transition(record, event, member, limit)`` returns the record's new state after ``event`` by ``member``,
or the *same* record when the event does not apply (the broker then answers INVALID_RECORD_STATE to an
acknowledgement, and skips the record when acquiring). The rules:

* acquire: only an AVAILABLE record; it becomes ACQUIRED by ``member`` and its delivery count goes up by 1;
* accept / release / reject: only by the member that holds the acquisition lock, only while ACQUIRED
  (a late acknowledgement after the lock expired is refused: someone else may hold the record now);
  accept makes it ACKNOWLEDGED, reject ARCHIVED;
* release and lock expiry end a delivery attempt that did not succeed: the record is AVAILABLE again,
  unless its delivery count has reached the limit (``group.share.delivery.count.limit``): then it is
  ARCHIVED, so a poison record cannot be redelivered for ever and the partition moves on;
* ACKNOWLEDGED and ARCHIVED are terminal.
"""
from __future__ import annotations

from msglib.share.record import (ACCEPT, ACQUIRE, LOCK_EXPIRED, REJECT, RELEASE, InFlightRecord,
                                 RecordState)


def transition(record: InFlightRecord, event: str, member: str, limit: int) -> InFlightRecord:
    """The record after ``event`` ("acquire", "accept", "release", "reject", "lock_expired") by ``member``."""
    if event == ACQUIRE:
        if record.state is not RecordState.AVAILABLE:
            return record                                   # someone holds it, or it is done
        return record.with_(state=RecordState.ACQUIRED, delivery_count=record.delivery_count + 1, member=member)
    if record.state is not RecordState.ACQUIRED or record.member != member:
        return record                                       # not this member's delivery (any more)
    if event == ACCEPT:
        return record.with_(state=RecordState.ACKNOWLEDGED, member=None)
    if event == REJECT:
        return record.with_(state=RecordState.ARCHIVED, member=None)
    if event in (RELEASE, LOCK_EXPIRED):
        # the delivery attempt is over: try again, unless this was the last attempt allowed
        done = record.delivery_count >= limit
        return record.with_(state=RecordState.ARCHIVED if done else RecordState.AVAILABLE, member=None)
    raise ValueError(f"unknown share-partition event {event!r}: expected one of acquire, accept, release, "
                     f"reject, lock_expired")
