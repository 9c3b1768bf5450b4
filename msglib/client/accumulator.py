"""Batching on the producer side (Kafka's RecordAccumulator and ProducerBatch).

``send`` does not send: it appends the record to the open batch of its
partition. A batch leaves when it is full (``batch_size`` bytes), when it has
waited ``linger_ms``, or on ``flush``. Bigger batches mean fewer requests and
more records per second; lingering trades latency for that.
"""
from __future__ import annotations

from collections import deque

from msglib.client.future import FutureRecordMetadata
from msglib.protocol import TopicPartition
from msglib.log.records import NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, Record, RecordBatch

RECORD_OVERHEAD = 14  # rough bytes per record besides key, value and headers (varints, attributes)
BATCH_OVERHEAD = 61  # the batch header


def estimate_size(record: Record) -> int:
    size = RECORD_OVERHEAD + len(record.key or b"") + len(record.value or b"")
    if record.headers:
        for k, v in record.headers:
            size += len(k) + len(v or b"") + 2
    return size


class ProducerBatch:
    """Records bound for one partition, sent (and retried) together."""

    def __init__(self, tp: TopicPartition, created_ms: float, batch_size: int) -> None:
        self.tp = tp
        self.created_ms = created_ms
        self.batch_size = batch_size
        self.records: list[Record] = []
        self.futures: list[FutureRecordMetadata] = []
        self.history_ops: list = []  # invoke ops to complete, when the producer records a history
        self.size = BATCH_OVERHEAD
        self.attempts = 0
        self.retry_at_ms = 0.0
        self.producer_id = NO_PRODUCER_ID
        self.producer_epoch = NO_PRODUCER_EPOCH
        self.base_sequence = NO_SEQUENCE
        self.is_transactional = False  # part of a transaction (its records wait for the marker)
        self.maybe_written = False  # did some attempt possibly reach the log?
        self.closed = False  # no more appends (it was drained once)
        self.done = False  # answered: succeeded, or failed for good
        self._encoded: bytes | None = None
        self._encoded_key: tuple | None = None

    def try_append(self, record: Record, future: FutureRecordMetadata, size: int) -> bool:
        if self.closed or (self.records and self.size + size > self.batch_size):
            return False
        self.records.append(record)
        self.futures.append(future)
        self.size += size
        return True

    @property
    def is_full(self) -> bool:
        return self.closed or self.size >= self.batch_size

    @property
    def record_count(self) -> int:
        return len(self.records)

    def encode(self, compression: int = 0) -> bytes:
        """The batch in Kafka's byte format, as it goes on the wire (cached per sequence/epoch)."""
        key = (self.producer_id, self.producer_epoch, self.base_sequence)
        if self._encoded is None or self._encoded_key != key:
            batch = RecordBatch(self.records, producer_id=self.producer_id, producer_epoch=self.producer_epoch,
                                base_sequence=self.base_sequence, compression=compression,
                                timestamp=int(self.created_ms), is_transactional=self.is_transactional)
            self._encoded, self._encoded_key = batch.encode(), key
        return self._encoded


class RecordAccumulator:
    """One queue of batches per partition; the head of each queue goes first."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self.queues: dict[TopicPartition, deque[ProducerBatch]] = {}
        self.open: dict[TopicPartition, ProducerBatch] = {}  # the batch new records go to

    def append(self, tp: TopicPartition, record: Record, future: FutureRecordMetadata, now: float
               ) -> tuple[ProducerBatch, bool]:
        """Add ``record`` to the last open batch of ``tp`` (or a new one). Returns (batch, is_new)."""
        size = estimate_size(record)
        batch = self.open.get(tp)
        if batch is not None and batch.try_append(record, future, size):
            return batch, False
        batch = self.open[tp] = ProducerBatch(tp, now, self.batch_size)
        batch.try_append(record, future, size)
        self.queues.setdefault(tp, deque()).append(batch)
        return batch, True

    def requeue(self, batch: ProducerBatch) -> None:
        """Put a batch to retry back at the front, keeping sequence (then creation) order among retries."""
        queue = self.queues.setdefault(batch.tp, deque())
        key = (batch.base_sequence, batch.created_ms)
        i = 0
        while i < len(queue) and queue[i].attempts > 0 and (queue[i].base_sequence, queue[i].created_ms) < key:
            i += 1
        queue.insert(i, batch)

    def pending(self) -> int:
        return sum(len(q) for q in self.queues.values())
