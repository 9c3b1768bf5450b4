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
"""
from __future__ import annotations

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


__all__ = ["KafkaModel", "Group", "replacement_copy_bytes"]
