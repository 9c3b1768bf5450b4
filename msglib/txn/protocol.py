"""The requests of transactions (KIP-98), between a transactional producer and the coordinators.

To the **transaction coordinator** (the node ``txn-coordinator``):

==========================  ========================================================
InitProducerId              "I am transactional id T": a producer id and a new epoch
                            (fences any older instance of T, aborting its transaction)
AddPartitionsToTxn          "I am about to write to these partitions" (before any data)
AddOffsetsToTxn             "this transaction will also commit offsets of group G"
EndTxn                      commit or abort: the coordinator logs the decision, then
                            writes a marker to every partition the transaction touched
==========================  ========================================================

To the **group coordinator**: TxnOffsetCommit, the consumer offsets of the
transaction (pending until the transaction's marker arrives there; checked
against the group's generation, KIP-447). The coordinators then talk to the
brokers with WriteTxnMarkers (``msglib.cluster.protocol``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from msglib.cluster.protocol import TopicPartition
from msglib.groups.protocol import OffsetAndMetadata

# -- error codes (Kafka's names) -----------------------------------------------------------
PRODUCER_FENCED = "PRODUCER_FENCED"                    # a newer instance (or the timeout) bumped the epoch
CONCURRENT_TRANSACTIONS = "CONCURRENT_TRANSACTIONS"    # the previous transaction is still completing: retry
INVALID_TXN_STATE = "INVALID_TXN_STATE"                # the request does not fit the transaction's state
INVALID_PRODUCER_ID_MAPPING = "INVALID_PRODUCER_ID_MAPPING"  # this producer id is not the transactional id's
INVALID_TRANSACTION_TIMEOUT = "INVALID_TRANSACTION_TIMEOUT"  # above transaction.max.timeout.ms
COORDINATOR_NOT_AVAILABLE = "COORDINATOR_NOT_AVAILABLE"
UNSTABLE_OFFSET_COMMIT = "UNSTABLE_OFFSET_COMMIT"      # OffsetFetch: a transaction's offsets are pending
REQUEST_TIMED_OUT = "REQUEST_TIMED_OUT"                # client side: no answer in time

TXN_COORDINATOR = "txn-coordinator"


@dataclass
class InitProducerIdRequest:
    request_id: int
    transactional_id: str
    transaction_timeout_ms: float


@dataclass
class InitProducerIdResponse:
    request_id: int
    error: str | None
    producer_id: int = -1
    producer_epoch: int = -1


@dataclass
class AddPartitionsToTxnRequest:
    request_id: int
    transactional_id: str
    producer_id: int
    producer_epoch: int
    partitions: list[TopicPartition]


@dataclass
class AddPartitionsToTxnResponse:
    request_id: int
    error: str | None


@dataclass
class AddOffsetsToTxnRequest:
    request_id: int
    transactional_id: str
    producer_id: int
    producer_epoch: int
    group_id: str


@dataclass
class AddOffsetsToTxnResponse:
    request_id: int
    error: str | None


@dataclass
class EndTxnRequest:
    request_id: int
    transactional_id: str
    producer_id: int
    producer_epoch: int
    commit: bool


@dataclass
class EndTxnResponse:
    request_id: int
    error: str | None


@dataclass
class TxnOffsetCommitRequest:
    """The offsets a transaction commits for a consumer group (sent to the group coordinator).

    ``generation_id`` / ``member_id`` / ``group_instance_id`` come from the
    consumer's ``group_metadata()``: a member the group has moved on from is
    refused (KIP-447), so a zombie cannot commit offsets it no longer owns.
    """

    request_id: int
    transactional_id: str
    group_id: str
    producer_id: int
    producer_epoch: int
    generation_id: int
    member_id: str
    group_instance_id: str | None
    offsets: dict[TopicPartition, OffsetAndMetadata] = field(default_factory=dict)


@dataclass
class TxnOffsetCommitResponse:
    request_id: int
    error: str | None


__all__ = [
    "PRODUCER_FENCED", "CONCURRENT_TRANSACTIONS", "INVALID_TXN_STATE", "INVALID_PRODUCER_ID_MAPPING",
    "INVALID_TRANSACTION_TIMEOUT", "COORDINATOR_NOT_AVAILABLE", "UNSTABLE_OFFSET_COMMIT", "REQUEST_TIMED_OUT",
    "TXN_COORDINATOR", "InitProducerIdRequest", "InitProducerIdResponse", "AddPartitionsToTxnRequest",
    "AddPartitionsToTxnResponse", "AddOffsetsToTxnRequest", "AddOffsetsToTxnResponse", "EndTxnRequest",
    "EndTxnResponse", "TxnOffsetCommitRequest", "TxnOffsetCommitResponse",
]
