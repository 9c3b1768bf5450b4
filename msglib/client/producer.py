"""KafkaProducer over the simulated cluster, shaped like kafka-python's.

::

    producer = KafkaProducer(cluster=cluster, acks="all", linger_ms=5,
                             value_serializer=lambda v: json.dumps(v).encode())
    future = producer.send("orders", {"id": 1}, key=b"customer-7")
    meta = future.get()          # runs the simulation until the answer arrives
    producer.flush()

What happens to a record: ``send`` serialises it, picks its partition (the
key's murmur2 hash, like Kafka; sticky when there is no key) and appends it
to that partition's open batch (``accumulator.py``). The *sender* (here:
:meth:`_drain`, run whenever something may be ready) groups the ready batches
by leader broker, one ProduceRequest per broker, at most
``max_in_flight_requests_per_connection`` unanswered per broker.

A retriable failure puts the batch back at the front of its queue after
``retry_backoff_ms``, until ``retries`` or ``delivery_timeout_ms`` run out.
Without idempotence a retry can write the batch twice (its first attempt
was written, but the answer was lost) or after a later batch (reordering).
With ``enable_idempotence`` the producer gets a producer id, numbers each
partition's records from 0, and keeps the numbers on retries; the leader
drops what it already has and refuses gaps (see ``check_sequence``).

The settings, defaults, ``send``/``flush``/``partitions_for``, context manager and errors follow
kafka-python 3.x (docs/kafka-python-contract.md). Without ``cluster=`` the producer writes to the embedded
default cluster (``embedded.py``), whose topics are created on first use. Where msglib differs on purpose:
time is simulated; ``compression_type='snappy'`` is refused (no snappy codec in msglib's log);
``partitioner=None`` means the Java client's built-in partitioner (murmur2 for keys, KIP-794's adaptive
sticky partition for keyless records; kafka-python picks a random partition per keyless record);
``linger_ms`` defaults to 5 ms, Kafka 4.0's default (KIP-1030), where kafka-python keeps 0; network and
security settings are accepted and ignored with one warning. docs/kafka-defaults.md lists each default
with the Kafka release it comes from.

With a ``transactional_id`` (module 06) the producer is idempotent and
transactional: ``init_transactions()`` once, then ``begin_transaction()``,
sends and ``send_offsets_to_transaction()``, then ``commit_transaction()`` or
``abort_transaction()``. The state machine and what goes on the wire are in
``transaction_manager.py``::

    producer = cluster.producer(transactional_id="order-enricher-1")
    producer.init_transactions()
    producer.begin_transaction()
    producer.send("enriched", b"...")
    producer.send_offsets_to_transaction(offsets, consumer.group_metadata())
    producer.commit_transaction()
"""
from __future__ import annotations

import importlib
import math
from collections import deque
from typing import Any, Callable

from msglib.protocol import errors as E
from msglib.client.accumulator import ProducerBatch, RecordAccumulator, estimate_size
from msglib.client.config import ACKS, ENABLE_IDEMPOTENCE, IGNORED_PRODUCER, LINGER_MS, split_configs
from msglib.client.embedded import auto_create, resolve
from msglib.client.fetcher import broker_ids
from msglib.client.transaction_manager import TransactionManager
from msglib.client.future import FutureRecordMetadata, RecordMetadata
from msglib.protocol.metadata import ClientMetadata
from msglib import protocol as p
from msglib.protocol import broker_node
from msglib.protocol import TopicPartition
from msglib.log.partitioner import BuiltInPartitioner
from msglib.log.records import Compression, Record
from msglib.sim.history import FAIL, INFO, OK
from msglib.sim.network import Endpoint

DEFAULT_CONFIG: dict[str, Any] = {
    "bootstrap_servers": "localhost",  # kafka-python's default (the embedded default); or broker ids of cluster=
    "client_id": None,
    "key_serializer": None,
    "value_serializer": None,
    "acks": ACKS,                 # "all" since Kafka 3.0 (KIP-679)
    "enable_idempotence": ENABLE_IDEMPOTENCE,
    "retries": math.inf,
    "batch_size": 16384,
    "linger_ms": LINGER_MS,       # Kafka 4.0's 5 ms (KIP-1030); kafka-python keeps 0
    "partitioner": None,
    "max_in_flight_requests_per_connection": 5,
    "delivery_timeout_ms": 120_000,
    "request_timeout_ms": 30_000,
    "retry_backoff_ms": 100,
    "max_block_ms": 60_000,
    "max_request_size": 1_048_576,
    "compression_type": None,
    "transactional_id": None,
    "transaction_timeout_ms": 60_000,
    "allow_auto_create_topics": True,  # send() creates missing topics on the embedded default
    "history": None,  # msglib: record every send (invoke and outcome) into this History
}

# Client timers scaled like ClusterConfig.fast() (used by Cluster when its timers are fast).
FAST_CLIENT_DEFAULTS = {"request_timeout_ms": 300, "delivery_timeout_ms": 3_000, "retry_backoff_ms": 20,
                        "max_block_ms": 3_000, "transaction_timeout_ms": 6_000}

_COMPRESSION = {None: Compression.NONE, "none": Compression.NONE, "gzip": Compression.GZIP,
                "lz4": Compression.LZ4, "zstd": Compression.ZSTD}
_CODEC_PACKAGES = {"lz4": ("lz4.frame", "lz4"), "zstd": ("zstandard", "zstandard")}


def _check_compression(name: Any) -> None:
    """kafka-python's codecs: None, 'gzip', 'lz4' and 'zstd' (the last two need their packages, as in
    kafka-python); 'snappy' is refused: msglib's log has no snappy codec."""
    if name == "snappy":
        raise E.KafkaConfigurationError("compression_type='snappy' is not supported by msglib (its log has no "
                                        "snappy codec); use 'gzip', 'lz4' or 'zstd', or None")
    if name not in _COMPRESSION:
        raise E.KafkaConfigurationError(f"compression_type {name!r} is not a codec: use None, 'gzip', 'lz4' or "
                                        f"'zstd'")
    if name in _CODEC_PACKAGES:
        module, package = _CODEC_PACKAGES[name]
        try:
            importlib.import_module(module)
        except ImportError:
            raise E.KafkaConfigurationError(f"compression_type={name!r} needs the {package} package: "
                                            f"pip install {package}") from None


class KafkaProducer:
    """Sends records to a simulated :class:`~msglib.cluster.Cluster`. See the module docstring."""

    def __init__(self, cluster=None, **configs: Any) -> None:
        """``cluster``: a msglib Cluster; without it, the embedded default (``bootstrap_servers`` must then
        be its address, ``localhost:9092``, or left out). kafka-python's network and security settings
        are accepted and ignored, with one warning."""
        configs = split_configs("KafkaProducer", configs, DEFAULT_CONFIG, IGNORED_PRODUCER)
        cluster, _ = resolve(cluster, configs.get("bootstrap_servers", DEFAULT_CONFIG["bootstrap_servers"]))
        explicit = set(configs)
        self.config = dict(DEFAULT_CONFIG, **configs)
        c = self.config
        if c["acks"] == "all":
            c["acks"] = -1
        if c["acks"] not in (0, 1, -1):
            raise E.KafkaConfigurationError(f"acks must be 0, 1, 'all' or -1, not {c['acks']!r}")
        _check_compression(c["compression_type"])
        if c["transactional_id"] is not None:
            if not isinstance(c["transactional_id"], str) or not c["transactional_id"]:
                raise E.KafkaConfigurationError(f"transactional_id must be a non-empty string, not "
                                                f"{c['transactional_id']!r}")
            if "enable_idempotence" in explicit and not c["enable_idempotence"]:
                raise E.KafkaConfigurationError("transactional_id needs enable_idempotence=True (transactions are "
                                                "built on the idempotent producer's ids and sequence numbers)")
            c["enable_idempotence"] = True
            explicit.add("enable_idempotence")   # a conflicting setting is now an error, not a quiet downgrade
        if c["enable_idempotence"]:
            conflicts = []
            if c["acks"] != -1:
                conflicts.append(f"acks={c['acks']} (needs 'all')")
            if c["retries"] == 0:
                conflicts.append("retries=0 (needs > 0)")
            if c["max_in_flight_requests_per_connection"] > 5:
                conflicts.append("max_in_flight_requests_per_connection > 5 (the broker remembers 5 batches)")
            if conflicts:
                if "enable_idempotence" in explicit:
                    raise E.KafkaConfigurationError("enable_idempotence=True conflicts with " + ", ".join(conflicts))
                c["enable_idempotence"] = False  # the default gives way to explicit settings (Kafka 3.x)
        if c["delivery_timeout_ms"] < c["linger_ms"] + c["request_timeout_ms"]:
            raise E.KafkaConfigurationError("delivery_timeout_ms should be >= linger_ms + request_timeout_ms")
        name = c["client_id"] or cluster.next_client_name("producer")
        c["client_id"] = name
        self.name = name
        self.node = Endpoint(name, cluster.network, self._on_message)  # our address on the network
        self.sim = self.node.sim
        self.cluster = cluster
        self.acks: int = c["acks"]
        self.idempotent: bool = c["enable_idempotence"]
        self.history = c["history"]
        self.partitioner: Callable = c["partitioner"] or BuiltInPartitioner(
            seed=self.sim.random(f"partitioner/{name}").randrange(2**32), batch_size=c["batch_size"])
        bootstrap = broker_ids(c["bootstrap_servers"], cluster)
        self.metadata = ClientMetadata(self.node, bootstrap, c["request_timeout_ms"], c["retry_backoff_ms"],
                                       on_update=self._on_metadata)
        self.accumulator = RecordAccumulator(c["batch_size"])
        self._serializers = {"key": c["key_serializer"], "value": c["value_serializer"]}
        self._linger_ms = c["linger_ms"]
        self._tps: dict[tuple[str, int], TopicPartition] = {}
        self.closed = False
        self._flushing = False
        self._drain_scheduled = False
        self._tick_scheduled = False
        self._waiting_metadata: list[tuple] = []  # sends for topics whose partitions we do not know yet
        self._in_flight: dict[int, dict[int, list[ProducerBatch]]] = {}  # broker -> request id -> batches
        self._request_ids = 0
        self._requests_sent = 0
        # idempotence
        self.producer_id = -1
        self.producer_epoch = 0
        self._next_seq: dict[TopicPartition, int] = {}
        self._last_acked_seq: dict[TopicPartition, int] = {}
        self._inflight_per_tp: dict[TopicPartition, int] = {}
        # Per partition: every batch sent since the oldest one still unanswered, in sequence
        # order. At most max_in_flight of them: the leader remembers its last 5 batches per
        # producer, so a retry of the oldest is still recognised as a duplicate.
        self._window: dict[TopicPartition, deque[ProducerBatch]] = {}
        self._pid_request: int | None = None
        self.txn: TransactionManager | None = None
        if c["transactional_id"] is not None:
            self.txn = TransactionManager(self, c["transactional_id"], c["transaction_timeout_ms"])
        elif self.idempotent:
            self._init_producer_id()

    # -- the public API -------------------------------------------------------------------------
    def send(self, topic: str, value: Any = None, key: Any = None, headers: list | None = None,
             partition: int | None = None, timestamp_ms: int | None = None) -> FutureRecordMetadata:
        """Queue a record; returns a future of its :class:`RecordMetadata`."""
        if self.closed:
            raise E.IllegalStateError("cannot send after the producer is closed")
        if self.txn is not None:
            self.txn.check_send()
        if key is None and value is None:
            raise ValueError("need at least one of key or value")
        key_bytes = key if key is None or (type(key) is bytes and self._serializers["key"] is None) \
            else self._serialize("key", key)
        value_bytes = value if value is None or (type(value) is bytes and self._serializers["value"] is None) \
            else self._serialize("value", value)
        if headers:
            if not isinstance(headers, list) or not all(
                    isinstance(h, tuple) and len(h) == 2 and isinstance(h[0], str)
                    and (h[1] is None or isinstance(h[1], bytes)) for h in headers):
                raise TypeError("headers must be a list of (str, bytes) tuples")
            headers = tuple(headers)
        else:
            headers = ()
        now = self.sim.now
        record = Record(key_bytes, value_bytes, int(now) if timestamp_ms is None else timestamp_ms, headers)
        future = FutureRecordMetadata(self.sim)
        n = self.metadata.num_partitions(topic)
        if n is None:
            if self.config["allow_auto_create_topics"]:
                auto_create(self.cluster, [topic])   # the embedded default, like auto.create.topics.enable
            self._waiting_metadata.append((topic, partition, record, future, value, now))
            self.metadata.request_update()
            self._schedule_tick()
        else:
            self._append(topic, n, partition, record, future, value, now)
        return future

    def flush(self, timeout: float | None = None) -> None:
        """Send everything now (no lingering) and wait until every send so far completed."""
        self._flushing = True
        self._wake()
        until = None if timeout is None else self.sim.now + timeout * 1000.0
        done = self.sim.run_until(lambda: not self._unfinished(), until=until)
        self._flushing = False
        if not done:
            raise E.KafkaTimeoutError(f"flush did not finish within {timeout} s of simulated time")

    def close(self, timeout: float | None = None) -> None:
        if self.closed:
            return
        try:
            if self.txn is None or self.txn.state != "FATAL_ERROR":
                self.flush(timeout)
        finally:
            self.closed = True

    def crash(self) -> None:
        """msglib: the producer's process dies now. Nothing more is sent; requests already on the
        network may still arrive; a transaction it had open stays open until a new instance with the
        same transactional id fences it, or its timeout aborts it."""
        self.closed = True
        self.node.crash()

    # -- transactions (module 06; see transaction_manager.py) -------------------------------------
    def _transactional(self, what: str) -> TransactionManager:
        if self.txn is None:
            raise E.IllegalStateError(f"Cannot call {what}: this producer is not transactional (create it with "
                                      f"transactional_id=...)")
        if self.closed:
            raise E.IllegalStateError(f"Cannot call {what} after the producer is closed")
        return self.txn

    def init_transactions(self) -> None:
        """Get the producer id and a new epoch for our transactional id (fencing older instances)."""
        self._transactional("init_transactions").init_transactions()

    def begin_transaction(self) -> None:
        self._transactional("begin_transaction").begin_transaction()

    def send_offsets_to_transaction(self, offsets: dict, group_metadata: Any) -> None:
        """Commit the consumer's ``offsets`` (the NEXT offsets to read) with this transaction."""
        self._transactional("send_offsets_to_transaction").send_offsets_to_transaction(offsets, group_metadata)

    def commit_transaction(self) -> None:
        self._transactional("commit_transaction").commit_transaction()

    def abort_transaction(self) -> None:
        self._transactional("abort_transaction").abort_transaction()

    def _start_epoch(self, producer_id: int, producer_epoch: int) -> None:
        """A new producer id or epoch from the coordinator: every partition's sequence starts at 0."""
        self.producer_id, self.producer_epoch = producer_id, producer_epoch
        self._next_seq.clear()
        self._last_acked_seq.clear()
        self._window.clear()
        self._wake()

    def _queued_batches(self, keep: Callable[[ProducerBatch], bool]) -> list[ProducerBatch]:
        """Take the queued (not in flight) batches ``keep`` selects out of the accumulator."""
        taken = []
        for queue in self.accumulator.queues.values():
            for batch in list(queue):
                if keep(batch):
                    queue.remove(batch)
                    taken.append(batch)
        for tp, batch in list(self.accumulator.open.items()):
            if batch in taken:
                del self.accumulator.open[tp]
        return taken

    def _abort_unsent(self, exc: BaseException) -> None:
        """abort_transaction(): records never sent are dropped (those sent are settled by the ABORT marker),
        including those still waiting for their topic's metadata."""
        waiting, self._waiting_metadata = self._waiting_metadata, []
        for item in waiting:
            item[3].failure(exc)
        for batch in self._queued_batches(lambda b: b.attempts == 0):
            self._give_up(batch, exc)

    def _fail_waiting(self, tps: set, exc: BaseException) -> None:
        for batch in self._queued_batches(lambda b: b.tp in tps and b.attempts == 0):
            self._give_up(batch, exc)

    def _fail_unsent(self, exc: BaseException) -> None:
        for batch in self._queued_batches(lambda b: True):
            self._give_up(batch, exc)

    def _unfinished(self) -> int:
        """Batches not yet answered: queued, in flight, or waiting for metadata."""
        return (self.accumulator.pending() + sum(len(b) for r in self._in_flight.values() for b, _ in r.values())
                + len(self._waiting_metadata))

    def partitions_for(self, topic: str) -> set[int]:
        """The partition ids of ``topic``, waiting up to ``max_block_ms`` (simulated) for its metadata
        (kafka-python's ``_wait_on_metadata``: KafkaTimeoutError if it never comes). On the embedded
        default a missing topic is created, as a broker with auto.create.topics.enable does."""
        if self.metadata.num_partitions(topic) is None:
            if self.config["allow_auto_create_topics"]:
                auto_create(self.cluster, [topic])
            deadline = self.sim.now + self.config["max_block_ms"]
            while self.metadata.num_partitions(topic) is None and self.sim.now < deadline:
                self.metadata.request_update()
                self.sim.run_until(lambda: self.metadata.num_partitions(topic) is not None,
                                   until=min(deadline, self.sim.now + self.config["retry_backoff_ms"]))
            if self.metadata.num_partitions(topic) is None:
                raise E.KafkaTimeoutError(f"Failed to update metadata after {self.config['max_block_ms']} ms "
                                          f"(does topic {topic!r} exist?)")
        return set(range(self.metadata.num_partitions(topic)))

    def __enter__(self) -> "KafkaProducer":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        """``with KafkaProducer(...) as producer``: close (flushing what was sent), as kafka-python does."""
        self.close()

    def metrics(self) -> dict:
        return {"unfinished_batches": self._unfinished(), "queued_batches": self.accumulator.pending(),
                "in_flight_requests": sum(len(r) for r in self._in_flight.values()),
                "produce_requests_sent": self._requests_sent,
                "producer_id": self.producer_id, "producer_epoch": self.producer_epoch}

    # -- appending ---------------------------------------------------------------------------
    def _serialize(self, what: str, obj: Any) -> bytes | None:
        if obj is None:
            return None
        fn = self._serializers[what]
        data = fn(obj) if fn is not None else obj
        if type(data) is not bytes and not isinstance(data, bytes):
            raise TypeError(f"{what} must be bytes, got {type(obj).__name__}; pass {what}_serializer= to "
                            f"turn it into bytes")
        return data

    def _append(self, topic: str, n: int, partition: int | None, record: Record, future: FutureRecordMetadata,
                original: Any, sent_ms: float) -> None:
        sticky = partition is None and record.key is None and hasattr(self.partitioner, "sticky_partition")
        if sticky:   # KIP-794: the topic's sticky partition, then the rule decides whether to switch
            partition = self.partitioner.sticky_partition(topic, n, self._queue_sizes(topic, n))
        elif partition is None:
            partition = 0 if n == 1 else self.partitioner(record.key, n, len(record.value or b""))
        elif not 0 <= partition < n:
            self._fail_record(future, E.UnknownTopicOrPartitionError(f"{topic} has partitions 0..{n - 1}, "
                                                                      f"not {partition}"))
            return
        tp = self._tps.get((topic, partition))
        if tp is None:
            tp = self._tps[(topic, partition)] = TopicPartition(topic, partition)
        batch, is_new = self.accumulator.append(tp, record, future, self.sim.now)
        if sticky:
            size = estimate_size(record)
            full = batch.closed or batch.size + size > batch.batch_size   # no room for one more like it
            self.partitioner.appended(topic, size, full, self._queue_sizes(topic, n))
        if self.txn is not None:
            batch.is_transactional = True
            self.txn.maybe_add_partition(tp)
        if self.history is not None:
            value = original if isinstance(original, (int, str)) else repr(original)
            batch.history_ops.append(self.history.invoke(sent_ms, self.name, "send",
                                                         {"key": str(tp), "value": value}))
        if self._linger_ms == 0 or batch.is_full:
            self._wake()
        elif is_new:
            self.node.after(self._linger_ms, self._drain)

    def _queue_sizes(self, topic: str, n: int) -> list[int]:
        """Batches waiting to be sent, per partition of ``topic`` (KIP-794's measure of a slow broker)."""
        queues = self.accumulator.queues
        return [len(queues.get(self._tps.get((topic, p)) or TopicPartition(topic, p), ())) for p in range(n)]

    def _on_metadata(self) -> None:
        waiting, self._waiting_metadata = self._waiting_metadata, []
        for item in waiting:
            n = self.metadata.num_partitions(item[0])
            if n is None:
                self._waiting_metadata.append(item)
            else:
                self._append(item[0], n, *item[1:])
        self._wake()

    # -- the sender ---------------------------------------------------------------------------
    def _wake(self) -> None:
        if not self._drain_scheduled:
            self._drain_scheduled = True
            self.node.after(0.0, self._drain)

    def _schedule_tick(self) -> None:
        """While anything is unfinished, look again every retry_backoff_ms (expiries, backoffs)."""
        if not self._tick_scheduled:
            self._tick_scheduled = True
            self.node.after(self.config["retry_backoff_ms"], self._tick)

    def _tick(self) -> None:
        self._tick_scheduled = False
        now = self.sim.now
        expired = [it for it in self._waiting_metadata if now - it[5] > self.config["max_block_ms"]]
        for it in expired:
            self._waiting_metadata.remove(it)
            self._fail_record(it[3], E.KafkaTimeoutError(f"Failed to update metadata after "
                                                         f"{self.config['max_block_ms']} ms (does topic {it[0]!r} "
                                                         f"exist?)"))
        if self._waiting_metadata:
            self.metadata.request_update()
        self._drain()

    def _drain(self) -> None:
        self._drain_scheduled = False
        if self.idempotent and self.producer_id < 0:
            self._schedule_tick()
            return  # wait for a producer id
        txn = self.txn
        if txn is not None:
            txn.maybe_send_add_partitions()
        now = self.sim.now
        self._expire_batches(now)
        max_window = self.config["max_in_flight_requests_per_connection"]
        while True:
            requests: dict[int, dict[TopicPartition, ProducerBatch]] = {}
            for tp, queue in self.accumulator.queues.items():
                if not queue or not self._ready(queue, now):
                    continue
                if txn is not None and not txn.partition_ready(tp):
                    continue   # not in the transaction yet: AddPartitionsToTxn first
                leader = self.metadata.leader(tp)
                if leader is None:
                    self.metadata.request_update()
                    continue
                if len(self._in_flight.get(leader, {})) >= self.config["max_in_flight_requests_per_connection"]:
                    continue
                batch = queue[0]
                if self.idempotent:
                    if batch.attempts > 0 and self._inflight_per_tp.get(tp, 0) > 0:
                        continue  # a retry waits until nothing of its partition is in flight (keeps order)
                    if batch.base_sequence < 0 and len(self._window.get(tp, ())) >= max_window:
                        continue  # five batches of this partition unresolved: wait (see _window)
                queue.popleft()
                requests.setdefault(leader, {})[tp] = batch
            if not requests:
                break
            for broker, batches in requests.items():
                self._send_request(broker, batches)
        if self.accumulator.pending() or self._waiting_metadata or self._in_flight:
            self._schedule_tick()

    def _ready(self, queue, now: float) -> bool:
        batch = queue[0]
        if batch.retry_at_ms > now:
            return False
        return (batch.is_full or len(queue) > 1 or self._flushing or self.closed
                or now - batch.created_ms >= self.config["linger_ms"] or batch.attempts > 0)

    def _send_request(self, broker: int, batches: dict[TopicPartition, ProducerBatch]) -> None:
        self._requests_sent += 1
        self._request_ids += 1
        rid = self._request_ids
        compression = _COMPRESSION[self.config["compression_type"]]
        wire = {}
        for tp, batch in batches.items():
            batch.closed = True
            batch.attempts += 1
            if self.idempotent:
                if batch.producer_epoch != self.producer_epoch or batch.base_sequence < 0:
                    self._assign_sequence(batch)
                self._inflight_per_tp[tp] = self._inflight_per_tp.get(tp, 0) + 1
            wire[tp] = batch.encode(compression)
        txn = self.txn
        self.node.send(broker_node(broker), p.ProduceRequest(rid, self.acks, self.config["request_timeout_ms"], wire,
                                                             *((txn.transactional_id, txn.version) if txn else ())))
        if self.acks == 0:  # nobody will answer: done as soon as it is sent
            for tp, batch in batches.items():
                batch.maybe_written = True
                self._complete(batch, -1)
            return
        timer = self.node.after(self.config["request_timeout_ms"], self._request_timeout, broker, rid)
        self._in_flight.setdefault(broker, {})[rid] = (list(batches.values()), timer)

    def _assign_sequence(self, batch: ProducerBatch) -> None:
        seq = self._next_seq.get(batch.tp, 0)
        batch.producer_id, batch.producer_epoch, batch.base_sequence = self.producer_id, self.producer_epoch, seq
        self._next_seq[batch.tp] = (seq + batch.record_count) % (1 << 31)
        self._window.setdefault(batch.tp, deque()).append(batch)

    def _resolved(self, batch: ProducerBatch) -> None:
        """The batch has its final answer: slide its partition's window past answered batches."""
        batch.done = True
        window = self._window.get(batch.tp)
        while window and window[0].done:
            window.popleft()

    # -- answers ------------------------------------------------------------------------------
    def _on_message(self, src: str, msg) -> None:
        if self.txn is not None and not isinstance(msg, (p.ProduceResponse, p.MetadataResponse)) \
                and self.txn.on_response(msg):
            return
        if isinstance(msg, p.ProduceResponse):
            self._on_produce_response(src, msg)
        elif isinstance(msg, p.MetadataResponse):
            self.metadata.on_response(msg)
        elif isinstance(msg, p.InitProducerIdResponse):
            self._on_producer_id(msg)

    def _take_in_flight(self, broker: int, rid: int) -> list[ProducerBatch] | None:
        entry = self._in_flight.get(broker, {}).pop(rid, None)
        if entry is None:
            return None
        batches, timer = entry
        timer.cancel()
        if self.idempotent:
            for b in batches:
                self._inflight_per_tp[b.tp] -= 1
        return batches

    def _on_produce_response(self, src: str, resp: p.ProduceResponse) -> None:
        broker = int(src[1:])
        batches = self._take_in_flight(broker, resp.request_id)
        if batches is None:
            return  # we gave up on this request already (timeout); its answer comes too late
        for batch in batches:
            result = resp.results.get(batch.tp)
            if result is None or result.error is not None:
                self._failed(batch, result.error if result else p.REQUEST_TIMED_OUT)
            else:
                self._complete(batch, result.base_offset)
        self._wake()

    def _request_timeout(self, broker: int, rid: int) -> None:
        batches = self._take_in_flight(broker, rid)
        if batches is None:
            return
        self.metadata.request_update()  # Kafka drops the connection and refreshes metadata
        for batch in batches:
            self._failed(batch, p.REQUEST_TIMED_OUT)
        self._wake()

    def _complete(self, batch: ProducerBatch, base_offset: int) -> None:
        if self.idempotent and base_offset >= 0 and batch.producer_epoch == self.producer_epoch:
            last = batch.base_sequence + batch.record_count - 1
            self._last_acked_seq[batch.tp] = max(last, self._last_acked_seq.get(batch.tp, -1))
        ops = batch.history_ops
        if ops:
            now = self.sim.now
            for i, inv in enumerate(ops):
                offset = base_offset + i if base_offset >= 0 else -1
                self.history.complete(inv, now, OK, dict(inv.value, offset=offset))
        tp = batch.tp
        topic, partition = tp
        make = tuple.__new__  # RecordMetadata(...) without the keyword machinery: one per record
        offset = base_offset if base_offset >= 0 else -1
        step = 1 if base_offset >= 0 else 0
        for record, future in zip(batch.records, batch.futures):
            key, value, headers = record.key, record.value, record.headers
            meta = make(RecordMetadata, (
                topic, partition, tp, offset, record.timestamp, None,
                -1 if key is None else len(key), -1 if value is None else len(value),
                sum(len(k) + len(v or b"") for k, v in headers) if headers else -1))
            if future._callbacks is None:  # nobody is waiting on a callback: resolve it in place (hot path)
                future.value, future.is_done = meta, True
            else:
                future.success(meta)
            offset += step
        self._resolved(batch)

    def _failed(self, batch: ProducerBatch, code: str) -> None:
        exc = E.for_code(code)
        name = code.partition(":")[0]
        if name not in p.DEFINITELY_NOT_APPENDED:
            batch.maybe_written = True
        retriable = exc.retriable
        bump = False
        if self.idempotent:
            if batch.producer_epoch < self.producer_epoch:
                if batch.maybe_written:  # it may be in the log under the old epoch: resending could duplicate
                    self._give_up(batch, E.KafkaTimeoutError(f"outcome unknown ({name}) when the producer "
                                                             f"epoch was bumped; not resent"))
                    return
                retriable = True  # certainly not written: it gets new numbers in the new epoch
                batch.base_sequence = -1
            elif name == p.OUT_OF_ORDER_SEQUENCE_NUMBER:
                if self._sequence_acked(batch):
                    self._behind_acknowledged(batch, code)
                    return
                if batch.base_sequence != self._last_acked_seq.get(batch.tp, -1) + 1:
                    retriable = True  # an earlier batch is missing; it is being retried, this one follows
                else:
                    # Refused as the next batch: not one of the leader's last five, so not in the log. The
                    # leader lost acknowledged batches, or (answer lost) took a later one without this one.
                    batch.maybe_written = False
                    bump = True  # a gap we cannot fill
        if exc.invalid_metadata:
            self.metadata.request_update()
        now = self.sim.now
        out_of_time = now - batch.created_ms >= self.config["delivery_timeout_ms"]
        if retriable and batch.attempts <= self.config["retries"] and not out_of_time:
            batch.retry_at_ms = now + self.config["retry_backoff_ms"]
            self.accumulator.requeue(batch)
            self._schedule_tick()
            return
        if self.idempotent and self._sequence_acked(batch):
            self._written_but_unanswered(batch)
            return
        if out_of_time and retriable:
            exc = E.KafkaTimeoutError(f"expired after {self.config['delivery_timeout_ms']} ms "
                                      f"(last error: {name})")
            bump = self.idempotent  # its sequence numbers would leave a gap for the batches after it
        self._give_up(batch, exc)
        if bump:
            self._bump_epoch()

    def _fail_record(self, future: FutureRecordMetadata, exc: BaseException) -> None:
        """A record that never reached a batch failed. Inside a transaction the transaction lost a record:
        it can only be aborted now, so commit_transaction() raises instead of committing without it."""
        if self.txn is not None and not isinstance(exc, E.TransactionAbortedError):
            self.txn.abortable(exc)
        future.failure(exc)

    def _give_up(self, batch: ProducerBatch, exc: BaseException) -> None:
        batch.closed = True                       # a batch given up takes no more records: a later send
        if self.accumulator.open.get(batch.tp) is batch:   # to its partition starts a new one (else it
            del self.accumulator.open[batch.tp]            # would vanish with this dead batch)
        if self.txn is not None and batch.is_transactional and not isinstance(exc, E.TransactionAbortedError):
            if isinstance(exc, E.InvalidProducerEpochError):   # only a fence raises a partition's epoch
                exc = E.ProducerFencedError(f"a partition refused this producer's epoch ({exc}): a newer "
                                            f"instance or the transaction timeout fenced it")
            self.txn.abortable(exc)   # the transaction lost a record: it can only be aborted now
        self._resolved(batch)
        for i, future in enumerate(batch.futures):
            future.maybe_written = batch.maybe_written
            if batch.history_ops:
                inv = batch.history_ops[i]
                self.history.complete(inv, self.sim.now, INFO if batch.maybe_written else FAIL,
                                      error=type(exc).__name__)
            future.failure(exc)

    def _sequence_acked(self, batch: ProducerBatch) -> bool:
        """Was a batch numbered after this one acknowledged (same epoch)? That does NOT prove this one
        is in the log: a leader with no state for this producer takes its first batch whatever its
        sequence number (Kafka >= 2.5, KIP-360; docs/idempotent-producer.md)."""
        if batch.base_sequence < 0 or batch.producer_epoch != self.producer_epoch:
            return False
        return self._last_acked_seq.get(batch.tp, -1) >= batch.base_sequence + batch.record_count - 1

    def _written_but_unanswered(self, batch: ProducerBatch) -> None:
        """No answer, no more tries, and a later batch was acknowledged: the outcome is unknown."""
        batch.maybe_written = True
        self._give_up(batch, E.KafkaTimeoutError(
            "outcome unknown: its answer was lost and a later batch was acknowledged, which puts it in the log "
            "only if the leader already knew this producer (a leader with no state for it takes any sequence)"))

    def _behind_acknowledged(self, batch: ProducerBatch, code: str) -> None:
        """OUT_OF_ORDER_SEQUENCE_NUMBER for a batch numbered before one already acknowledged.

        The leader answers a retry of any of its last five batches of this producer as a duplicate,
        and this producer never has more than five batches of a partition unresolved: so this batch
        is not in the log. A leader that did not know the producer took the later batch without it
        (Kafka >= 2.5 accepts any first sequence, KIP-360). Resending it, under this epoch or a new
        one, would put it after records already acknowledged: it fails at once (the Java client
        fails it with the same error once its retries or delivery.timeout.ms run out, then bumps
        the epoch). No new epoch here: the leader's sequence follows on from the acknowledged batch,
        so the batches after it are accepted as they are.
        """
        batch.maybe_written = False
        self._give_up(batch, E.OutOfOrderSequenceNumberError(
            f"{code}: not in the log. The leader took a later batch of this producer without this one (it "
            f"did not know the producer yet); resending it would put it after acknowledged records"))

    def _expire_batches(self, now: float) -> None:
        limit = self.config["delivery_timeout_ms"]
        expired = []
        for tp, queue in self.accumulator.queues.items():
            while queue and now - queue[0].created_ms >= limit:
                expired.append(queue.popleft())
        for batch in expired:
            if self.idempotent and self._sequence_acked(batch):
                self._written_but_unanswered(batch)
                continue
            self._give_up(batch, E.KafkaTimeoutError(
                f"expired after {limit} ms in the accumulator ({batch.record_count} records for {batch.tp})"))
            if self.idempotent and batch.base_sequence >= 0 and batch.producer_epoch == self.producer_epoch:
                self._bump_epoch()  # its sequence numbers would leave a gap

    # -- idempotence: the producer id ----------------------------------------------------------
    def _init_producer_id(self) -> None:
        self._request_ids += 1
        self._pid_request = rid = self._request_ids
        brokers = self.metadata.bootstrap
        target = brokers[(rid - 1) % len(brokers)]
        self.node.send(broker_node(target), p.InitProducerIdRequest(rid))
        self.node.after(self.config["request_timeout_ms"], self._pid_timeout, rid)

    def _pid_timeout(self, rid: int) -> None:
        if self._pid_request == rid and self.producer_id < 0:
            self._init_producer_id()

    def _on_producer_id(self, resp: p.InitProducerIdResponse) -> None:
        if resp.request_id != self._pid_request or self.producer_id >= 0:
            return
        self.producer_id, self.producer_epoch = resp.producer_id, resp.producer_epoch
        self._wake()

    def _bump_epoch(self) -> None:
        """After a sequence gap we cannot repair: number again from 0 under a new epoch (KIP-360).

        Waiting batches that were never written get new numbers. One that *may*
        have been written cannot be resent (the broker would take it as new,
        and write it twice): it fails with an unknown outcome instead.
        """
        if self.txn is not None:
            # Only the transaction coordinator hands out epochs: abort, and get a new one (KIP-360).
            self.txn.needs_epoch_bump = True
            self.txn.abortable(E.OutOfOrderSequenceNumberError("a batch of this transaction was lost; "
                                                               "abort it (a new epoch follows)"))
            return
        self.producer_epoch += 1
        self._next_seq.clear()
        self._last_acked_seq.clear()
        self._window.clear()  # old-epoch batches still out are settled by their own answers
        unknown = []
        for queue in self.accumulator.queues.values():
            for batch in list(queue):
                if batch.maybe_written:
                    queue.remove(batch)
                    unknown.append(batch)
                else:
                    batch.base_sequence = -1
        for batch in unknown:
            self._give_up(batch, E.KafkaTimeoutError("outcome unknown when the producer epoch was bumped; "
                                                     "not resent"))
