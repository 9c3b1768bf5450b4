"""The errors of consumer groups and the consumer, named like kafka-python's ``kafka.errors``.

Broker-side error *codes* (strings such as ``"ILLEGAL_GENERATION"``) travel in
responses; the client turns them into these exceptions. They live in
``msglib.protocol.errors`` (the bottom floor); ``ConsumerCrashed`` is msglib's own.
"""
from __future__ import annotations

from msglib.protocol.errors import (CommitFailedError, CoordinatorNotAvailableError, FencedInstanceIdError,
                                    IllegalGenerationError, IllegalStateError, InconsistentGroupProtocolError,
                                    InvalidSessionTimeoutError, KafkaError, NoOffsetForPartitionError,
                                    OffsetOutOfRangeError, RebalanceInProgressError, UnknownMemberIdError)
from msglib.protocol.errors import group_error_for_code as for_code


class ConsumerCrashed(BaseException):
    """Raised (by msglib's workloads) when a simulated consumer process dies mid-processing.

    A ``BaseException``, like ``KeyboardInterrupt``: a consumer loop's
    ``except Exception`` must not be able to swallow its own death.
    """


__all__ = ["CommitFailedError", "NoOffsetForPartitionError", "IllegalGenerationError", "UnknownMemberIdError",
           "RebalanceInProgressError", "CoordinatorNotAvailableError", "InconsistentGroupProtocolError",
           "FencedInstanceIdError", "InvalidSessionTimeoutError", "ConsumerCrashed", "IllegalStateError",
           "KafkaError", "OffsetOutOfRangeError", "for_code"]
