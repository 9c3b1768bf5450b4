"""The structs every Kafka message is built from: partitions, partition states, offsets, subscriptions.

Shapes follow Kafka's protocol and kafka-python (``TopicPartition``,
``OffsetAndMetadata``, ``ConsumerGroupMetadata``). Nothing here imports the
rest of msglib.
"""
from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass
from typing import Any, NamedTuple

NO_LEADER = -1

# Fetch and ListOffsets isolation levels (Kafka's byte values).
READ_UNCOMMITTED = 0
READ_COMMITTED = 1
ISOLATION_LEVELS = {"read_uncommitted": READ_UNCOMMITTED, "read_committed": READ_COMMITTED}

# ListOffsets' special timestamps.
EARLIEST_TIMESTAMP = -2
LATEST_TIMESTAMP = -1


class TopicPartition(NamedTuple):
    """A partition of a topic (kafka-python's ``TopicPartition``)."""

    topic: str
    partition: int

    def __str__(self) -> str:
        return f"{self.topic}-{self.partition}"


@dataclass(frozen=True)
class PartitionState:
    """What the controller decided about one partition (one metadata record).

    ``leader_epoch`` rises by one on every leader change (a new leader, or
    none); ``partition_epoch`` rises on every change, ISR-only ones included.
    """

    tp: TopicPartition
    replicas: tuple[int, ...]
    leader: int
    leader_epoch: int
    isr: tuple[int, ...]
    partition_epoch: int
    elr: tuple[int, ...] = ()  # eligible leader replicas (KIP-966), kept by a KRaft controller

    def describe(self) -> str:
        leader = "none" if self.leader == NO_LEADER else self.leader
        elr = f", elr {list(self.elr)}" if self.elr else ""
        return (f"{self.tp}: leader {leader} (epoch {self.leader_epoch}), isr {list(self.isr)}{elr}, "
                f"replicas {list(self.replicas)}")


class AbortedTransaction(NamedTuple):
    """An aborted transaction a fetch range overlaps: its producer and the offset of its first record."""

    producer_id: int
    first_offset: int


# -- consumer groups -----------------------------------------------------------------------
NO_GENERATION = -1
NO_MEMBER_ID = ""

OffsetAndMetadata = namedtuple("OffsetAndMetadata", ["offset", "metadata", "leader_epoch"],
                               defaults=[None, "", -1])   # kafka-python 3.x's fields and defaults
OffsetAndMetadata.__doc__ = ("A committed offset: the NEXT offset to consume (last processed + 1), an "
                             "optional metadata string, and the leader epoch it was read in.")


class MemberState:
    """Where a consumer is in its group (kafka-python 3.x's ``kafka.structs.MemberState`` values)."""

    UNJOINED = "<unjoined>"        # not in a group
    REBALANCING = "<rebalancing>"  # joining or syncing
    STABLE = "<stable>"            # joined, heartbeating


# The first four fields are KIP-447's fencing identity (sent with offsets committed inside a transaction);
# ``state`` is the live MemberState, as in kafka-python 3.x (ignored by fencing).
ConsumerGroupMetadata = namedtuple("ConsumerGroupMetadata",
                                   ["group_id", "generation_id", "member_id", "group_instance_id", "state"],
                                   defaults=[None, NO_GENERATION, NO_MEMBER_ID, None, MemberState.UNJOINED])


@dataclass(frozen=True)
class Subscription:
    """What a member tells the group when it joins (one per assignor it supports).

    ``owned_partitions`` and ``generation`` let sticky assignors keep
    partitions where they are (KIP-429/KIP-792 put them in the subscription).
    """

    topics: tuple[str, ...]
    owned_partitions: tuple[TopicPartition, ...] = ()
    generation: int = NO_GENERATION
    group_instance_id: str | None = None
    user_data: Any = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "topics", tuple(sorted(set(self.topics))))
        object.__setattr__(self, "owned_partitions", tuple(sorted(self.owned_partitions)))


