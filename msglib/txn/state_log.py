"""The transaction coordinator's memory: one :class:`TransactionMetadata` per transactional id,
kept in a compacted log like Kafka's ``__transaction_state``.

Every state change is appended (and flushed) *before* the coordinator answers
or acts on it, so a coordinator that crashes and restarts replays the log and
knows every transaction's state: a transaction that was in PrepareCommit is
still committed (its markers are written again), one that was Ongoing can
still time out. Records (JSON, where Kafka uses a binary schema)::

    key ["txn", transactional_id]   value {producer_id, producer_epoch, timeout_ms, state, partitions,
                                           groups, txn_start_ms, last_update_ms, transaction_version,
                                           prev_producer_epoch}   (None: expired)
    key ["producer-ids"]            value {"next": n}   (producer ids are never handed out twice)
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

from msglib.protocol import TopicPartition
from msglib.log import Log, LogConfig, Record
from msglib.log.storage import Storage
from msglib.txn.states import EMPTY, TransactionState

TOPIC = "__transaction_state"


@dataclass
class TransactionMetadata:
    """What the coordinator knows about one transactional id."""

    transactional_id: str
    producer_id: int
    producer_epoch: int
    timeout_ms: float
    state: TransactionState = EMPTY
    partitions: set[TopicPartition] = field(default_factory=set)   # touched by the open transaction
    groups: set[str] = field(default_factory=set)                  # whose offsets it commits
    txn_start_ms: float = -1.0                                     # when it became Ongoing
    last_update_ms: float = 0.0
    transaction_version: int = 1          # of the current (or last) transaction: 2 bumps the epoch at its end
    prev_producer_epoch: int = -1         # v2: the epoch before the last EndTxn bump (a retried EndTxn carries it)

    def to_json(self) -> dict[str, Any]:
        return {"producer_id": self.producer_id, "producer_epoch": self.producer_epoch,
                "timeout_ms": self.timeout_ms, "state": self.state.value,
                "partitions": sorted([tp.topic, tp.partition] for tp in self.partitions),
                "groups": sorted(self.groups), "txn_start_ms": self.txn_start_ms,
                "last_update_ms": self.last_update_ms, "transaction_version": self.transaction_version,
                "prev_producer_epoch": self.prev_producer_epoch}

    @classmethod
    def from_json(cls, transactional_id: str, d: dict[str, Any]) -> "TransactionMetadata":
        return cls(transactional_id, d["producer_id"], d["producer_epoch"], d["timeout_ms"],
                   TransactionState(d["state"]), {TopicPartition(t, p) for t, p in d["partitions"]},
                   set(d["groups"]), d["txn_start_ms"], d["last_update_ms"], d.get("transaction_version", 1),
                   d.get("prev_producer_epoch", -1))

    def describe(self) -> str:
        parts = ", ".join(str(tp) for tp in sorted(self.partitions)) or "-"
        groups = f", groups {sorted(self.groups)}" if self.groups else ""
        return (f"{self.transactional_id}: {self.state}, producer {self.producer_id} epoch {self.producer_epoch}, "
                f"partitions {parts}{groups}")


def _txn_key(transactional_id: str) -> bytes:
    return json.dumps(["txn", transactional_id]).encode()


_PIDS_KEY = json.dumps(["producer-ids"]).encode()


class TransactionStateLog:
    """The compacted log plus the table rebuilt from it."""

    def __init__(self, storage: Storage | None = None, clock: Callable[[], float] = lambda: 0.0,
                 segment_bytes: int = 100 * 1024 * 1024) -> None:
        config = LogConfig(cleanup_policy="compact", segment_bytes=segment_bytes, delete_retention_ms=0)
        self.clock = clock
        self.log = Log(config=config, storage=storage, clock=clock, topic=TOPIC, partition=0)
        self.next_producer_id = 0
        self.load()

    def load(self) -> dict[str, TransactionMetadata]:
        """Replay the log: the latest record of each key wins; a null value deletes."""
        table: dict[str, TransactionMetadata] = {}
        for r in self.log.records():
            key = json.loads(r.key)
            value = None if r.value is None else json.loads(r.value)
            if key[0] == "producer-ids":
                self.next_producer_id = max(self.next_producer_id, value["next"])
            elif value is None:
                table.pop(key[1], None)
            else:
                table[key[1]] = TransactionMetadata.from_json(key[1], value)
        return table

    def write(self, meta: TransactionMetadata) -> None:
        self._append(Record(_txn_key(meta.transactional_id), json.dumps(meta.to_json()).encode(),
                            int(self.clock())))

    def delete(self, transactional_id: str) -> None:
        self._append(Record(_txn_key(transactional_id), None, int(self.clock())))

    def allocate_producer_id(self) -> int:
        """A producer id never handed out before (the counter is logged before the id is used)."""
        n = self.next_producer_id
        self.next_producer_id = n + 1
        self._append(Record(_PIDS_KEY, json.dumps({"next": n + 1}).encode(), int(self.clock())))
        # Brokers hand out counter * 1000 + broker id to idempotent producers; 999 is ours.
        return (n + 1) * 1000 + 999

    def _append(self, record: Record) -> None:
        self.log.append([record])
        self.log.flush()   # Kafka replicates this log with acks=all; the simulated coordinator syncs its disk

    def maybe_compact(self) -> None:
        if len(self.log.segments) > 1 and self.log.dirty_ratio() >= 0.5:
            self.log.compact()
