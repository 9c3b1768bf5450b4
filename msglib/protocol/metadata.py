"""What a node knows about the cluster: who leads each partition (kafka-python's ClusterMetadata).

Kept by clients and by the transaction coordinator (which sends markers to partition leaders), so it
sits on the protocol floor: it speaks Metadata requests and imports nothing above them.

A client asks one broker at a time (rotating through ``bootstrap``) for
metadata. The answer may be stale: that broker learns from the controller a
heartbeat late. For each partition the client keeps whichever state has the
higher (leader epoch, partition epoch), so an old answer never undoes a newer
one. After an error that means "wrong leader" the client asks again.
"""
from __future__ import annotations

from typing import Callable

from msglib.protocol import messages as p
from msglib.protocol.messages import broker_node
from msglib.protocol.structs import NO_LEADER, PartitionState, TopicPartition
from msglib.sim.network import Node


class ClientMetadata:
    def __init__(self, node: Node, bootstrap: list[int], request_timeout_ms: float, backoff_ms: float,
                 on_update: Callable[[], None] | None = None) -> None:
        if not bootstrap:
            raise ValueError("bootstrap_servers is empty; give at least one broker id")
        self.node = node
        self.bootstrap = list(bootstrap)
        self.request_timeout_ms = request_timeout_ms
        self.backoff_ms = backoff_ms
        self.on_update = on_update
        self.partitions: dict[TopicPartition, PartitionState] = {}
        self._counts: dict[str, int] = {}
        self._next = 0
        self._in_flight: int | None = None
        self._last_request_ms = -1e18
        self._ids = 0

    def num_partitions(self, topic: str) -> int | None:
        return self._counts.get(topic)

    def leader(self, tp: TopicPartition) -> int | None:
        st = self.partitions.get(tp)
        return None if st is None or st.leader == NO_LEADER else st.leader

    def leader_epoch(self, tp: TopicPartition) -> int:
        st = self.partitions.get(tp)
        return -1 if st is None else st.leader_epoch

    def request_update(self) -> None:
        """Ask for fresh metadata, unless a request is out or one went out less than a backoff ago."""
        now = self.node.sim.now
        if self._in_flight is not None or now - self._last_request_ms < self.backoff_ms:
            return
        self._ids += 1
        self._in_flight = rid = self._ids
        self._last_request_ms = now
        target = self.bootstrap[self._next % len(self.bootstrap)]
        self._next += 1
        self.node.send(broker_node(target), p.MetadataRequest(rid))
        self.node.after(self.request_timeout_ms, self._timeout, rid)

    def _timeout(self, rid: int) -> None:
        if self._in_flight == rid:
            self._in_flight = None
            self.request_update()  # try the next broker

    def on_response(self, resp: p.MetadataResponse) -> None:
        if resp.request_id == self._in_flight:
            self._in_flight = None
        for tp, st in resp.partitions.items():
            old = self.partitions.get(tp)
            if old is None or (st.leader_epoch, st.partition_epoch) > (old.leader_epoch, old.partition_epoch):
                self.partitions[tp] = st
            self._counts[tp.topic] = max(self._counts.get(tp.topic, 0), tp.partition + 1)
        if self.on_update is not None and resp.partitions:
            self.on_update()
