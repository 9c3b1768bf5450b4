"""msglib.protocol.errors pinned: every public name, error code, retriable/invalid_metadata flag, base class and
code->exception lookup, so that building the exceptions from a table (or any other rewrite) changes none of them."""
from __future__ import annotations

import inspect
import pickle

import pytest

import msglib.protocol.errors as E

R = ("RuntimeError",)
K = ("KafkaError", "RuntimeError")
KV = ("KafkaError", "RuntimeError", "ValueError")

# name: (the classes it is an instance of, below Exception; errno; retriable; invalid_metadata)
CLASSES = {
    'CommitFailedError': (K, None, False, False),
    'ConcurrentTransactionsError': (K, 'CONCURRENT_TRANSACTIONS', True, False),
    'CoordinatorNotAvailableError': (K, 'COORDINATOR_NOT_AVAILABLE', True, False),
    'CorruptRecordError': (K, 'CORRUPT_MESSAGE', False, False),
    'DuplicateSequenceNumberError': (K, None, False, False),
    'FencedInstanceIdError': (K, 'FENCED_INSTANCE_ID', False, False),
    'FencedLeaderEpochError': (K, 'FENCED_LEADER_EPOCH', True, True),
    'FencedMemberEpochError': (K, 'FENCED_MEMBER_EPOCH', False, False),
    'IllegalGenerationError': (K, 'ILLEGAL_GENERATION', False, False),
    'IllegalStateError': (K, None, False, False),
    'InconsistentGroupProtocolError': (K, 'INCONSISTENT_GROUP_PROTOCOL', False, False),
    'InvalidProducerEpochError': (K, 'INVALID_PRODUCER_EPOCH', False, False),
    'InvalidProducerIdMappingError': (K, 'INVALID_PRODUCER_ID_MAPPING', False, False),
    'InvalidSessionTimeoutError': (K, 'INVALID_SESSION_TIMEOUT', False, False),
    'InvalidTxnStateError': (K, 'INVALID_TXN_STATE', False, False),
    'InvalidTxnTimeoutError': (KV, 'INVALID_TRANSACTION_TIMEOUT', False, False),
    'KafkaConfigurationError': (KV, None, False, False),
    'KafkaError': (R, None, False, False),
    'KafkaTimeoutError': (K, None, True, False),
    'LeaderNotAvailableError': (K, 'LEADER_NOT_AVAILABLE', True, True),
    'NoOffsetForPartitionError': (K, None, False, False),
    'NotEnoughReplicasAfterAppendError': (K, 'NOT_ENOUGH_REPLICAS_AFTER_APPEND', True, False),
    'NotEnoughReplicasError': (K, 'NOT_ENOUGH_REPLICAS', True, False),
    'NotLeaderForPartitionError': (K, 'NOT_LEADER_OR_FOLLOWER', True, True),
    'NotLeaderOrFollowerError': (K, 'NOT_LEADER_OR_FOLLOWER', True, True),
    'OffsetOutOfRangeError': (K, 'OFFSET_OUT_OF_RANGE', False, False),
    'OutOfOrderSequenceNumberError': (K, 'OUT_OF_ORDER_SEQUENCE_NUMBER', False, False),
    'ProducerFencedError': (K, 'PRODUCER_FENCED', False, False),
    'RebalanceInProgressError': (K, 'REBALANCE_IN_PROGRESS', False, False),
    'RequestTimedOutError': (K, 'REQUEST_TIMED_OUT', True, False),
    'StaleMemberEpochError': (K, 'STALE_MEMBER_EPOCH', False, False),
    'TransactionAbortedError': (K, None, False, False),
    'UnknownLeaderEpochError': (K, 'UNKNOWN_LEADER_EPOCH', True, False),
    'UnknownMemberIdError': (K, 'UNKNOWN_MEMBER_ID', False, False),
    'UnknownTopicOrPartitionError': (K, 'UNKNOWN_TOPIC_OR_PARTITION', True, True),
    'UnreleasedInstanceIdError': (K, 'UNRELEASED_INSTANCE_ID', False, False),
    'UnstableOffsetCommitError': (K, 'UNSTABLE_OFFSET_COMMIT', True, False),
    'UnsupportedAssignorError': (K, 'UNSUPPORTED_ASSIGNOR', False, False),
}

CODES = ["CONCURRENT_TRANSACTIONS", "COORDINATOR_NOT_AVAILABLE", "CORRUPT_MESSAGE", "FENCED_INSTANCE_ID",
         "FENCED_LEADER_EPOCH", "FENCED_MEMBER_EPOCH", "ILLEGAL_GENERATION", "INCONSISTENT_GROUP_PROTOCOL",
         "INELIGIBLE_REPLICA", "INVALID_PRODUCER_EPOCH", "INVALID_PRODUCER_ID_MAPPING", "INVALID_REQUEST",
         "INVALID_SESSION_TIMEOUT", "INVALID_TRANSACTION_TIMEOUT", "INVALID_TXN_STATE", "INVALID_UPDATE_VERSION",
         "LEADER_NOT_AVAILABLE", "NOT_ENOUGH_REPLICAS", "NOT_ENOUGH_REPLICAS_AFTER_APPEND", "NOT_LEADER_OR_FOLLOWER",
         "OFFSET_OUT_OF_RANGE", "OUT_OF_ORDER_SEQUENCE_NUMBER", "PRODUCER_FENCED", "REBALANCE_IN_PROGRESS",
         "REQUEST_TIMED_OUT", "STALE_MEMBER_EPOCH", "UNKNOWN_LEADER_EPOCH", "UNKNOWN_MEMBER_ID",
         "UNKNOWN_TOPIC_OR_PARTITION", "UNRELEASED_INSTANCE_ID", "UNSTABLE_OFFSET_COMMIT", "UNSUPPORTED_ASSIGNOR"]

DEFINITELY_NOT_APPENDED = {"CORRUPT_MESSAGE", "INVALID_PRODUCER_EPOCH", "INVALID_TXN_STATE", "LEADER_NOT_AVAILABLE",
                           "NOT_ENOUGH_REPLICAS", "NOT_LEADER_OR_FOLLOWER", "OUT_OF_ORDER_SEQUENCE_NUMBER",
                           "UNKNOWN_TOPIC_OR_PARTITION"}

# for_code: produce, fetch and transaction codes (any other code: a plain KafkaError)
FOR_CODE = {
    "CONCURRENT_TRANSACTIONS": "ConcurrentTransactionsError", "CORRUPT_MESSAGE": "CorruptRecordError",
    "FENCED_LEADER_EPOCH": "FencedLeaderEpochError", "INVALID_PRODUCER_EPOCH": "InvalidProducerEpochError",
    "INVALID_PRODUCER_ID_MAPPING": "InvalidProducerIdMappingError",
    "INVALID_TRANSACTION_TIMEOUT": "InvalidTxnTimeoutError", "INVALID_TXN_STATE": "InvalidTxnStateError",
    "LEADER_NOT_AVAILABLE": "LeaderNotAvailableError", "NOT_ENOUGH_REPLICAS": "NotEnoughReplicasError",
    "NOT_ENOUGH_REPLICAS_AFTER_APPEND": "NotEnoughReplicasAfterAppendError",
    "NOT_LEADER_OR_FOLLOWER": "NotLeaderForPartitionError", "OFFSET_OUT_OF_RANGE": "OffsetOutOfRangeError",
    "OUT_OF_ORDER_SEQUENCE_NUMBER": "OutOfOrderSequenceNumberError", "PRODUCER_FENCED": "ProducerFencedError",
    "REQUEST_TIMED_OUT": "RequestTimedOutError", "UNKNOWN_LEADER_EPOCH": "UnknownLeaderEpochError",
    "UNKNOWN_TOPIC_OR_PARTITION": "UnknownTopicOrPartitionError",
    "UNSTABLE_OFFSET_COMMIT": "UnstableOffsetCommitError",
}

# group_error_for_code: consumer-group codes (any other code: a plain KafkaError)
GROUP_FOR_CODE = {
    "COORDINATOR_NOT_AVAILABLE": "CoordinatorNotAvailableError", "FENCED_INSTANCE_ID": "FencedInstanceIdError",
    "FENCED_MEMBER_EPOCH": "FencedMemberEpochError", "ILLEGAL_GENERATION": "IllegalGenerationError",
    "INCONSISTENT_GROUP_PROTOCOL": "InconsistentGroupProtocolError",
    "INVALID_SESSION_TIMEOUT": "InvalidSessionTimeoutError", "REBALANCE_IN_PROGRESS": "RebalanceInProgressError",
    "STALE_MEMBER_EPOCH": "StaleMemberEpochError", "UNKNOWN_MEMBER_ID": "UnknownMemberIdError",
    "UNRELEASED_INSTANCE_ID": "UnreleasedInstanceIdError", "UNSUPPORTED_ASSIGNOR": "UnsupportedAssignorError",
}


def test_the_public_names_are_the_classes_codes_and_two_lookups():
    public = {n for n in vars(E) if not n.startswith("_") and n != "annotations"}
    assert public == set(CLASSES) | set(CODES) | {"NONE", "DEFINITELY_NOT_APPENDED", "for_code",
                                                  "group_error_for_code"}


def test_each_code_constant_is_its_own_name():
    assert E.NONE is None
    assert {c: getattr(E, c) for c in CODES} == {c: c for c in CODES}
    assert E.DEFINITELY_NOT_APPENDED == frozenset(DEFINITELY_NOT_APPENDED)


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_each_exception_keeps_its_bases_code_and_flags(name):
    cls = getattr(E, name)
    assert inspect.isclass(cls)
    above = tuple(k.__name__ for k in cls.__mro__[1:] if k not in (BaseException, Exception, object))
    assert (above, cls.errno, cls.retriable, cls.invalid_metadata) == CLASSES[name]
    assert cls.__module__ == "msglib.protocol.errors"
    assert getattr(E, cls.__name__) is cls and cls.__qualname__ == cls.__name__   # importable by its name
    if cls is not E.CommitFailedError:
        again = pickle.loads(pickle.dumps(cls("why")))
        assert type(again) is cls and str(again) == "why"


def test_not_leader_or_follower_is_the_same_class_under_kafkas_newer_name():
    assert E.NotLeaderOrFollowerError is E.NotLeaderForPartitionError
    assert E.NotLeaderForPartitionError.__name__ == "NotLeaderForPartitionError"


@pytest.mark.parametrize("code", CODES + ["NO_SUCH_CODE"])
def test_for_code_maps_produce_fetch_and_transaction_codes(code):
    error = E.for_code(code)
    assert type(error).__name__ == FOR_CODE.get(code, "KafkaError") and str(error) == code
    detailed = E.for_code(f"{code}: the broker's detail")
    assert type(detailed) is type(error) and str(detailed) == "the broker's detail"


@pytest.mark.parametrize("code", CODES + ["NO_SUCH_CODE"])
def test_group_error_for_code_maps_consumer_group_codes(code):
    error = E.group_error_for_code(code)
    assert type(error).__name__ == GROUP_FOR_CODE.get(code, "KafkaError") and str(error) == code


def test_commit_failed_keeps_its_reason_and_says_what_to_do():
    error = E.CommitFailedError("generation 3 is not 4")
    assert error.reason == "generation 3 is not 4"
    assert "(generation 3 is not 4)" in str(error) and "max_poll_interval_ms" in str(error)
    assert str(error).endswith("Poll again: the consumer rejoins the group.")
    assert E.CommitFailedError().reason == ""
