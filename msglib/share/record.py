"""One record of a share-partition: its state, its delivery count and who holds its acquisition lock.

KIP-932 gives every in-flight record one of four states:

* ``AVAILABLE``: may be handed to a consumer (never delivered yet, released, or its lock expired);
* ``ACQUIRED``: handed to one consumer, under an acquisition lock with a timeout;
* ``ACKNOWLEDGED``: processed (the consumer answered ACCEPT); terminal;
* ``ARCHIVED``: will never be delivered again (REJECT, or the delivery attempt limit reached); terminal.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum, IntEnum


class RecordState(str, Enum):
    """A share-partition record's delivery state (KIP-932)."""

    AVAILABLE = "AVAILABLE"
    ACQUIRED = "ACQUIRED"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    ARCHIVED = "ARCHIVED"

    @property
    def terminal(self) -> bool:
        """ACKNOWLEDGED and ARCHIVED never change again: the record is *delivery complete*."""
        return self in (RecordState.ACKNOWLEDGED, RecordState.ARCHIVED)

    def __str__(self) -> str:
        return self.value


class AcknowledgeType(IntEnum):
    """How a consumer acknowledges one record, with the wire ids of ShareAcknowledge (0 is a gap)."""

    ACCEPT = 1    # processed: the record is done
    RELEASE = 2   # not processed, give it to someone (maybe me) again: the delivery still counts
    REJECT = 3    # unprocessable: archive it, never deliver it again

    def __str__(self) -> str:
        return self.name


# Events of the record state machine (policies.transition): an acknowledgement, an acquisition by a
# ShareFetch, or the expiry of the acquisition lock.
ACQUIRE = "acquire"
ACCEPT = "accept"
RELEASE = "release"
REJECT = "reject"
LOCK_EXPIRED = "lock_expired"
EVENTS = (ACQUIRE, ACCEPT, RELEASE, REJECT, LOCK_EXPIRED)
ACK_EVENTS = {AcknowledgeType.ACCEPT: ACCEPT, AcknowledgeType.RELEASE: RELEASE, AcknowledgeType.REJECT: REJECT}


@dataclass(frozen=True)
class InFlightRecord:
    """One record's share state. ``member``: who holds the acquisition lock (None unless ACQUIRED).

    ``delivery_count`` counts acquisitions: 1 after the first delivery. Frozen, so a state machine returns a
    new value and the partition can tell "refused" (the same value back) from a change.
    """

    offset: int
    state: RecordState = RecordState.AVAILABLE
    delivery_count: int = 0
    member: str | None = None

    def with_(self, **changes: object) -> "InFlightRecord":
        """A copy with ``changes`` (``record.with_(state=RecordState.ACQUIRED, member="m1")``)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def __str__(self) -> str:
        owner = f" by {self.member}" if self.member else ""
        return f"offset {self.offset}: {self.state.value}{owner}, delivered {self.delivery_count}x"
