"""The Kafka-style model: one topic of partitions (``msglib.log.Topic``), one consumer group per subscriber.

What the mechanism decides, and the comparison measures:

* **A log, not a queue.** Publishing appends to a partition chosen by the key
  (murmur2, the Java client's partitioner); reading never removes anything.
  Each group keeps its own *committed offset* per partition, so N subscribers
  read one stored copy N times, and a group created tomorrow can start at the
  earliest offset still retained (``retention.ms``, whole segments deleted).
* **Order per partition.** The group's partitions are shared out by the range
  assignor (``msglib.groups``): each partition has one reader at a time, which
  processes its records in offset order. Consumers beyond the partition count
  sit idle, and a slow consumer holds up every key of its partitions.
* **At-least-once by default.** A consumer commits ``offset + 1`` after each
  record; one that crashes before committing resumes from the committed offset
  and processes the records after it again. It comes back as the same member
  (static membership), so its partitions wait for it instead of moving.
* **Exactly-once with transactions.** ``transactional = True``: with
  ``exactly_once`` the output of a record and its offset commit are one
  transaction (``sendOffsetsToTransaction``); a crash aborts both.
* **Scale-out is a rebalance.** A joining consumer stops the group: fetched,
  unprocessed records are dropped, in-flight records finish and commit, the
  range assignor reassigns, everyone resumes from the committed offsets.
* **Quotas.** Kafka's client quotas throttle a tenant beyond its share
  (``isolation = "quota"``).

Simplified: one broker's logs (no replication), a fetch returns the records
available now (``fetch.min.bytes=1``) after ``deliver_ms``.

The same topic read by a **share group** (Kafka 4.2's production-ready
"queues for Kafka", KIP-932) is :class:`KafkaShareModel` (``"kafka-share"``).
"""
from __future__ import annotations

import heapq
from typing import Any

from msglib.compare.harness import BrokerModel, Run, Worker, register
from msglib.compare.workload import Subscriber
from msglib.groups.assignors import range_assign
from msglib.groups.protocol import Subscription
from msglib.log import LogConfig, Topic

TOPIC = "events"


class Group:
    """A consumer group: committed offsets, members, and who owns which partition."""

    def __init__(self, sub: Subscriber, committed: list[int]) -> None:
        self.sub = sub
        self.committed = committed                      # partition -> next offset to process
        self.members: list[Worker] = []
        self.owned: dict[int, str] = {}                  # partition -> member name
        self.rebalancing_since: float | None = None
        self.pauses: list[float] = []                    # stop-the-world time of each rebalance


@register
class KafkaModel(BrokerModel):
    name = "kafka"
    kind = "log"
    isolation = "quota"
    transactional = True
    publish_ms = 6.0      # linger.ms=5 (Kafka 4.0's default) + a network hop: an assumption
    deliver_ms = 1.0

    def __init__(self, run: Run, *, partitions: int | None = None, max_poll_records: int = 50,
                 segment_bytes: int = 16 * 1024) -> None:
        super().__init__(run)
        w = run.workload
        self.partitions = partitions if partitions is not None else max(1, w.consumers)
        if not isinstance(self.partitions, int) or self.partitions < 1:
            raise ValueError(f"partitions must be an int >= 1, got {partitions!r}")
        self.max_poll_records = max_poll_records
        retention = -1 if w.retention_ms < 0 else int(w.retention_ms)
        self.topic = Topic(TOPIC, self.partitions, clock=lambda: self.sim.now, seed=run.seed,
                           config=LogConfig(segment_bytes=segment_bytes, retention_ms=retention))
        self.groups: dict[str, Group] = {}
        self.messages = run.recorder.messages
        self.lost_to_retention = 0

    # ------------------------------------------------------------------ producing
    def publish(self, msg: Any) -> None:
        meta = self.topic.send(bytes(msg.size), key=msg.key.encode(), headers=[("id", str(msg.id).encode())])
        for group in self.groups.values():
            owner = group.owned.get(meta.partition)
            for w in group.members:
                if w.name == owner and w.state.get("waiting"):
                    w.state["waiting"] = False
                    self._schedule_fetch(w)

    def stored_copies(self) -> int:
        return sum(log.log_end_offset - log.log_start_offset for log in self.topic.partitions)

    def tick(self) -> None:
        for log in self.topic.partitions:          # log.retention.check.interval.ms
            log.apply_retention(now_ms=self.sim.now)

    # ------------------------------------------------------------------ groups
    def subscribe(self, sub: Subscriber) -> None:
        # auto.offset.reset: earliest for a subscriber that wants the history, latest otherwise
        logs = self.topic.partitions
        start = [log.log_start_offset if sub.from_beginning else log.log_end_offset for log in logs]
        self.groups[sub.name] = Group(sub, start)

    def start(self, sub: Subscriber, workers: list[Worker]) -> None:
        group = self.groups[sub.name]
        group.members.extend(workers)
        self._assign(group)

    def add_worker(self, sub: Subscriber, worker: Worker) -> None:
        group = self.groups[sub.name]
        group.members.append(worker)
        # eager rebalance: everyone stops; records fetched but not processed are dropped
        group.rebalancing_since = self.sim.now
        for w in group.members:
            w.inbox.clear()
        self._maybe_finish_rebalance(group)

    def _maybe_finish_rebalance(self, group: Group) -> None:
        if group.rebalancing_since is None or any(w.alive and w.busy for w in group.members):
            return                                  # in-flight records finish (and commit) first
        group.pauses.append(self.sim.now - group.rebalancing_since)
        group.rebalancing_since = None
        self._assign(group)

    def _assign(self, group: Group) -> None:
        subs = {w.name: Subscription((TOPIC,)) for w in group.members}
        assignment = range_assign({TOPIC: self.partitions}, subs)
        group.owned = {tp.partition: name for name, tps in assignment.items() for tp in tps}
        for w in group.members:
            w.state["partitions"] = [tp.partition for tp in assignment[w.name]]
            w.state["positions"] = {p: group.committed[p] for p in w.state["partitions"]}
            w.state["waiting"] = False
            if w.alive:
                self._schedule_fetch(w)

    # ------------------------------------------------------------------ consuming
    def _schedule_fetch(self, w: Worker) -> None:
        if not w.state.get("fetching"):
            w.state["fetching"] = True
            self.sim.schedule(self.deliver_ms, self._fetch, w, w.incarnation)

    def _fetch(self, w: Worker, incarnation: int) -> None:
        w.state["fetching"] = False
        group = self.groups[w.sub.name]
        if incarnation != w.incarnation or not w.alive or w.busy or w.inbox or group.rebalancing_since is not None:
            return
        batch = []
        positions = w.state["positions"]
        parts = w.state["partitions"]
        turn = w.state.get("turn", 0)
        w.state["turn"] = turn + 1
        for k in range(len(parts)):                 # round-robin over its partitions, one fetch each
            p = parts[(turn + k) % len(parts)]
            log = self.topic.partitions[p]
            if positions[p] < log.log_start_offset:  # retention deleted them: reset to the earliest
                self.lost_to_retention += log.log_start_offset - positions[p]
                positions[p] = log.log_start_offset
            room = self.max_poll_records - len(batch)
            while room > 0 and positions[p] < log.log_end_offset:
                # about `room` records' worth (a whole batch at least): do not decode what will not be used
                data = log.read(positions[p], max_bytes=room * (self.run.workload.message_bytes + 128))
                if not data:
                    break
                for r in data.records():
                    if r.offset >= positions[p] and room > 0:
                        batch.append((p, r.offset, self.messages[int(r.headers[0][1])]))
                        positions[p] = r.offset + 1
                        room -= 1
            if room == 0:
                break
        if not batch:
            w.state["waiting"] = True               # long poll: woken by the next append to its partitions
            return
        for p, offset, msg in batch:
            w.give(msg, lambda p=p, offset=offset, w=w: self._commit(w, p, offset + 1))

    def _commit(self, w: Worker, partition: int, offset: int) -> None:
        group = self.groups[w.sub.name]
        if group.owned.get(partition) != w.name:
            return                                  # not the owner any more: the commit is fenced
        if offset > group.committed[partition]:
            group.committed[partition] = offset

    def on_idle(self, w: Worker) -> None:
        group = self.groups[w.sub.name]
        if group.rebalancing_since is not None:
            self._maybe_finish_rebalance(group)
        else:
            self._schedule_fetch(w)

    def on_crash(self, w: Worker) -> None:
        group = self.groups[w.sub.name]
        if group.rebalancing_since is not None:
            self._maybe_finish_rebalance(group)

    def on_restart(self, w: Worker) -> None:
        # the same member comes back (static membership): it resumes from the committed offsets
        group = self.groups[w.sub.name]
        w.state["positions"] = {p: group.committed[p] for p in w.state.get("partitions", [])}
        w.state["fetching"] = False
        if group.rebalancing_since is None:
            self._schedule_fetch(w)

    def facts(self) -> dict[str, Any]:
        pauses = [p for g in self.groups.values() for p in g.pauses]
        out: dict[str, Any] = {"partitions": self.partitions,
                               "log bytes": sum(log.size_in_bytes for log in self.topic.partitions),
                               "lost to retention": self.lost_to_retention}
        if pauses:
            out["rebalance pause ms"] = round(max(pauses), 1)
        return out


def replacement_copy_bytes(topic: Topic, brokers: int = 3, replication_factor: int = 3, failed: int = 0,
                           payload_bytes: int | None = None) -> int:
    """Bytes a new broker must copy to replace broker ``failed`` (its partition replicas).

    Replicas are placed round-robin (partition p on brokers p, p+1, ... mod
    ``brokers``), as Kafka's default placement roughly does; the replacement
    fetches every replica the failed broker held from the current leaders.
    Counts the logs' bytes on disk, or ``payload_bytes`` per record if given
    (to compare with a model that counts payloads only).
    """
    if not 1 <= replication_factor <= brokers:
        raise ValueError(f"replication_factor must be in 1..{brokers} (the broker count), got {replication_factor}")
    total = 0
    for p, log in enumerate(topic.partitions):
        replicas = [(p + i) % brokers for i in range(replication_factor)]
        if failed in replicas:
            if payload_bytes is None:
                total += log.size_in_bytes
            else:
                total += (log.log_end_offset - log.log_start_offset) * payload_bytes
    return total


class ShareGroup:
    """A share group's state for the topic (KIP-932): which records are available, acquired or done."""

    def __init__(self, sub: Subscriber, next_offset: int) -> None:
        self.sub = sub
        self.next = next_offset                          # the first record never acquired yet
        self.released: list[int] = []                    # a heap: records to deliver again, lowest first
        self.acquired: dict[int, tuple[Worker, int]] = {}    # offset -> (consumer, its incarnation)
        self.deliveries: dict[int, int] = {}             # offset -> delivery count
        self.archived = 0                                # records that used up their deliveries
        self.members: list[Worker] = []


@register
class KafkaShareModel(BrokerModel):
    """A Kafka topic read by a **share group** (KIP-932; early access in 4.0, production-ready in 4.2).

    * **The same log.** Records are stored once and kept for ``retention.ms``; a
      share group can start at the earliest offset (``share.auto.offset.reset``).
    * **Read like a queue.** The group's consumers fetch records of the same
      partitions cooperatively: each record is *acquired* by one consumer for a
      lock (``group.share.record.lock.duration.ms``, 30 s), then acknowledged one
      by one (ACCEPT). Consumers are not limited by the partition count, and a
      slow consumer holds only what it fetched: the others take the rest.
    * **No order promise.** Two records of a key can be processed by two consumers
      at once; a record released by a dead consumer comes back after later ones.
    * **Delivery count.** A record's lock that expires counts a delivery; past
      ``group.share.delivery.count.limit`` (5) the record is *archived*, not
      delivered again. No transactions with share groups (``transactional = False``).

    Simplified: one log for the topic (partitions do not matter to a share group's
    semantics here); a dead consumer's records come back when their lock expires.
    """

    name = "kafka-share"
    kind = "log"
    isolation = "quota"
    transactional = False
    publish_ms = 6.0      # the consumer-group model's assumptions
    deliver_ms = 1.0
    lock_ms = 30_000.0    # group.share.record.lock.duration.ms default
    delivery_limit = 5    # group.share.delivery.count.limit default

    def __init__(self, run: Run) -> None:
        super().__init__(run)
        self.log: list[tuple[float, Any]] = []           # (appended at, message); offset = index
        self.log_start = 0                               # log start offset (retention)
        self.groups: dict[str, ShareGroup] = {}

    def subscribe(self, sub: Subscriber) -> None:
        self.groups[sub.name] = ShareGroup(sub, self.log_start if sub.from_beginning else len(self.log))

    def start(self, sub: Subscriber, workers: list[Worker]) -> None:
        group = self.groups[sub.name]
        group.members.extend(workers)
        self._dispatch(group)

    def add_worker(self, sub: Subscriber, worker: Worker) -> None:
        group = self.groups[sub.name]
        group.members.append(worker)                     # no stop-the-world: it just starts fetching
        self._dispatch(group)

    def _acquire(self, group: ShareGroup) -> int | None:
        while group.released:
            offset = heapq.heappop(group.released)
            if offset >= self.log_start:
                return offset
        group.next = max(group.next, self.log_start)
        if group.next < len(self.log):
            group.next += 1
            return group.next - 1
        return None

    def _dispatch(self, group: ShareGroup) -> None:
        """Give each live consumer records up to its fetch size, round-robin, lowest offsets first."""
        room = self.run.workload.prefetch
        progress = True
        while progress:
            progress = False
            for w in group.members:
                held = w.state.setdefault("held", set())
                if not w.alive or len(held) >= room:
                    continue
                offset = self._acquire(group)
                if offset is None:
                    return
                group.deliveries[offset] = group.deliveries.get(offset, 0) + 1
                group.acquired[offset] = (w, w.incarnation)
                held.add(offset)
                self.sim.schedule(self.deliver_ms, self._deliver, group, w, w.incarnation, offset)
                progress = True

    def _deliver(self, group: ShareGroup, w: Worker, incarnation: int, offset: int) -> None:
        if group.acquired.get(offset) == (w, incarnation) and w.alive:
            w.give(self.log[offset][1], lambda: self._accept(group, w, incarnation, offset))

    def _accept(self, group: ShareGroup, w: Worker, incarnation: int, offset: int) -> None:
        if group.acquired.get(offset) != (w, incarnation):
            return                                        # its lock expired and someone else has it
        del group.acquired[offset]
        w.state["held"].discard(offset)
        self._dispatch(group)

    def _lock_expired(self, group: ShareGroup, w: Worker, incarnation: int, offsets: list[int]) -> None:
        for offset in offsets:
            if group.acquired.get(offset) != (w, incarnation):
                continue
            del group.acquired[offset]
            if group.deliveries[offset] >= self.delivery_limit:
                group.archived += 1                       # delivered too often: archived, never again
            else:
                heapq.heappush(group.released, offset)
        self._dispatch(group)

    def publish(self, msg: Any) -> None:
        self.log.append((self.sim.now, msg))
        for group in self.groups.values():
            self._dispatch(group)

    def stored_copies(self) -> int:
        return len(self.log) - self.log_start

    def tick(self) -> None:
        keep = self.run.workload.retention_ms
        while keep >= 0 and self.log_start < len(self.log) and self.sim.now - self.log[self.log_start][0] > keep:
            self.log_start += 1

    def on_idle(self, w: Worker) -> None:
        self._dispatch(self.groups[w.sub.name])

    def on_crash(self, w: Worker) -> None:
        group = self.groups[w.sub.name]
        mine = sorted(o for o, (holder, inc) in group.acquired.items() if holder is w and inc == w.incarnation - 1)
        w.state["held"] = set()
        if mine:                                          # they stay locked until the lock times out
            self.sim.schedule(self.lock_ms, self._lock_expired, group, w, w.incarnation - 1, mine)
        self._dispatch(group)

    def on_restart(self, w: Worker) -> None:
        self._dispatch(self.groups[w.sub.name])

    def facts(self) -> dict[str, Any]:
        return {"archived (delivery limit)": sum(g.archived for g in self.groups.values()),
                "redelivered": sum(n - 1 for g in self.groups.values() for n in g.deliveries.values() if n > 1)}


__all__ = ["KafkaModel", "Group", "KafkaShareModel", "ShareGroup", "replacement_copy_bytes"]
