"""The metadata records the controller quorum replicates (KIP-631), and the quorum's own control record.

Each record is a small frozen value: the metadata log is a list of ``Entry(epoch, record)``, and
replaying the committed entries in order rebuilds the cluster's metadata (``controller.MetadataImage``).
Field names follow Kafka's record schemas (``metadata/src/main/resources/common/metadata/*.json``),
reduced to what msglib's controller uses; docs/kraft.md says what was left out.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Union

NO_LEADER = -1


@dataclass(frozen=True)
class LeaderChangeRecord:
    """Control record a new quorum leader appends first in its epoch (KIP-595's LeaderChangeMessage).

    Committing it commits every earlier entry too: a Raft leader only counts replicas for
    entries of its own epoch."""

    leader: str
    epoch: int


@dataclass(frozen=True)
class RegisterBrokerRecord:
    """A broker registered (KIP-631). Its broker epoch is the offset of this record; it starts fenced."""

    broker_id: int
    broker_epoch: int
    clean_shutdown: bool = True  # False: the broker lost unflushed data (KIP-966 takes it out of ELRs)


@dataclass(frozen=True)
class FenceBrokerRecord:
    """The controller fenced a broker: no heartbeat within ``broker.session.timeout.ms``."""

    broker_id: int
    broker_epoch: int


@dataclass(frozen=True)
class UnfenceBrokerRecord:
    """The controller unfenced a broker: it heartbeats and has caught up with the metadata log."""

    broker_id: int
    broker_epoch: int


@dataclass(frozen=True)
class TopicRecord:
    """A topic was created."""

    name: str


@dataclass(frozen=True)
class PartitionRecord:
    """A partition was created: its replicas, ISR, ELR, leader and leader epoch."""

    topic: str
    partition: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    leader: int
    leader_epoch: int = 0
    elr: tuple[int, ...] = ()
    last_known_elr: tuple[int, ...] = ()


@dataclass(frozen=True)
class PartitionChangeRecord:
    """A partition's leader, ISR or ELR changed. ``None`` fields are unchanged.

    A leader change bumps the partition's leader epoch when applied (as Kafka's
    ``PartitionChangeRecord`` does)."""

    topic: str
    partition: int
    leader: int | None = None
    isr: tuple[int, ...] | None = None
    elr: tuple[int, ...] | None = None
    last_known_elr: tuple[int, ...] | None = None
    unclean: bool = False  # the leader came from outside ISR and ELR (may lose committed data)


MetadataRecord = Union[LeaderChangeRecord, RegisterBrokerRecord, FenceBrokerRecord, UnfenceBrokerRecord,
                       TopicRecord, PartitionRecord, PartitionChangeRecord]


class Entry(NamedTuple):
    """One entry of the replicated metadata log: the quorum epoch that appended it, and the record."""

    epoch: int
    record: MetadataRecord


def describe(record: MetadataRecord) -> str:
    """A short, stable text for a record (histories compare records by it)."""
    name = type(record).__name__.replace("Record", "")
    fields = ", ".join(f"{k}={v}" for k, v in record.__dict__.items())
    return f"{name}({fields})"


