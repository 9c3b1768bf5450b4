"""The messages of brokers, the controller and producers, and their error codes: now in
``msglib.protocol`` (one package the broker, the coordinators and every client share). This module keeps the
old import path working; ``HeartbeatResponse`` here is the broker's (``BrokerHeartbeatResponse``)."""
from msglib.protocol import (NONE, NOT_LEADER_OR_FOLLOWER, LEADER_NOT_AVAILABLE, NOT_ENOUGH_REPLICAS,
                             NOT_ENOUGH_REPLICAS_AFTER_APPEND, REQUEST_TIMED_OUT, OFFSET_OUT_OF_RANGE,
                             FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH, OUT_OF_ORDER_SEQUENCE_NUMBER,
                             INVALID_PRODUCER_EPOCH, UNKNOWN_TOPIC_OR_PARTITION, CORRUPT_MESSAGE,
                             INVALID_UPDATE_VERSION, INELIGIBLE_REPLICA, INVALID_TXN_STATE, DEFINITELY_NOT_APPENDED,
                             NO_LEADER, READ_UNCOMMITTED, READ_COMMITTED, ISOLATION_LEVELS, EARLIEST_TIMESTAMP,
                             LATEST_TIMESTAMP, TopicPartition, PartitionState, BrokerHeartbeat, AlterPartition,
                             AlterPartitionResponse, AbortedTransaction, FetchRequest, FetchResponse,
                             ListOffsetsRequest, ListOffsetsResponse, OffsetsForLeaderEpochRequest,
                             OffsetsForLeaderEpochResponse, ProduceRequest, PartitionProduceResult, ProduceResponse,
                             MetadataRequest, MetadataResponse, InitProducerIdRequest, InitProducerIdResponse,
                             WriteTxnMarkersRequest, WriteTxnMarkersResponse, BrokerHeartbeatResponse)

HeartbeatResponse = BrokerHeartbeatResponse

__all__ = [
    "NONE", "NOT_LEADER_OR_FOLLOWER", "LEADER_NOT_AVAILABLE", "NOT_ENOUGH_REPLICAS",
    "NOT_ENOUGH_REPLICAS_AFTER_APPEND", "REQUEST_TIMED_OUT", "OFFSET_OUT_OF_RANGE", "FENCED_LEADER_EPOCH",
    "UNKNOWN_LEADER_EPOCH", "OUT_OF_ORDER_SEQUENCE_NUMBER", "INVALID_PRODUCER_EPOCH", "UNKNOWN_TOPIC_OR_PARTITION",
    "CORRUPT_MESSAGE", "INVALID_UPDATE_VERSION", "INELIGIBLE_REPLICA", "INVALID_TXN_STATE",
    "DEFINITELY_NOT_APPENDED", "NO_LEADER", "READ_UNCOMMITTED", "READ_COMMITTED", "ISOLATION_LEVELS",
    "EARLIEST_TIMESTAMP", "LATEST_TIMESTAMP", "TopicPartition", "PartitionState", "BrokerHeartbeat",
    "HeartbeatResponse", "AlterPartition", "AlterPartitionResponse", "AbortedTransaction", "FetchRequest",
    "FetchResponse", "ListOffsetsRequest", "ListOffsetsResponse", "OffsetsForLeaderEpochRequest",
    "OffsetsForLeaderEpochResponse", "ProduceRequest", "PartitionProduceResult", "ProduceResponse",
    "MetadataRequest", "MetadataResponse", "InitProducerIdRequest", "InitProducerIdResponse",
    "WriteTxnMarkersRequest", "WriteTxnMarkersResponse",
]
