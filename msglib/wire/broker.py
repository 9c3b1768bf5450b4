"""The broker behind ``msglib serve``: msglib's on-disk logs and coordinators, driven in real time.

One node (id 0) leads every partition. Each partition is a :class:`~msglib.log.Log` in
``<data>/<topic>-<partition>/`` with its :class:`~msglib.cluster.producer_state.ProducerStateManager`
(idempotent sequences, open and aborted transactions), rebuilt from the log when it opens. Topics, their
settings and their topic ids are listed in ``<data>/topics.json``. A topic id (KIP-516, Kafka 2.8) is a
random UUID given when the topic is created and kept with it, so a restart keeps it and a topic deleted
and created again under the same name gets a new one, as in Kafka.

The group coordinator and the transaction coordinator are msglib's own simulated nodes
(:mod:`msglib.groups.coordinator`, :mod:`msglib.txn.coordinator`), on a private simulated network whose
clock follows the wall clock: :meth:`Coordinators.pump` runs every event due by now (called after each
request and by the server every few milliseconds, so session timeouts and rebalance delays fire on
time). Their logs (``__consumer_offsets``, the pending transactional offsets, ``__transaction_state``)
live on disk under ``<data>/``. A node ``broker-0`` on that network answers the transaction
coordinator's Metadata and WriteTxnMarkers requests by writing the markers into the partitions' logs.

Durability (acks=1 and acks=all are the same with one replica): a produce request is answered once its
batch has been written to the segment file (``pwrite``); the operating system then holds it, so a
``kill -9`` of the server loses no acknowledged record. ``fsync`` is left to the OS, as Kafka's
``log.flush.interval.messages`` default does, unless ``fsync=True`` (then every append is synced first,
which a power loss needs).
"""
from __future__ import annotations

import asyncio
import collections
import itertools
import json
import os
import random
import re
import shutil
import struct
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Container

from msglib import protocol as p
from msglib.cluster.policies import check_sequence
from msglib.cluster.producer_state import ProducerStateManager
from msglib.groups.config import GroupConfig
from msglib.groups.coordinator import GroupCoordinator
from msglib.log import Log, LogConfig
from msglib.log.records import NO_PRODUCER_ID, ControlType, RecordBatch, read_header
from msglib.log.storage import DiskStorage
from msglib.protocol import OffsetAndMetadata, PartitionState, TopicPartition
from msglib.sim.core import Simulation
from msglib.sim.network import Endpoint, Network
from msglib.txn.config import TxnConfig
from msglib.txn.coordinator import TransactionCoordinator
from msglib.txn.group_offsets import attach as attach_txn_offsets
from msglib.wire.codec import new_topic_id, parse_topic_id, topic_id_text

NODE_ID = 0
TRACE_LENGTH = 10_000  # coordinator trace entries kept
MAX_PARTITIONS = 1024    # per topic: each partition is a folder with open files
LEGAL_TOPIC = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")
_HEADER_LEN = struct.Struct(">qi")


class ProduceError(Exception):
    """A partition's append refused with a Kafka error name (and a message for the client)."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.code, self.message = code, message


@dataclass
class Partition:
    """One partition's log and producer state; the single replica is the leader and the whole ISR."""

    tp: TopicPartition
    log: Log
    producers: ProducerStateManager = field(default_factory=ProducerStateManager)

    @property
    def high_watermark(self) -> int:
        return self.log.log_end_offset

    @property
    def last_stable_offset(self) -> int:
        return min(self.producers.ongoing.values(), default=self.high_watermark)

    def append(self, data: bytes | memoryview) -> tuple[int, int]:
        """Append one producer batch (``(base offset, log start offset)``) or raise :class:`ProduceError`."""
        if len(data) < 61:
            raise ProduceError("CORRUPT_MESSAGE", f"{len(data)} bytes is shorter than a record batch header")
        h = read_header(data)
        if h.magic != 2:
            raise ProduceError("UNSUPPORTED_FOR_MESSAGE_FORMAT", f"record batch magic {h.magic}; msglib serves "
                               f"magic 2 only (Produce v3+)")
        if h.is_control:
            raise ProduceError("INVALID_RECORD", "producers may not write control batches (transaction markers)")
        pid = h.producer_id
        if pid != NO_PRODUCER_ID:
            if not h.is_transactional and self.producers.has_open_transaction(pid):
                raise ProduceError("INVALID_TXN_STATE", "a plain batch from a producer with an open transaction")
            verdict = check_sequence(self.producers.get(pid), h.producer_epoch, h.base_sequence,
                                     h.base_sequence + h.last_offset_delta)
            if verdict.action == "duplicate":
                return verdict.duplicate_of.first_offset, self.log.log_start_offset
            if verdict.action == "out_of_order":
                raise ProduceError("OUT_OF_ORDER_SEQUENCE_NUMBER",
                                   f"sequence {h.base_sequence} does not follow the last one written")
            if verdict.action == "invalid_epoch":
                raise ProduceError("INVALID_PRODUCER_EPOCH", f"producer epoch {h.producer_epoch} is fenced")
        try:
            info = self.log.append(bytes(data), leader_epoch=0)
        except Exception as exc:   # the log names what is wrong; the client gets the Kafka code for it
            raise ProduceError(_append_error(exc), str(exc)) from None
        if pid != NO_PRODUCER_ID:
            self.producers.update(pid, h.producer_epoch, h.base_sequence, h.base_sequence + h.last_offset_delta,
                                  info.first_offset, info.last_offset, h.is_transactional)
        return info.first_offset, self.log.log_start_offset

    def append_marker(self, producer_id: int, producer_epoch: int, commit: bool) -> str | None:
        entry = self.producers.get(producer_id)
        if entry is not None and producer_epoch < entry.producer_epoch:
            return p.INVALID_PRODUCER_EPOCH
        marker = RecordBatch.control(ControlType.COMMIT if commit else ControlType.ABORT, producer_id=producer_id,
                                     producer_epoch=producer_epoch, timestamp=int(time.time() * 1000))
        info = self.log.append(marker, leader_epoch=0)
        self.producers.complete_txn(producer_id, producer_epoch, commit, info.first_offset)
        return None


def _append_error(exc: Exception) -> str:
    name = type(exc).__name__
    text = str(exc).lower()
    if name == "RecordTooLargeError":
        return "MESSAGE_TOO_LARGE"
    if "snappy" in text or "compression" in text or "zstandard" in text or "lz4" in text:
        return "UNSUPPORTED_COMPRESSION_TYPE"
    if name == "InvalidRecordError":
        return "INVALID_RECORD"
    return "CORRUPT_MESSAGE"


def split_batches(records: bytes | memoryview) -> list[memoryview]:
    """The record batches in a Produce request's ``records`` (each as given, checked by the log)."""
    view = memoryview(records)
    out, pos = [], 0
    while pos < len(view):
        if len(view) - pos < 12:
            raise ProduceError("CORRUPT_MESSAGE", "records end inside a batch header")
        _, length = _HEADER_LEN.unpack_from(view, pos)
        if length < 49 or pos + 12 + length > len(view):
            raise ProduceError("CORRUPT_MESSAGE", f"a batch length of {length} bytes does not fit the records")
        out.append(view[pos:pos + 12 + length])
        pos += 12 + length
    return out


def new_topic_error(name: str, count: int, topics: Container[str], most: int,
                    note: str = "") -> tuple[str, str] | None:
    """``(error name, message)`` when topic ``name`` with ``count`` partitions cannot join ``topics``, else None.

    The name must be legal for Kafka, not taken, and the count within 1..``most`` (``note`` says why that many).
    """
    if not LEGAL_TOPIC.match(name or "") or name in (".", ".."):
        return "INVALID_TOPIC_EXCEPTION", (f"topic name {name!r} is not legal: use 1 to 249 of a-z A-Z 0-9 . _ -, "
                                           f"and not '.' or '..'")
    if name in topics:
        return "TOPIC_ALREADY_EXISTS", f"topic {name!r} already exists"
    if not 1 <= count <= most:
        return "INVALID_PARTITIONS", f"{count} partitions: give 1 to {most}{note}"
    return None


class SimulatedRequests:
    """Requests to nodes on a simulated network, answered as asyncio futures: the server's gateway into it.

    :meth:`call` sends ``make(request_id)`` from the ``gateway`` endpoint and returns a future that the
    answer carrying the same request id resolves; a future given up on (cancelled) is forgotten. Each
    subclass says how its simulated clock catches up with the wall clock (:meth:`pump`, run after each send).
    """

    gateway: Endpoint

    def _open_gateway(self, name: str, network: Network) -> None:
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future] = {}
        self.gateway = Endpoint(name, network, self._on_reply)

    def pump(self) -> None:
        raise NotImplementedError

    def call(self, dst: str, make: Callable[[int], Any]) -> asyncio.Future:
        """Send ``make(request_id)`` to the simulated node ``dst``; a future for its answer."""
        rid = next(self._ids)
        fut = asyncio.get_running_loop().create_future()
        self._waiting[rid] = fut
        fut.add_done_callback(lambda _f, rid=rid: self._waiting.pop(rid, None))
        self.gateway.send(dst, make(rid))
        self.pump()
        return fut

    def _on_reply(self, src: str, msg: Any) -> None:
        fut = self._waiting.pop(getattr(msg, "request_id", None), None)
        if fut is not None and not fut.done():
            fut.set_result(msg)


class FetchWakeup:
    """Fetch's long poll: a waiting fetch awaits :meth:`changed`; :meth:`notify` wakes them all."""

    _changed: asyncio.Event | None = None

    def changed(self) -> asyncio.Event:
        if self._changed is None:
            self._changed = asyncio.Event()
        return self._changed

    def notify(self) -> None:
        """Something was appended: wake every waiting fetch (each re-reads what it asked for)."""
        if self._changed is not None:
            self._changed.set()
            self._changed = None


class Coordinators(SimulatedRequests):
    """msglib's group and transaction coordinators on a private simulated network that follows the wall clock.

    :meth:`call` sends a request message to a coordinator and returns an asyncio future for its answer.
    """

    def __init__(self, data_dir: str, broker: "Broker", group_config: GroupConfig, txn_config: TxnConfig) -> None:
        self.broker = broker
        self.sim = Simulation(seed=0)
        self.sim.now = time.time() * 1000.0
        self.network = Network(self.sim, latency_ms=(0.0, 0.0))
        self._open_gateway("wire", self.network)
        self.broker_node = Endpoint(p.broker_node(NODE_ID), self.network, self._on_broker_message)
        self.broker_ids = [NODE_ID]
        self.config = None

        self.group = GroupCoordinator(self.network, group_config, partition_counts=broker.partition_counts)
        # Member ids must not repeat across restarts (the groups reloaded from disk keep theirs): unseeded.
        self.group._id_rng = random.Random()
        self.group.consumer_groups._id_rng = random.Random()
        self.group.storage = DiskStorage(os.path.join(data_dir, "__consumer_offsets-0"))
        self.group._boot()                       # reload the groups and offsets from disk
        self._group_coordinator = self.group     # txn.group_offsets finds it here (coordinator_for)
        self.txn_offsets = attach_txn_offsets(self.group)
        self.txn_offsets.storage = DiskStorage(os.path.join(data_dir, "__consumer_offsets-pending"))
        self.txn_offsets._loaded_incarnation = None
        self.txn_offsets._ensure_loaded()

        self.txn = TransactionCoordinator(self, txn_config)
        self.txn.storage = DiskStorage(os.path.join(data_dir, "__transaction_state-0"))
        self.txn._boot()
        # The coordinators trace every event (for pictures); a server keeps only the latest ones.
        self.group.trace = collections.deque(self.group.trace, maxlen=TRACE_LENGTH)
        self.txn.trace = collections.deque(self.txn.trace, maxlen=TRACE_LENGTH)
        self.pump()

    def pump(self) -> None:
        """Run every simulated event due by the wall clock's now."""
        self.sim.run(until=max(self.sim.now, time.time() * 1000.0))

    def _on_broker_message(self, src: str, msg: Any) -> None:
        """The transaction coordinator asks the partition leader (us) for metadata and to write markers."""
        if isinstance(msg, p.MetadataRequest):
            parts = {tp: PartitionState(tp, (NODE_ID,), NODE_ID, 0, (NODE_ID,), 0)
                     for tp in self.broker.all_partitions()}
            self.broker_node.send(src, p.MetadataResponse(msg.request_id, parts))
        elif isinstance(msg, p.WriteTxnMarkersRequest):
            errors: dict[Any, str | None] = {}
            for tp in msg.partitions:
                part = self.broker.partition(tp)
                errors[tp] = p.UNKNOWN_TOPIC_OR_PARTITION if part is None else \
                    part.append_marker(msg.producer_id, msg.producer_epoch, msg.commit)
            self.broker.notify()
            self.broker_node.send(src, p.WriteTxnMarkersResponse(msg.request_id, msg.producer_id, errors))

    def close(self) -> None:
        for log in (self.group.store.log, self.txn.state_log.log, self.txn_offsets.log):
            try:
                log.close()
            except Exception:   # already closed
                pass


class Broker(FetchWakeup):
    """Topics, partitions and coordinators of one ``msglib serve`` node (see the module docstring)."""

    def __init__(self, data_dir: str, *, num_partitions: int = 1, auto_create_topics: bool = True,
                 fsync: bool = False, group_config: GroupConfig | None = None,
                 txn_config: TxnConfig | None = None) -> None:
        self.data_dir = os.path.abspath(data_dir)
        os.makedirs(self.data_dir, exist_ok=True)
        self.num_partitions = num_partitions
        self.auto_create_topics = auto_create_topics
        self.fsync = fsync
        self.topics: dict[str, list[Partition]] = {}
        self.topic_configs: dict[str, dict[str, Any]] = {}
        self.topic_ids: dict[str, uuid.UUID] = {}
        self.topic_names: dict[uuid.UUID, str] = {}
        self._load_topics()
        self.coordinators = Coordinators(self.data_dir, self, group_config or GroupConfig(),
                                         txn_config or TxnConfig())

    # -- topics ---------------------------------------------------------------------------------------------
    def _catalog_path(self) -> str:
        return os.path.join(self.data_dir, "topics.json")

    def _load_topics(self) -> None:
        try:
            with open(self._catalog_path(), encoding="utf-8") as f:
                catalog = json.load(f)
        except FileNotFoundError:
            catalog = {}
        for name, entry in catalog.items():
            self.topic_configs[name] = entry.get("configs", {})
            self.topics[name] = [self._open(name, i) for i in range(entry["partitions"])]
            self._set_topic_id(name, parse_topic_id(entry["topic_id"]) if "topic_id" in entry else new_topic_id())
        if any("topic_id" not in entry for entry in catalog.values()):
            self._save_topics()          # a catalog written before topic ids: give each topic its id once

    def _set_topic_id(self, name: str, topic_id: uuid.UUID) -> None:
        self.topic_ids[name] = topic_id
        self.topic_names[topic_id] = name

    def _save_topics(self) -> None:
        catalog = {name: {"partitions": len(parts), "configs": self.topic_configs.get(name, {}),
                          "topic_id": topic_id_text(self.topic_ids[name])}
                   for name, parts in self.topics.items()}
        tmp = self._catalog_path() + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(catalog, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self._catalog_path())

    def _log_config(self, name: str) -> LogConfig:
        config = LogConfig.from_kafka(self.topic_configs.get(name, {}))
        if self.fsync:
            config.flush_messages = 1
        return config

    def _open(self, name: str, index: int) -> Partition:
        tp = TopicPartition(name, index)
        log = Log(os.path.join(self.data_dir, f"{name}-{index}"), self._log_config(name), topic=name, partition=index)
        part = Partition(tp, log)
        part.producers.rebuild(log.batches())
        return part

    def create_topic(self, name: str, partitions: int = -1, configs: dict[str, Any] | None = None,
                     validate_only: bool = False) -> tuple[str | None, str]:
        """``(error name or None, message)``; creates ``<data>/<name>-<i>/`` for each partition."""
        count = self.num_partitions if partitions in (-1, None) else partitions
        refused = new_topic_error(name, count, self.topics, MAX_PARTITIONS, " (one folder of log segments each)")
        if refused is not None:
            return refused
        try:
            LogConfig.from_kafka(configs or {})
        except (ValueError, TypeError) as exc:
            return "INVALID_CONFIG", str(exc)
        if validate_only:
            return None, ""
        self.topic_configs[name] = dict(configs or {})
        self.topics[name] = [self._open(name, i) for i in range(count)]
        self._set_topic_id(name, new_topic_id())
        self._save_topics()
        return None, ""

    def delete_topic(self, name: str) -> str | None:
        parts = self.topics.pop(name, None)
        if parts is None:
            return "UNKNOWN_TOPIC_OR_PARTITION"
        self.topic_configs.pop(name, None)
        self.topic_names.pop(self.topic_ids.pop(name), None)
        self._save_topics()
        for part in parts:
            part.log.close()
            shutil.rmtree(os.path.join(self.data_dir, f"{part.tp.topic}-{part.tp.partition}"), ignore_errors=True)
        self.notify()
        return None

    def partition(self, tp: TopicPartition) -> Partition | None:
        parts = self.topics.get(tp.topic)
        return parts[tp.partition] if parts is not None and 0 <= tp.partition < len(parts) else None

    def partition_counts(self, topics: list[str]) -> dict[str, int]:
        """Partitions per topic (the KIP-848 coordinator's view of topic metadata); unknown topics omitted."""
        return {t: len(self.topics[t]) for t in topics if t in self.topics}

    def all_partitions(self) -> list[TopicPartition]:
        return [part.tp for parts in self.topics.values() for part in parts]

    def close(self) -> None:
        self.coordinators.close()
        for parts in self.topics.values():
            for part in parts:
                part.log.close()


def offsets_from_wire(topics: list[dict[str, Any]], offset_key: str = "committed_offset") -> dict:
    out = {}
    for t in topics:
        for q in t["partitions"]:
            out[TopicPartition(t["name"], q["partition_index"])] = OffsetAndMetadata(
                q[offset_key], q.get("committed_metadata") or "", q.get("committed_leader_epoch", -1))
    return out
