"""The errors of consumer groups and the consumer, named like kafka-python's ``kafka.errors``.

Broker-side error *codes* (strings such as ``"ILLEGAL_GENERATION"``) travel in
responses (``protocol.py``); the client turns them into these exceptions.
"""
from __future__ import annotations

from msglib.client.errors import IllegalStateError, KafkaError, OffsetOutOfRangeError
from msglib.groups import protocol as p


class CommitFailedError(KafkaError):
    """The commit cannot succeed: the group rebalanced and this member's generation or id is stale.

    The partitions may already belong to another member; re-processing what
    was not committed is that member's job. Poll again to rejoin the group.
    """

    def __init__(self, reason: str = "") -> None:
        super().__init__(
            "Commit cannot be completed since the group has already rebalanced and assigned the partitions "
            "to another member" + (f" ({reason})" if reason else "") + ". This means the time between "
            "subsequent calls to poll() was longer than max_poll_interval_ms, or the member was removed "
            "(session timeout, a pause, a crash). Poll again: the consumer rejoins the group.")
        self.reason = reason


class NoOffsetForPartitionError(KafkaError):
    """No committed offset and ``auto_offset_reset='none'``: the consumer does not guess a start."""


class IllegalGenerationError(KafkaError):
    errno = p.ILLEGAL_GENERATION


class UnknownMemberIdError(KafkaError):
    errno = p.UNKNOWN_MEMBER_ID


class RebalanceInProgressError(KafkaError):
    errno = p.REBALANCE_IN_PROGRESS
    retriable = True


class CoordinatorNotAvailableError(KafkaError):
    errno = p.COORDINATOR_NOT_AVAILABLE
    retriable = True


class InconsistentGroupProtocolError(KafkaError):
    """No assignor is supported by every member (e.g. one says ``range``, another only ``roundrobin``)."""

    errno = p.INCONSISTENT_GROUP_PROTOCOL


class FencedInstanceIdError(KafkaError):
    """Another consumer with the same ``group_instance_id`` took this one's place."""

    errno = p.FENCED_INSTANCE_ID


class InvalidSessionTimeoutError(KafkaError):
    errno = p.INVALID_SESSION_TIMEOUT


class ConsumerCrashed(BaseException):
    """Raised (by msglib's workloads) when a simulated consumer process dies mid-processing.

    A ``BaseException``, like ``KeyboardInterrupt``: a consumer loop's
    ``except Exception`` must not be able to swallow its own death.
    """


_BY_CODE = {cls.errno: cls for cls in (IllegalGenerationError, UnknownMemberIdError, RebalanceInProgressError,
                                       CoordinatorNotAvailableError, InconsistentGroupProtocolError,
                                       FencedInstanceIdError, InvalidSessionTimeoutError)}


def for_code(code: str) -> KafkaError:
    return _BY_CODE.get(code, KafkaError)(code)


__all__ = ["CommitFailedError", "NoOffsetForPartitionError", "IllegalGenerationError", "UnknownMemberIdError",
           "RebalanceInProgressError", "CoordinatorNotAvailableError", "InconsistentGroupProtocolError",
           "FencedInstanceIdError", "InvalidSessionTimeoutError", "ConsumerCrashed", "IllegalStateError",
           "KafkaError", "OffsetOutOfRangeError", "for_code"]
