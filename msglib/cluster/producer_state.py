"""Per-partition memory of idempotent producers (Kafka's ProducerStateManager).

Every replica of a partition, followers included, keeps for each producer id
its epoch and the sequence numbers and offsets of its last five batches. It
is rebuilt from the log itself: whatever the log holds is what the state
says. So a follower that becomes leader already knows which batches it has,
and after a truncation the state is rebuilt from what is left (Kafka keeps
snapshots to make this fast; a simulated log is small enough to rescan).
"""
from __future__ import annotations

from typing import Iterable

from msglib.cluster.policies import BatchMetadata, ProducerStateEntry
from msglib.log.records import NO_PRODUCER_ID


class ProducerStateManager:
    def __init__(self) -> None:
        self.entries: dict[int, ProducerStateEntry] = {}

    def get(self, producer_id: int) -> ProducerStateEntry | None:
        return self.entries.get(producer_id)

    def update(self, producer_id: int, producer_epoch: int, first_seq: int, last_seq: int,
               first_offset: int, last_offset: int) -> None:
        """Remember a batch that was just written to the log."""
        if producer_id == NO_PRODUCER_ID:
            return
        entry = self.entries.get(producer_id)
        if entry is None or producer_epoch != entry.producer_epoch:
            entry = self.entries[producer_id] = ProducerStateEntry(producer_epoch)
        entry.batches.append(BatchMetadata(first_seq, last_seq, first_offset, last_offset))

    def update_from_batch(self, batch) -> None:
        """Remember a batch read back from the log (a follower's append, or a rebuild)."""
        if batch.producer_id != NO_PRODUCER_ID and not batch.is_control:
            self.update(batch.producer_id, batch.producer_epoch, batch.base_sequence, batch.last_sequence,
                        batch.base_offset, batch.last_offset)

    def rebuild(self, batches: Iterable) -> None:
        """Forget everything and replay the log's batches (after a truncation or a restart)."""
        self.entries.clear()
        for batch in batches:
            self.update_from_batch(batch)
