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
RECORD, GROUP = "for_code", "group_error_for_code"

# name: (the classes it is an instance of, below Exception; errno; retriable; invalid_metadata; the lookup that
# turns its errno into it). NotLeaderOrFollowerError is NotLeaderForPartitionError under a second name.
CLASSES = {
    'CommitFailedError': (K, None, False, False, None),
    'ConcurrentTransactionsError': (K, 'CONCURRENT_TRANSACTIONS', True, False, RECORD),
    'CoordinatorNotAvailableError': (K, 'COORDINATOR_NOT_AVAILABLE', True, False, GROUP),
    'CorruptRecordError': (K, 'CORRUPT_MESSAGE', False, False, RECORD),
    'DuplicateSequenceNumberError': (K, None, False, False, None),
    'FencedInstanceIdError': (K, 'FENCED_INSTANCE_ID', False, False, GROUP),
    'FencedLeaderEpochError': (K, 'FENCED_LEADER_EPOCH', True, True, RECORD),
    'FencedMemberEpochError': (K, 'FENCED_MEMBER_EPOCH', False, False, GROUP),
    'IllegalGenerationError': (K, 'ILLEGAL_GENERATION', False, False, GROUP),
    'IllegalStateError': (K, None, False, False, None),
    'InconsistentGroupProtocolError': (K, 'INCONSISTENT_GROUP_PROTOCOL', False, False, GROUP),
    'InvalidProducerEpochError': (K, 'INVALID_PRODUCER_EPOCH', False, False, RECORD),
    'InvalidProducerIdMappingError': (K, 'INVALID_PRODUCER_ID_MAPPING', False, False, RECORD),
    'InvalidSessionTimeoutError': (K, 'INVALID_SESSION_TIMEOUT', False, False, GROUP),
    'InvalidTxnStateError': (K, 'INVALID_TXN_STATE', False, False, RECORD),
    'InvalidTxnTimeoutError': (KV, 'INVALID_TRANSACTION_TIMEOUT', False, False, RECORD),
    'KafkaConfigurationError': (KV, None, False, False, None),
    'KafkaError': (R, None, False, False, None),
    'KafkaTimeoutError': (K, None, True, False, None),
    'LeaderNotAvailableError': (K, 'LEADER_NOT_AVAILABLE', True, True, RECORD),
    'NoOffsetForPartitionError': (K, None, False, False, None),
    'NotEnoughReplicasAfterAppendError': (K, 'NOT_ENOUGH_REPLICAS_AFTER_APPEND', True, False, RECORD),
    'NotEnoughReplicasError': (K, 'NOT_ENOUGH_REPLICAS', True, False, RECORD),
    'NotLeaderForPartitionError': (K, 'NOT_LEADER_OR_FOLLOWER', True, True, RECORD),
    'NotLeaderOrFollowerError': (K, 'NOT_LEADER_OR_FOLLOWER', True, True, None),
    'OffsetOutOfRangeError': (K, 'OFFSET_OUT_OF_RANGE', False, False, RECORD),
    'OutOfOrderSequenceNumberError': (K, 'OUT_OF_ORDER_SEQUENCE_NUMBER', False, False, RECORD),
    'ProducerFencedError': (K, 'PRODUCER_FENCED', False, False, RECORD),
    'RebalanceInProgressError': (K, 'REBALANCE_IN_PROGRESS', False, False, GROUP),
    'RequestTimedOutError': (K, 'REQUEST_TIMED_OUT', True, False, RECORD),
    'StaleMemberEpochError': (K, 'STALE_MEMBER_EPOCH', False, False, GROUP),
    'TransactionAbortedError': (K, None, False, False, None),
    'UnknownLeaderEpochError': (K, 'UNKNOWN_LEADER_EPOCH', True, False, RECORD),
    'UnknownMemberIdError': (K, 'UNKNOWN_MEMBER_ID', False, False, GROUP),
    'UnknownTopicOrPartitionError': (K, 'UNKNOWN_TOPIC_OR_PARTITION', True, True, RECORD),
    'UnreleasedInstanceIdError': (K, 'UNRELEASED_INSTANCE_ID', False, False, GROUP),
    'UnstableOffsetCommitError': (K, 'UNSTABLE_OFFSET_COMMIT', True, False, RECORD),
    'UnsupportedAssignorError': (K, 'UNSUPPORTED_ASSIGNOR', False, False, GROUP),
}

# every code constant: those of the classes above, and three no client exception stands for
CODES = sorted({row[1] for row in CLASSES.values() if row[1]} | {"INELIGIBLE_REPLICA", "INVALID_REQUEST",
                                                                 "INVALID_UPDATE_VERSION"})

DEFINITELY_NOT_APPENDED = {"CORRUPT_MESSAGE", "INVALID_PRODUCER_EPOCH", "INVALID_TXN_STATE", "LEADER_NOT_AVAILABLE",
                           "NOT_ENOUGH_REPLICAS", "NOT_LEADER_OR_FOLLOWER", "OUT_OF_ORDER_SEQUENCE_NUMBER",
                           "UNKNOWN_TOPIC_OR_PARTITION"}


def found_by(lookup: str) -> dict[str, str]:
    """code -> class name that ``lookup`` gives (any other code: a plain KafkaError)."""
    return {row[1]: name for name, row in CLASSES.items() if row[4] == lookup}


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
    assert (above, cls.errno, cls.retriable, cls.invalid_metadata) == CLASSES[name][:4]
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
    assert type(error).__name__ == found_by(RECORD).get(code, "KafkaError") and str(error) == code
    detailed = E.for_code(f"{code}: the broker's detail")
    assert type(detailed) is type(error) and str(detailed) == "the broker's detail"


@pytest.mark.parametrize("code", CODES + ["NO_SUCH_CODE"])
def test_group_error_for_code_maps_consumer_group_codes(code):
    error = E.group_error_for_code(code)
    assert type(error).__name__ == found_by(GROUP).get(code, "KafkaError") and str(error) == code


def test_commit_failed_keeps_its_reason_and_says_what_to_do():
    error = E.CommitFailedError("generation 3 is not 4")
    assert error.reason == "generation 3 is not 4"
    assert "(generation 3 is not 4)" in str(error) and "max_poll_interval_ms" in str(error)
    assert str(error).endswith("Poll again: the consumer rejoins the group.")
    assert E.CommitFailedError().reason == ""
