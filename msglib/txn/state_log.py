"""The transaction coordinator's memory: one :class:`TransactionMetadata` per transactional id,
kept in a compacted log like Kafka's ``__transaction_state``, on the one coordinator runtime
(``msglib.coordinator``, docs/coordinator-runtime.md): :class:`TransactionStateShard` is the state
machine the runtime replays records into; :class:`TransactionStateLog` writes them.

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

from dataclasses import dataclass, field
from typing import Any

from msglib.protocol import TopicPartition
from msglib.log import Log
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


def txn_key(transactional_id: str) -> list:
    return ["txn", transactional_id]


PRODUCER_IDS_KEY = ["producer-ids"]


class TransactionStateShard:
    """The transaction coordinator's state machine on the coordinator runtime (a
    :class:`msglib.coordinator.CoordinatorShard`): the table of transactional ids and the producer id
    counter, changed only by replaying ``__transaction_state`` records (live after a write, and on load)."""

    def __init__(self) -> None:
        self.txns: dict[str, TransactionMetadata] = {}
        self.next_producer_id = 0

    def replay(self, key: list, value: dict | None) -> None:
        if key[0] == "producer-ids":
            self.next_producer_id = max(self.next_producer_id, value["next"]) if value else self.next_producer_id
        elif key[0] == "txn":
            if value is None:
                self.txns.pop(key[1], None)
                return
            fresh = TransactionMetadata.from_json(key[1], value)
            current = self.txns.get(key[1])
            if current is None:
                self.txns[key[1]] = fresh
            else:
                current.__dict__.update(fresh.__dict__)   # in place: the coordinator holds references to it

    def reset(self) -> None:
        self.txns = {}
        self.next_producer_id = 0


class TransactionStateLog:
    """The coordinator's view of its state log, on the coordinator runtime: write a transaction's
    metadata, tombstone an expired id, hand out producer ids. Every write is flushed before it returns
    (the runtime's persist-then-reply)."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    @property
    def log(self) -> Log:
        return self.runtime.log

    @property
    def shard(self) -> TransactionStateShard:
        return self.runtime.shard

    def load(self) -> dict[str, TransactionMetadata]:
        """Replay the log: the latest record of each key wins; a null value deletes."""
        self.runtime.load()
        return self.shard.txns

    def write(self, meta: TransactionMetadata) -> None:
        self.runtime.write([(txn_key(meta.transactional_id), meta.to_json())])

    def delete(self, transactional_id: str) -> None:
        self.runtime.write([(txn_key(transactional_id), None)])

    def allocate_producer_id(self) -> int:
        """A producer id never handed out before (the counter is logged before the id is used)."""
        n = self.shard.next_producer_id
        self.runtime.write([(PRODUCER_IDS_KEY, {"next": n + 1})])
        # Brokers hand out counter * 1000 + broker id to idempotent producers; 999 is ours.
        return (n + 1) * 1000 + 999

    def maybe_compact(self) -> None:
        self.runtime.maybe_compact()
