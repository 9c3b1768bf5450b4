"""Committed offsets (and group metadata) kept in a compacted log, like Kafka's ``__consumer_offsets``.

Every commit appends records to the log; the coordinator's in-memory tables
are only a cache of it. After a coordinator restart, replaying the log gives
the tables back, so no commit that was acknowledged is lost.

Two kinds of record, told apart by their key (JSON here, where Kafka uses a
binary schema)::

    key ["offset", group, topic, partition]  value {"offset", "metadata", "leader_epoch", "commit_timestamp"}
    key ["group", group]                     value {"generation", "protocol", "leader", "members", ...}

A record with a null value (a *tombstone*) deletes its key: expired offsets,
a removed group. The log is compacted (module 02): only the latest record of
each key has to survive, so the log stays as small as the set of live keys.
The log itself, the flush before every answer and the replay on load are the
coordinator runtime's (:mod:`msglib.coordinator`); this module is the shard.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable

from msglib.log import Log
from msglib.protocol import OffsetAndMetadata, TopicPartition

TOPIC = "__consumer_offsets"


@dataclass(frozen=True)
class CommittedOffset:
    offset: int
    metadata: str
    leader_epoch: int
    commit_timestamp: float  # ms, the coordinator's clock when it was committed

    def as_offset_and_metadata(self) -> OffsetAndMetadata:
        return OffsetAndMetadata(self.offset, self.metadata, self.leader_epoch)


def offset_key(group_id: str, tp: TopicPartition) -> bytes:
    return json.dumps(["offset", group_id, tp.topic, tp.partition]).encode()


def group_key(group_id: str) -> bytes:
    return json.dumps(["group", group_id]).encode()


class OffsetStore:
    """The group coordinator's shard: the tables rebuilt from the compacted ``__consumer_offsets`` log.

    It is a :class:`~msglib.coordinator.CoordinatorShard`: its tables change only by :meth:`replay`,
    both live (the runtime replays each record right after it is flushed) and when the runtime loads
    the log at boot. :meth:`bind` gives it the runtime its writes go through.
    """

    def __init__(self) -> None:
        self.offsets: dict[str, dict[TopicPartition, CommittedOffset]] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        self.runtime: Any = None

    def bind(self, runtime: Any) -> None:
        self.runtime = runtime

    @property
    def log(self) -> Log:
        return self.runtime.log

    # -- the shard: reading the log back ----------------------------------------------------
    def reset(self) -> None:
        self.offsets, self.groups = {}, {}

    def replay(self, key: list, value: dict[str, Any] | None) -> None:
        """Apply one record: the latest record of each key wins; a tombstone deletes."""
        if key[0] == "offset":
            _, group_id, topic, partition = key
            tp = TopicPartition(topic, partition)
            if value is None:
                group = self.offsets.get(group_id, {})
                group.pop(tp, None)
                if not group:
                    self.offsets.pop(group_id, None)
            else:
                self.offsets.setdefault(group_id, {})[tp] = CommittedOffset(**value)
        elif key[0] == "group":
            if value is None:
                self.groups.pop(key[1], None)
            else:
                self.groups[key[1]] = value

    def load(self) -> None:
        """Rebuild the tables from the log (the runtime resets this shard and replays every record)."""
        self.runtime.load()

    # -- writing (through the runtime: append, flush, then replay into the tables) -----------
    def commit(self, group_id: str, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        """One record per partition (the log first: it is the truth; the tables follow by replay)."""
        now = self.runtime.now()
        entries = {tp: CommittedOffset(int(om.offset), om.metadata or "", int(om.leader_epoch), now)
                   for tp, om in offsets.items()}
        self.runtime.write([(["offset", group_id, tp.topic, tp.partition], dict(c.__dict__))
                            for tp, c in sorted(entries.items())])

    def delete_offsets(self, group_id: str, tps: Iterable[TopicPartition]) -> None:
        tps = sorted(set(tps) & set(self.offsets.get(group_id, {})))
        self.runtime.write([(["offset", group_id, tp.topic, tp.partition], None) for tp in tps])

    def store_group(self, group_id: str, metadata: dict[str, Any]) -> None:
        self.runtime.write([(["group", group_id], metadata)])

    def delete_group(self, group_id: str) -> None:
        if group_id in self.groups:
            self.runtime.write([(["group", group_id], None)])

    def maybe_compact(self) -> None:
        """Compact once half the bytes of the closed segments are overwritten records."""
        self.runtime.maybe_compact()

    # -- reading ----------------------------------------------------------------------------
    def committed(self, group_id: str, tp: TopicPartition) -> CommittedOffset | None:
        return self.offsets.get(group_id, {}).get(tp)

    def group_offsets(self, group_id: str) -> dict[TopicPartition, CommittedOffset]:
        return dict(self.offsets.get(group_id, {}))
