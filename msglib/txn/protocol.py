"""The requests of transactions (KIP-98): now in ``msglib.protocol`` (one package the broker, the
coordinators and every client share). This module keeps the old import path working.

``InitProducerIdRequest`` is one class for idempotent and transactional producers (``transactional_id``
None or set)."""
from msglib.protocol import (TopicPartition, OffsetAndMetadata, PRODUCER_FENCED, CONCURRENT_TRANSACTIONS,
                             INVALID_TXN_STATE, INVALID_PRODUCER_ID_MAPPING, INVALID_TRANSACTION_TIMEOUT,
                             COORDINATOR_NOT_AVAILABLE, UNSTABLE_OFFSET_COMMIT, REQUEST_TIMED_OUT, TXN_COORDINATOR,
                             InitProducerIdRequest, InitProducerIdResponse, AddPartitionsToTxnRequest,
                             AddPartitionsToTxnResponse, AddOffsetsToTxnRequest, AddOffsetsToTxnResponse,
                             EndTxnRequest, EndTxnResponse, TxnOffsetCommitRequest, TxnOffsetCommitResponse)

__all__ = [
    "PRODUCER_FENCED", "CONCURRENT_TRANSACTIONS", "INVALID_TXN_STATE", "INVALID_PRODUCER_ID_MAPPING",
    "INVALID_TRANSACTION_TIMEOUT", "COORDINATOR_NOT_AVAILABLE", "UNSTABLE_OFFSET_COMMIT", "REQUEST_TIMED_OUT",
    "TXN_COORDINATOR", "InitProducerIdRequest", "InitProducerIdResponse", "AddPartitionsToTxnRequest",
    "AddPartitionsToTxnResponse", "AddOffsetsToTxnRequest", "AddOffsetsToTxnResponse", "EndTxnRequest",
    "EndTxnResponse", "TxnOffsetCommitRequest", "TxnOffsetCommitResponse",
]
