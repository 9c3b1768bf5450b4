"""KafkaConsumer over the simulated cluster (or a local Topic), shaped like kafka-python's.

::

    consumer = KafkaConsumer("orders", cluster=cluster, group_id="billing",
                             auto_offset_reset="earliest", enable_auto_commit=False)
    for tp, records in consumer.poll(timeout_ms=1_000).items():
        for record in records:
            handle(record.value)
    consumer.commit()            # the NEXT offsets to read: last returned + 1

The words that matter:

* **position** -- the next offset ``poll`` returns for a partition; it moves
  when ``poll`` *returns* records (not when they are fetched).
* **committed offset** -- the position a group stored with the coordinator;
  whoever gets the partition next starts there. Commit after processing:
  at-least-once. Commit before: at-most-once.
* **auto.offset.reset** -- where to start without a (valid) committed offset:
  ``earliest`` (log start), ``latest`` (the high-water mark) or ``none`` (raise).
  :func:`starting_offset` is that rule; a consumer takes another one through
  its ``reset_position`` setting (the seam an exercise plugs into).

What happens inside ``poll(timeout_ms)``, in order: group membership (join,
sync, revoke and assign partitions: ``msglib.groups.membership``), auto-commit
of the positions the *previous* poll reached, starting positions for new
partitions (committed offset, else the reset policy), then records: from the
buffer if there are some, else fetches to the partition leaders, waiting up
to ``timeout_ms`` of simulated time.

It is composed the way kafka-python's is, around one shared state:

* ``subscription_state.py`` -- :class:`SubscriptionState`: subscription or assignment, positions, pauses;
* ``fetcher.py``            -- :class:`Fetcher`: starting offsets, fetches, the record buffer;
* ``msglib.groups.membership`` -- :class:`ConsumerCoordinator`: join, sync, heartbeats, commits;
* ``network_client.py``     -- :class:`NetworkClient`: the node, request ids, waiting in simulated time;
* ``policies.py``           -- the two pure decisions learners replace (``starting_offset``, ``filter_aborted``).

This class checks arguments, wires the parts together and runs commits (which kafka-python's
``ConsumerCoordinator`` runs; here they stay with the consumer, next to the history they record).

Two backends share all of this: a :class:`~msglib.cluster.Cluster` (fetches go
to partition leaders over the simulated network and see records below the
high-water mark) and a :class:`~msglib.groups.local.LocalBroker` or a bare
:class:`~msglib.log.Topic` (fetches read the logs directly).

**The kafka-python contract** (docs/kafka-python-contract.md): the settings, defaults, iterator, ``seek``,
``commit``, ``poll`` return values and errors are kafka-python 3.x's. Without ``cluster=`` the consumer
reads the embedded default cluster (``embedded.py``; ``bootstrap_servers`` must be ``localhost:9092`` or
left out, else :class:`~msglib.client.errors.NoBrokersAvailable`). Where msglib differs on purpose: time is
simulated (timeouts are simulated ms), ``subscribe()`` needs a ``group_id``, ``client_id`` defaults to a
per-client name, network and security settings are accepted and ignored with one warning. Defaults follow
kafka-python 3.0, which match the Java client's today (docs/kafka-defaults.md) except
``partition_assignment_strategy``: kafka-python's ``(range, roundrobin)``, where Java has
``[range, cooperative-sticky]`` since Kafka 3.0 (range is used either way).

**isolation_level** (module 06, cluster only): ``read_uncommitted`` reads up to
the high-water mark, records of open and aborted transactions included.
``read_committed`` reads only up to the *last stable offset* (nothing of a
transaction that may still abort, nor anything after it), and drops the
records of aborted transactions (:func:`filter_aborted`, the seam
``aborted_filter``). At both levels transaction markers (control batches) are
never returned, but the position moves past them: offsets seen by the
application have gaps.
"""
from __future__ import annotations

import math
import re
from typing import Any, Callable, Iterable, Iterator

from msglib import protocol as proto
from msglib.client.fetcher import ConsumerRecord, Fetcher, OffsetAndTimestamp
from msglib.client.future import Future
from msglib.client.config import GROUP_PROTOCOL, IGNORED_CONSUMER, SESSION_TIMEOUT_MS, split_configs
from msglib.client.embedded import auto_create, resolve
from msglib.client.network_client import NetworkClient
from msglib.client.policies import PartitionBounds, filter_aborted, starting_offset
from msglib.client.subscription_state import ConsumerRebalanceListener, SubscriptionState
from msglib.groups.assignors import make_assignor
from msglib.groups.coordinator import coordinator_for
from msglib.groups.local import FAST_CONSUMER_DEFAULTS, LocalBroker
from msglib.groups.consumer_membership import ConsumerMembershipManager, check_group_protocol
from msglib.groups.membership import ConsumerCoordinator
from msglib.log import Topic
from msglib.protocol import ConsumerGroupMetadata, OffsetAndMetadata, TopicPartition
from msglib.protocol.structs import MemberState
from msglib.protocol.errors import (CommitFailedError, IllegalStateError, KafkaConfigurationError, KafkaError,
                                    KafkaTimeoutError)
from msglib.sim.history import FAIL, OK

DEFAULT_CONFIG: dict[str, Any] = {
    "bootstrap_servers": "localhost",   # kafka-python's default: the embedded default cluster (embedded.py)
    "client_id": None,
    "group_id": None,
    "group_instance_id": None,
    "key_deserializer": None,
    "value_deserializer": None,
    "auto_offset_reset": "latest",
    "enable_auto_commit": True,
    "auto_commit_interval_ms": 5_000,
    "isolation_level": "read_uncommitted",
    "partition_assignment_strategy": ("range", "roundrobin"),   # kafka-python's default
    "max_poll_records": 500,
    "max_poll_interval_ms": 300_000,
    "session_timeout_ms": SESSION_TIMEOUT_MS,   # 45 s since Kafka 3.0 (KIP-735)
    "heartbeat_interval_ms": 3_000,
    "fetch_min_bytes": 1,
    "fetch_max_wait_ms": 500,
    "max_partition_fetch_bytes": 1_048_576,
    "consumer_timeout_ms": math.inf,
    "request_timeout_ms": 30_000,
    "retry_backoff_ms": 100,
    "default_api_timeout_ms": 60_000,
    "allow_auto_create_topics": True,   # subscribe() creates missing topics on the embedded default
    # Java client / librdkafka names (group.protocol, group.remote.assignor; KIP-848). "classic" is the
    # Java client's default in Apache Kafka 4.0 too (docs/kip-848.md).
    "group_protocol": GROUP_PROTOCOL,   # Kafka 4.0: "consumer" (KIP-848) is opt-in
    "group_remote_assignor": None,      # group_protocol="consumer": a server-side assignor (uniform, range)
    # msglib
    "history": None,          # record polls and commits into this History
    "reset_position": None,   # the starting-offset rule (default: starting_offset)
    "aborted_filter": None,   # read_committed: drops aborted transactions' batches (default: filter_aborted)
}


class KafkaConsumer:
    """Consumes from a simulated cluster or a LocalBroker/Topic. See the module docstring."""

    supports_read_committed = True    # on a Cluster (a LocalBroker refuses it in __init__)

    def __init__(self, *topics: str, cluster: Any = None, **configs: Any) -> None:
        """``cluster``: a msglib Cluster, LocalBroker or Topic; without it, the embedded default
        (``bootstrap_servers`` must then be its address, ``localhost:9092``, or left out).
        kafka-python's network and security settings are accepted and ignored, with one warning."""
        if isinstance(cluster, Topic):
            cluster = LocalBroker.for_topic(cluster)
        configs = split_configs("KafkaConsumer", configs, DEFAULT_CONFIG, IGNORED_CONSUMER)
        cluster, _ = resolve(cluster, configs.get("bootstrap_servers", DEFAULT_CONFIG["bootstrap_servers"]))
        if isinstance(cluster, LocalBroker):
            defaults = cluster.client_defaults
        else:
            fast = getattr(cluster.config, "broker_heartbeat_interval_ms", 2_000) < 1_000
            defaults = FAST_CONSUMER_DEFAULTS if fast else {}
        self.config = c = dict(DEFAULT_CONFIG, **defaults)
        c.update(configs)
        self._validate_config()
        self.cluster = cluster
        name = c["client_id"] or cluster.next_client_name("consumer")
        c["client_id"] = self.name = name
        self._client = NetworkClient(name, cluster.network, self._on_message, c["default_api_timeout_ms"])
        self.node = self._client.node
        self.sim = self._client.sim
        self.history = c["history"]
        self.read_committed = c["isolation_level"] == "read_committed"
        if self.read_committed and isinstance(cluster, LocalBroker):
            raise KafkaConfigurationError(
                "isolation_level='read_committed' needs a msglib Cluster: transactions (module 06, msglib.txn) "
                "run on the cluster's brokers, and a LocalBroker has no transaction markers. Use "
                "cluster.consumer(..., isolation_level='read_committed')")
        self._subscriptions = SubscriptionState(lambda: self.sim.now)
        self._fetcher = Fetcher(self._client, self._subscriptions, c, cluster,
                                fetch_committed=lambda tps, done: self._coordinator.send_offset_fetch(tps, done))
        coordinator = cluster.coordinator if isinstance(cluster, LocalBroker) else coordinator_for(cluster)
        self.coordinator_node = coordinator
        if c["group_protocol"] == "consumer":    # KIP-848: one heartbeat loop, the coordinator assigns
            self._coordinator = ConsumerMembershipManager(
                self._client, self._subscriptions, c, coordinator.name,
                commit_before_rebalance=self._maybe_auto_commit_sync, remote_assignor=c["group_remote_assignor"])
        else:
            self._coordinator = ConsumerCoordinator(
                self._client, self._subscriptions, c, coordinator.name,
                [make_assignor(a) for a in c["partition_assignment_strategy"]],
                partition_counts=self._fetcher.partition_counts, commit_before_rebalance=self._maybe_auto_commit_sync)
        self._next_auto_commit = self.sim.now + c["auto_commit_interval_ms"]
        self._crashed = False
        self._iterator: Iterator[ConsumerRecord] | None = None   # records polled, not yet yielded
        self.stats = {"records": 0, "polls": 0, "commits": 0, "commit_failures": 0}
        if topics:
            self.subscribe(topics)

    # ------------------------------------------------------------------ configuration
    def _validate_config(self) -> None:
        c = self.config
        deprecated = {"smallest": "earliest", "largest": "latest"}     # kafka-python maps them (and logs it)
        if c["auto_offset_reset"] in deprecated:
            c["auto_offset_reset"] = deprecated[c["auto_offset_reset"]]
        try:
            check_group_protocol(c["group_protocol"])
        except ValueError as exc:
            raise KafkaConfigurationError(str(exc)) from None
        if c["group_instance_id"] is not None and c["group_id"] is None:
            raise KafkaConfigurationError("group_instance_id requires group_id")
        if c["auto_offset_reset"] not in ("earliest", "latest", "none"):
            raise KafkaConfigurationError(f"auto_offset_reset must be 'earliest', 'latest' or 'none', "
                                          f"not {c['auto_offset_reset']!r}")
        if c["isolation_level"] not in ("read_uncommitted", "read_committed"):
            raise KafkaConfigurationError(f"isolation_level must be 'read_uncommitted' or 'read_committed', "
                                          f"not {c['isolation_level']!r}")
        if not isinstance(c["max_poll_records"], int) or c["max_poll_records"] <= 0:
            raise KafkaConfigurationError(f"max_poll_records must be an int > 0, not {c['max_poll_records']!r}")
        if c["heartbeat_interval_ms"] >= c["session_timeout_ms"]:
            raise KafkaConfigurationError("heartbeat_interval_ms must be lower than session_timeout_ms, or the "
                                          "member is removed between two heartbeats")
        if c["request_timeout_ms"] <= c["fetch_max_wait_ms"]:
            raise KafkaConfigurationError("request_timeout_ms must be greater than fetch_max_wait_ms, or every "
                                          "long-polling fetch times out")
        if not c["partition_assignment_strategy"]:
            raise KafkaConfigurationError("partition_assignment_strategy needs at least one assignor")

    # The two seams, as the fetcher applies them (set them with the reset_position / aborted_filter settings).
    @property
    def reset_position(self) -> Callable[..., int]:
        return self._fetcher.reset_position

    @property
    def aborted_filter(self) -> Callable[..., list]:
        return self._fetcher.aborted_filter

    @property
    def assignment_log(self) -> list[tuple[float, tuple[TopicPartition, ...]]]:
        """(time, partitions owned from then on): who owned what when, for timelines and checks."""
        return self._subscriptions.assignment_log

    @property
    def _closed(self) -> bool:
        return self._client.closed

    def _check_open(self) -> None:
        if self._crashed:
            raise IllegalStateError(f"consumer {self.name} crashed; start a new consumer in its place")
        if self._client.closed:
            raise IllegalStateError("This consumer has been closed.")

    def _on_message(self, src: str, msg: Any) -> None:
        if src == self._coordinator.coordinator:
            self._coordinator.on_response(msg)
        else:
            self._fetcher.on_message(src, msg)

    # ------------------------------------------------------------------ subscribe / assign
    def subscribe(self, topics: Iterable[str] = (), pattern: str | None = None,
                  listener: ConsumerRebalanceListener | None = None) -> None:
        """Join the group and let it assign partitions of ``topics`` (or of topics matching ``pattern``)."""
        self._check_open()
        subs = self._subscriptions
        if subs.user_assignment:
            raise IllegalStateError("You must choose only one way to configure your consumer: subscribe() "
                                    "(the group assigns partitions) or assign() (you pick them).")
        if self.config["group_id"] is None:
            raise KafkaConfigurationError("subscribe() needs a group_id: the group coordinator assigns partitions "
                                          "to the members of a group. Use assign() for a consumer without a group.")
        if isinstance(topics, str):
            topics = [topics]
        topics = list(topics)
        if bool(topics) == bool(pattern):
            raise ValueError("subscribe() takes topics or a pattern (exactly one of them)")
        subs.pattern = re.compile(pattern) if pattern else None
        wanted = set(topics) if topics else subs.matching_topics(self._fetcher.topics())
        subs.listener = listener
        if topics and self.config["allow_auto_create_topics"]:
            auto_create(self.cluster, topics)    # the embedded default, like auto.create.topics.enable
        if wanted != subs.subscription:
            subs.subscription = wanted
            self._coordinator.request_rejoin(f"subscribed to {sorted(wanted)}")

    def subscription(self) -> set[str] | None:
        subs = self._subscriptions.subscription
        return None if subs is None else set(subs)

    def unsubscribe(self) -> None:
        self._check_open()
        subs = self._subscriptions
        if subs.assignment:
            self._maybe_auto_commit_sync()
            subs.revoke(list(subs.assignment))
        if subs.group_managed:
            self._coordinator.leave_group("unsubscribed")
        subs.subscription = None
        subs.pattern = None
        subs.user_assignment = False
        self._iterator = None

    def assign(self, partitions: Iterable[TopicPartition]) -> None:
        """Consume exactly these partitions, without group membership (no rebalances)."""
        self._check_open()
        subs = self._subscriptions
        partitions = [TopicPartition(*tp) for tp in partitions]
        if subs.subscription is not None:
            raise IllegalStateError("You must choose only one way to configure your consumer: subscribe() "
                                    "(the group assigns partitions) or assign() (you pick them).")
        if not partitions:
            return self.unsubscribe()
        if subs.assignment:
            self._maybe_auto_commit_sync()
        subs.user_assignment = True
        new = sorted(set(partitions))
        for tp in set(subs.assignment) - set(new):
            subs.forget(tp)
        for tp in new:
            subs.positions.setdefault(tp, None)
        subs.set_assignment(new)

    def assignment(self) -> set[TopicPartition]:
        return set(self._subscriptions.assignment)

    # ------------------------------------------------------------------ poll
    def poll(self, timeout_ms: float = 0, max_records: int | None = None,
             update_offsets: bool = True) -> dict[TopicPartition, list[ConsumerRecord]]:
        """Records from the assigned partitions: ``{TopicPartition: [ConsumerRecord, ...]}`` ({} if none).

        Waits up to ``timeout_ms`` of simulated time for records (not from inside
        a simulation callback, where it never waits).
        """
        self._check_open()
        if not isinstance(timeout_ms, (int, float)) or timeout_ms < 0:
            raise ValueError(f"timeout_ms must be a number >= 0, not {timeout_ms!r}")
        if max_records is not None and (not isinstance(max_records, int) or isinstance(max_records, bool)):
            raise TypeError(f"max_records must be an int, not {type(max_records).__name__}")
        if max_records is not None and max_records <= 0:
            raise ValueError(f"max_records must be > 0, not {max_records}")
        subs = self._subscriptions
        if subs.subscription is None and not subs.user_assignment:
            raise IllegalStateError("Consumer is not subscribed to any topics or assigned any partitions: call "
                                    "subscribe() or assign() first")
        max_records = max_records or self.config["max_poll_records"]
        self.stats["polls"] += 1
        deadline = self.sim.now + timeout_ms
        blocking = timeout_ms > 0 and not self.sim.in_callback
        slice_ms = self.config["fetch_max_wait_ms"] if self._fetcher.local else math.inf
        fetcher = self._fetcher
        while True:
            self._group_step()
            self._maybe_auto_commit()
            fetcher.update_positions()
            if not fetcher.buffered_ready():
                fetcher.send_fetches()
            records = fetcher.collect(max_records, update_offsets)
            if records:
                self.stats["records"] += sum(len(recs) for recs in records.values())
                self._record_poll(records)
                return records
            if not blocking or self.sim.now >= deadline:
                return {}
            self._client.wait(min(deadline, self.sim.now + slice_ms))

    def _group_step(self) -> None:
        subs = self._subscriptions
        if subs.pattern is not None:
            matched = subs.matching_topics(self._fetcher.topics())
            if matched != subs.subscription:
                subs.subscription = matched
                self._coordinator.request_rejoin(f"the pattern now matches {sorted(matched)}")
        self._coordinator.poll()

    def _record_poll(self, out: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        if self.history is None:
            return
        start = {str(tp): recs[0].offset for tp, recs in out.items()}
        op = self.history.invoke(self.sim.now, self.name, "poll", {"from": start})
        reads = {str(tp): [[r.offset, _jsonable(r.value)] for r in recs] for tp, recs in out.items()}
        hw = {str(tp): self._fetcher.highwater.get(tp) for tp in out}
        self.history.complete(op, self.sim.now, OK, {"reads": reads, "hw": hw})

    def __iter__(self) -> Iterator[ConsumerRecord]:
        return self

    def __next__(self) -> ConsumerRecord:
        """``for record in consumer``: the next record, waiting up to ``consumer_timeout_ms`` (simulated).

        As kafka-python 3.x (``KafkaConsumer.__next__`` and ``_message_generator_v2``): records come
        from ``poll(update_offsets=False)``, and each partition's position moves as each record is
        *yielded*. So ``commit()`` after the first record commits its offset + 1 (not the whole
        batch fetched), and ``seek()``, ``seek_to_*()``, ``unsubscribe()`` drop the records not yet
        yielded: after ``seek(tp, 2)`` the next record is offset 2. A partition that is paused or
        no longer assigned yields nothing more. The timeout restarts at each ``next()``.
        """
        if self._client.closed:
            raise StopIteration("KafkaConsumer closed")
        deadline = self.sim.now + self.config["consumer_timeout_ms"]
        while self.sim.now < deadline or self._iterator is not None:
            if self._iterator is None:
                self._iterator = self._message_generator(deadline)
            try:
                return next(self._iterator)
            except StopIteration:
                self._iterator = None
                if self.sim.now >= deadline:
                    break
        raise StopIteration

    def _message_generator(self, deadline: float) -> Iterator[ConsumerRecord]:
        wait = min(deadline - self.sim.now, self.config["fetch_max_wait_ms"] * 4)
        subs = self._subscriptions
        for tp, records in self.poll(timeout_ms=max(0.0, wait), update_offsets=False).items():
            for record in records:
                if not subs.is_assigned(tp) or tp in subs.paused:
                    break     # revoked, lost or paused meanwhile: kafka-python's is_fetchable check
                subs.positions[tp] = record.offset + 1
                end = self._fetcher.drained_end.get(tp)
                if end is not None and end[0] == record.offset:   # the fetch's last record: step over
                    del self._fetcher.drained_end[tp]             # the markers behind it too
                    subs.positions[tp] = max(subs.positions[tp], end[1])
                yield record

    # ------------------------------------------------------------------ positions
    def position(self, partition: TopicPartition, timeout_ms: float | None = None) -> int:
        """The offset of the next record ``poll`` will return for ``partition``."""
        self._check_open()
        if not isinstance(partition, tuple):
            raise TypeError(f"position() takes a TopicPartition, not {type(partition).__name__}")
        tp = TopicPartition(*partition)
        positions = self._subscriptions.positions
        if tp not in positions:
            raise IllegalStateError(f"{tp} is not assigned to this consumer")

        def known() -> bool:
            self._fetcher.update_positions()
            return positions.get(tp) is not None
        self._client.block_until(known, timeout_ms, f"position({tp})")
        return positions[tp]

    def seek(self, partition: TopicPartition, offset: int) -> None:
        """The next poll returns records from ``offset`` (if it is out of range, the reset policy decides)."""
        self._check_open()
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise ValueError(f"offset must be an int >= 0, not {offset!r}")
        tp = TopicPartition(*partition)
        if not self._subscriptions.is_assigned(tp):
            raise ValueError(f"{tp} is not assigned to this consumer; assign() it first")
        self._fetcher.seek(tp, offset)
        self._iterator = None

    def _seek_to(self, mode: str, partitions: tuple) -> None:
        self._check_open()
        tps = [TopicPartition(*tp) for tp in partitions] or list(self._subscriptions.assignment)
        for tp in tps:
            if not self._subscriptions.is_assigned(tp):
                raise ValueError(f"{tp} is not assigned to this consumer")
        for tp in tps:
            self._fetcher.reset(tp, mode)
        self._iterator = None

    def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        """Next poll starts at the log start offset (all assigned partitions if none are named)."""
        self._seek_to("earliest", partitions)

    def seek_to_end(self, *partitions: TopicPartition) -> None:
        """Next poll starts at the end: the high-water mark (the LSO under read_committed)."""
        self._seek_to("latest", partitions)

    def _bounds(self, partitions: Iterable[TopicPartition], timeout_ms: float | None) -> dict:
        self._check_open()
        return self._fetcher.bounds([TopicPartition(*tp) for tp in partitions], timeout_ms)

    def beginning_offsets(self, partitions: Iterable[TopicPartition], timeout_ms: float | None = None
                          ) -> dict[TopicPartition, int]:
        return {tp: b.log_start_offset for tp, b in self._bounds(partitions, timeout_ms).items()}

    def end_offsets(self, partitions: Iterable[TopicPartition], timeout_ms: float | None = None
                    ) -> dict[TopicPartition, int]:
        """The high-water mark of each partition (the LSO under read_committed)."""
        return {tp: self._fetcher.visible_end(b) for tp, b in self._bounds(partitions, timeout_ms).items()}

    def offsets_for_times(self, timestamps: dict, timeout_ms: float | None = None) -> dict:
        """``{tp: OffsetAndTimestamp(offset, timestamp, leader_epoch) or None}``: the earliest record of each
        partition with a timestamp >= the one given (on a cluster: ListOffsets to each leader, among the
        records this consumer's isolation level may read)."""
        self._check_open()
        wanted = {}
        for tp, ts in timestamps.items():
            tp = TopicPartition(*tp)
            if not isinstance(ts, int) or isinstance(ts, bool) or ts < 0:
                raise ValueError(f"timestamps must be ints >= 0 (ms), got {ts!r} for {tp}")
            wanted[tp] = ts
        return self._fetcher.offsets_for_times(wanted, timeout_ms)

    def highwater(self, partition: TopicPartition) -> int | None:
        """The high-water mark the last fetch of ``partition`` saw (None before the first)."""
        return self._fetcher.highwater.get(TopicPartition(*partition))

    # ------------------------------------------------------------------ pause / resume
    def pause(self, *partitions: TopicPartition) -> None:
        """Stop returning records from these partitions (no rebalance; positions stay)."""
        self._check_open()
        for tp in partitions:
            tp = TopicPartition(*tp)
            if not self._subscriptions.is_assigned(tp):
                raise IllegalStateError(f"{tp} is not assigned to this consumer")
            self._subscriptions.paused.add(tp)
            self._fetcher.drop_buffer(tp)

    def resume(self, *partitions: TopicPartition) -> None:
        self._check_open()
        for tp in partitions:
            self._subscriptions.paused.discard(TopicPartition(*tp))

    def paused(self) -> set[TopicPartition]:
        return set(self._subscriptions.paused)

    # ------------------------------------------------------------------ commits
    def _consumed_offsets(self, tps: Iterable[TopicPartition] | None = None) -> dict[TopicPartition, OffsetAndMetadata]:
        return self._subscriptions.consumed_offsets(tps)

    def _normalize(self, offsets: dict) -> dict[TopicPartition, OffsetAndMetadata]:
        out = {}
        for tp, om in offsets.items():
            if not isinstance(tp, tuple) or len(tp) != 2:
                raise TypeError(f"commit() offsets must be keyed by TopicPartition, got {tp!r}")
            if isinstance(om, int) and not isinstance(om, bool):
                om = OffsetAndMetadata(om, "", -1)
            if not isinstance(om, tuple) or not isinstance(om[0], int) or om[0] < 0:
                raise TypeError(f"commit() offsets must be OffsetAndMetadata(offset, metadata) with an int "
                                f"offset >= 0, got {om!r} for {tp}")
            out[TopicPartition(*tp)] = OffsetAndMetadata(*om)
        return out

    def _commit_invoke(self, offsets: dict[TopicPartition, OffsetAndMetadata]):
        if self.history is None:
            return None
        return self.history.invoke(self.sim.now, self.name, "commit",
                                   {"offsets": {str(tp): om.offset for tp, om in sorted(offsets.items())},
                                    "generation": self._coordinator.generation})

    def _commit_done(self, op, error: str | None) -> None:
        if error is None:
            self.stats["commits"] += 1
        else:
            self.stats["commit_failures"] += 1
        if op is not None:
            self.history.complete(op, self.sim.now, OK if error is None else FAIL, error=error)

    def commit(self, offsets: dict | None = None, timeout_ms: float | None = None) -> None:
        """Commit ``offsets`` (default: the current positions of every assigned partition) and wait.

        A committed offset is the next one to read: after processing the
        record at offset 41, commit 42. Raises :class:`CommitFailedError` when
        the group has moved on (this member's generation or id is stale).
        """
        self._check_open()
        if self.config["group_id"] is None:
            raise IllegalStateError("commit() needs a group_id: offsets are stored per group")
        offsets = self._consumed_offsets() if offsets is None else self._normalize(offsets)
        if not offsets:
            return
        if self._subscriptions.group_managed and self._coordinator.generation == proto.NO_GENERATION:
            self.stats["commit_failures"] += 1
            raise CommitFailedError("this consumer is not a member of the group now (it was removed or left); "
                                       "poll() to rejoin")
        deadline = self.sim.now + (self.config["default_api_timeout_ms"] if timeout_ms is None else timeout_ms)
        while True:
            box: list = []
            op = self._commit_invoke(offsets)
            sent = (self._coordinator.generation, self._coordinator.member_id)
            self._coordinator.send_commit(offsets, self._subscriptions.group_managed, lambda err, resp: box.append(err))
            while not box:
                if self.sim.now >= deadline:
                    self._commit_done(op, proto.REQUEST_TIMED_OUT)
                    raise KafkaTimeoutError("commit() timed out")
                self._client.wait(deadline)
            error = box[0]
            self._commit_done(op, error)
            if error is None:
                return
            # KIP-848: a commit that carried an epoch the member has since left behind is sent again with the
            # member's latest epoch while it is still a member. msglib differs here: the Java client (4.0) retries
            # so only its auto-commit before a revocation; its commitSync raises CommitFailedException.
            stale = error == proto.STALE_MEMBER_EPOCH and self._coordinator.generation > 0
            if (error in (proto.COORDINATOR_NOT_AVAILABLE, proto.REQUEST_TIMED_OUT) or stale) and self.sim.now < deadline:
                self._client.wait(min(deadline, self.sim.now + self.config["retry_backoff_ms"]))
                continue
            raise self._coordinator.commit_error(error, sent)

    def commit_async(self, offsets: dict | None = None,
                     callback: Callable[[dict, Any], None] | None = None) -> Future:
        """Send a commit and return at once. ``callback(offsets, None or exception)`` runs when it completes."""
        self._check_open()
        if self.config["group_id"] is None:
            raise IllegalStateError("commit_async() needs a group_id: offsets are stored per group")
        offsets = self._consumed_offsets() if offsets is None else self._normalize(offsets)
        future = Future(self.sim)

        def finish(exc: BaseException | None) -> None:
            if exc is None:
                future.success(offsets)
            else:
                future.failure(exc)
            if callback is not None:
                callback(offsets, exc)
        if not offsets:
            finish(None)
            return future
        if self._subscriptions.group_managed and self._coordinator.generation == proto.NO_GENERATION:
            finish(CommitFailedError("not a member of the group now"))
            return future
        op = self._commit_invoke(offsets)
        sent = (self._coordinator.generation, self._coordinator.member_id)

        def done(error: str | None, resp: Any) -> None:
            self._commit_done(op, error)
            finish(None if error is None else self._coordinator.commit_error(error, sent))
        self._coordinator.send_commit(offsets, self._subscriptions.group_managed, done)
        return future

    def _maybe_auto_commit(self) -> None:
        """At most once per auto_commit_interval_ms, at the start of poll: the positions the previous poll reached."""
        if not self.config["enable_auto_commit"] or self.config["group_id"] is None:
            return
        if self.sim.now < self._next_auto_commit:
            return
        self._next_auto_commit = self.sim.now + self.config["auto_commit_interval_ms"]
        offsets = self._consumed_offsets()
        if offsets and not (self._subscriptions.group_managed and self._coordinator.generation == proto.NO_GENERATION):
            self.commit_async(offsets)

    def _maybe_auto_commit_sync(self, tps: Iterable[TopicPartition] | None = None) -> None:
        """Auto-commit before a rebalance, an assign() change, unsubscribe and close (errors are only logged)."""
        if not self.config["enable_auto_commit"] or self.config["group_id"] is None:
            return
        offsets = self._consumed_offsets(tps)
        if not offsets:
            return
        try:
            if self.sim.in_callback:
                self.commit_async(offsets)
            else:
                self.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            self._coordinator._log(f"auto-commit failed: {exc}")

    def committed(self, partition: TopicPartition, metadata: bool = False, timeout_ms: float | None = None):
        """The group's committed offset for ``partition`` (an int, or OffsetAndMetadata), or None."""
        self._check_open()
        if self.config["group_id"] is None:
            raise IllegalStateError("committed() needs a group_id: offsets are stored per group")
        tp = TopicPartition(*partition)
        box: list = []
        while not box or box[0][0] is not None:
            box.clear()
            self._coordinator.send_offset_fetch([tp], lambda err, resp: box.append((err, resp)))
            self._client.block_until(lambda: bool(box), timeout_ms, f"committed({tp})")
        om = box[0][1].offsets.get(tp)
        if om is None:
            return None
        return om if metadata else om.offset

    # ------------------------------------------------------------------ the group, metadata, life cycle
    def group_metadata(self) -> ConsumerGroupMetadata:
        co = self._coordinator
        state = {"STABLE": MemberState.STABLE, "REBALANCING": MemberState.REBALANCING}.get(
            str(getattr(co, "state", "")), MemberState.UNJOINED)
        return ConsumerGroupMetadata(self.config["group_id"], co.generation, co.member_id, co.group_instance_id,
                                     state)

    def partitions_for_topic(self, topic: str) -> set[int]:
        """The partition ids of ``topic``, asking the cluster when they are not known yet; an empty set
        for a topic that does not exist (kafka-python 3.x; 2.x returned None)."""
        n = self._fetcher.partitions_for(topic)
        if n is None:
            try:
                self._client.block_until(lambda: self._fetcher.partitions_for(topic) is not None, None, "metadata")
            except KafkaTimeoutError:
                return set()
            n = self._fetcher.partitions_for(topic)
        return set(range(n)) if n else set()

    def topics(self) -> set[str]:
        return set(self._fetcher.topics())

    def __enter__(self) -> "KafkaConsumer":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        """``with KafkaConsumer(...) as consumer``: close; auto-commit only if the block ended without an
        exception (kafka-python 3.x: the record in hand may not have been processed)."""
        self.close(autocommit=exc_type is None)

    def close(self, autocommit: bool = True, timeout_ms: float | None = None) -> None:
        """Commit (if auto-commit is on and ``autocommit``), leave the group, stop."""
        if self._client.closed:
            return
        if autocommit and not self._crashed:
            self._maybe_auto_commit_sync()
        if self._subscriptions.group_managed and not self._crashed:
            self._coordinator.leave_group("closed")
        self._client.closed = True
        self.node.crash()   # stops the heartbeat "thread" and every timer of this client
        self._subscriptions.set_assignment(())

    def crash(self) -> None:
        """msglib: the consumer's process dies now. No commit, no LeaveGroup: the group notices
        only when the session times out."""
        if self._client.closed:
            return
        self._crashed = self._client.closed = True
        self.node.crash()
        self._coordinator._log("crashed")
        self._subscriptions.set_assignment(())   # a dead process consumes nothing (the group finds out later)

    @property
    def member_id(self) -> str:
        return self._coordinator.member_id

    @property
    def generation(self) -> int:
        return self._coordinator.generation

    def metrics(self) -> dict[str, Any]:
        return dict(self.stats, rebalances=self._coordinator.rebalances)

    def __repr__(self) -> str:
        state = "crashed" if self._crashed else "closed" if self._client.closed else self._coordinator.state
        return (f"KafkaConsumer({self.name}, group={self.config['group_id']!r}, {state}, generation "
                f"{self._coordinator.generation}, assignment {[str(tp) for tp in self._subscriptions.assignment]})")


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (int, float, str, bool)):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "backslashreplace")
    return repr(value)


__all__ = ["KafkaConsumer", "ConsumerRecord", "OffsetAndTimestamp", "ConsumerRebalanceListener", "PartitionBounds",
           "starting_offset", "filter_aborted",
           "OffsetAndMetadata", "TopicPartition", "DEFAULT_CONFIG"]
