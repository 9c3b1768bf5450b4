"""Per-partition memory of idempotent and transactional producers (Kafka's ProducerStateManager).

Every replica of a partition, followers included, keeps for each producer id
its epoch and the sequence numbers and offsets of its last five batches. It
is rebuilt from the log itself: whatever the log holds is what the state
says. So a follower that becomes leader already knows which batches it has,
and after a truncation the state is rebuilt from what is left (Kafka keeps
snapshots to make this fast; a simulated log is small enough to rescan).

Transactions add two things, also rebuilt from the log:

- ``ongoing``: producer id -> offset of the first record of its *open*
  transaction in this partition. A transaction opens with its first
  transactional batch here and closes with its COMMIT or ABORT marker. The
  smallest of these offsets caps the last stable offset (LSO).
- ``aborted``: the *aborted transaction index*, one :class:`AbortedTxn`
  (producer id, first offset, offset of the ABORT marker) per aborted
  transaction, in marker order. A read_committed fetch gets the entries
  that overlap the range it returns, and drops those records.
"""
from __future__ import annotations

from typing import Iterable, NamedTuple

from msglib.cluster.policies import BatchMetadata, ProducerStateEntry
from msglib.log.records import NO_PRODUCER_ID, ControlType


class AbortedTxn(NamedTuple):
    """One aborted transaction of this partition: records ``first_offset..last_offset`` of
    ``producer_id`` are not to be read by read_committed consumers (``last_offset`` is the marker)."""

    producer_id: int
    first_offset: int
    last_offset: int


class ProducerStateManager:
    """Per-producer state of one partition replica (epochs, recent batches, open and aborted
    transactions), rebuilt from the log whenever the log changes under it."""

    def __init__(self) -> None:
        self.entries: dict[int, ProducerStateEntry] = {}
        self.ongoing: dict[int, int] = {}      # producer id -> first offset of its open transaction
        self.aborted: list[AbortedTxn] = []    # the aborted transaction index, in marker order

    def get(self, producer_id: int) -> ProducerStateEntry | None:
        return self.entries.get(producer_id)

    def update(self, producer_id: int, producer_epoch: int, first_seq: int, last_seq: int,
               first_offset: int, last_offset: int, is_transactional: bool = False) -> None:
        """Remember a batch that was just written to the log."""
        if producer_id == NO_PRODUCER_ID:
            return
        entry = self.entries.get(producer_id)
        if entry is None or producer_epoch != entry.producer_epoch:
            entry = self.entries[producer_id] = ProducerStateEntry(producer_epoch)
        entry.batches.append(BatchMetadata(first_seq, last_seq, first_offset, last_offset))
        if is_transactional and producer_id not in self.ongoing:
            self.ongoing[producer_id] = first_offset   # this batch opens the transaction here

    def complete_txn(self, producer_id: int, producer_epoch: int, commit: bool, marker_offset: int) -> None:
        """A COMMIT or ABORT marker at ``marker_offset`` ends ``producer_id``'s open transaction.

        A marker with a newer epoch (the coordinator fenced the producer) also
        moves the producer to that epoch: its next batch must start again at
        sequence 0, and batches from older epochs are refused. A marker with no
        open transaction (a retried marker, or a transaction that wrote nothing
        here) changes nothing else.
        """
        entry = self.entries.get(producer_id)
        if entry is None or producer_epoch > entry.producer_epoch:
            self.entries[producer_id] = ProducerStateEntry(producer_epoch)
        first = self.ongoing.pop(producer_id, None)
        if first is not None and not commit:
            self.aborted.append(AbortedTxn(producer_id, first, marker_offset))

    def update_from_batch(self, batch) -> None:
        """Remember a batch read back from the log (a follower's append, or a rebuild)."""
        if batch.producer_id == NO_PRODUCER_ID:
            return
        if batch.is_control:
            self.complete_txn(batch.producer_id, batch.producer_epoch, batch.control_type == ControlType.COMMIT,
                              batch.base_offset)
        else:
            self.update(batch.producer_id, batch.producer_epoch, batch.base_sequence, batch.last_sequence,
                        batch.base_offset, batch.last_offset, batch.is_transactional)

    def rebuild(self, batches: Iterable) -> None:
        """Forget everything and replay the log's batches (after a truncation or a restart)."""
        self.entries.clear()
        self.ongoing.clear()
        self.aborted.clear()
        for batch in batches:
            self.update_from_batch(batch)

    # -- for fetches ------------------------------------------------------------------------
    def has_open_transaction(self, producer_id: int) -> bool:
        return producer_id in self.ongoing

    def aborted_in_range(self, fetch_offset: int, upper_offset: int) -> list[AbortedTxn]:
        """Aborted transactions that overlap offsets ``fetch_offset .. upper_offset - 1``:
        they started before the range ends and their marker is not before the range starts."""
        return [a for a in self.aborted if a.last_offset >= fetch_offset and a.first_offset < upper_offset]
