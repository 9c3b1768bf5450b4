"""The hanging transaction: a late write of an aborted transaction (KIP-890's motivation), run seeded.

KIP-890 opens with it: a produce request is delayed in the network, the
producer gives up on it and aborts, the coordinator writes the ABORT marker,
and then the delayed request arrives. With transaction version 1 the
partition takes it: the producer's epoch is the one it had, its sequence
number is the next one. The batch opens a transaction in the partition that
the coordinator knows nothing of, so no marker will ever close it; the last
stable offset (LSO) stops before it, and read_committed consumers stop there,
also for what other producers commit afterwards. If the same producer later
writes to that partition again, its next transaction swallows the late write
and commits it: data from an aborted transaction becomes visible.

:func:`run_hanging` plays that story on a 3-broker cluster:

1. producer ``payments-app`` begins a transaction and writes ``a1`` to the
   partition (appended);
2. its next produce requests to the partition's leader are held in the
   network (:func:`hold_produce_requests`) until ``release_ms``; the batch
   ``a2`` expires after ``delivery_timeout_ms``, the commit fails, the
   application aborts (ABORT marker);
3. producer ``ledger`` commits ``b1``;
4. the held requests arrive: ``a2`` is the late write;
5. ``ledger`` commits ``b2`` and ``b3``; with ``then="continue"``,
   ``payments-app`` commits one more transaction (``a3``) to the partition;
6. a fresh read_committed consumer reads the partition, and
   :func:`msglib.check.eos.find_hanging_transactions` looks for transactions
   open in a partition that the coordinator does not have open there.

What changes the ending is the protocol: ``transaction_version=2`` (KIP-890
part 2, Kafka 4.0) fences the late write by its epoch (the ABORT marker
carried a bumped one); ``transaction_version=1`` with
``verification=True`` (KIP-890 part 1, Kafka 3.6) has the leader ask the
coordinator first; plain version 1 takes it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from msglib.check.eos import HangingTransaction, find_hanging_transactions
from msglib.cluster import Cluster, ClusterConfig
from msglib.protocol import ProduceRequest, TopicPartition, broker_node
from msglib.protocol.errors import KafkaError
from msglib.txn.config import TxnConfig
from msglib.txn.coordinator import transaction_coordinator_for

TOPIC = "payments"
APP, OTHER = "payments-app", "ledger"


def hold_produce_requests(node: Any, until_ms: float, dst: str | None = None,
                          hold_new_until_ms: float | None = None) -> Callable[[], None]:
    """``node``'s ProduceRequests (to ``dst`` only, if given) sent from now until ``hold_new_until_ms``
    (default ``until_ms``) wait in the network and are delivered, in order, at ``until_ms``: a congested
    link, a stuck socket buffer. The sender cannot take them back; they arrive even if it crashed
    meanwhile. Returns a function that stops holding new requests (those held still arrive)."""
    sim, network, original = node.sim, node.network, node.send
    name = node.name
    hold_new_until = until_ms if hold_new_until_ms is None else min(until_ms, hold_new_until_ms)

    def send(to: str, msg: Any) -> None:
        if isinstance(msg, ProduceRequest) and (dst is None or to == dst) and sim.now < hold_new_until:
            sim.at(until_ms, network.send, name, to, msg)
            return
        original(to, msg)

    node.send = send

    def stop() -> None:
        node.send = original
    return stop


@dataclass
class LogEntry:
    """One offset of the partition, as the leader has it at the end."""

    offset: int
    kind: str             # "data", "COMMIT" or "ABORT"
    producer: str         # the transactional id of its producer
    epoch: int
    value: str | None     # a data record's value


@dataclass
class HangingResult:
    seed: int
    transaction_version: int
    verification: bool
    then: str
    log: list[LogEntry]
    late_write: str                           # what happened to the late write
    late_offset: int | None                   # where it landed (None: refused)
    last_stable_offset: int
    high_watermark: int
    hanging: list[HangingTransaction]
    read_committed: list[str]                 # what a fresh read_committed consumer reads, in offset order
    committed: list[str]                      # what was committed (by the producers' own account)
    aborted: list[str]                        # what was aborted (by the producers' own account)
    events: list[tuple[float, str]] = field(default_factory=list)
    partition: Any = None                     # the leader's replica at the end (for pictures)

    @property
    def stalled(self) -> list[str]:
        """Committed records a read_committed consumer cannot read (they sit above the stuck LSO)."""
        return [v for v in self.committed if v not in self.read_committed]

    @property
    def aborted_visible(self) -> list[str]:
        """Records of an aborted transaction that a read_committed consumer reads."""
        return [v for v in self.read_committed if v in self.aborted]

    @property
    def valid(self) -> bool:
        return not self.hanging and not self.stalled and not self.aborted_visible

    def verdict(self) -> str:
        name = f"transaction version {self.transaction_version}" + \
            (" with partition verification" if self.verification and self.transaction_version == 1 else "")
        if self.valid:
            return (f"{name}: no hanging transaction; the late write was {self.late_write}; read_committed "
                    f"reads all {len(self.committed)} committed records")
        parts = []
        if self.hanging:
            parts.append("HANGING: " + "; ".join(str(h) for h in self.hanging))
        if self.stalled:
            parts.append(f"read_committed is stuck: {len(self.stalled)} committed records it cannot read "
                         f"({', '.join(self.stalled)})")
        if self.aborted_visible:
            parts.append(f"ABORTED DATA VISIBLE: {', '.join(self.aborted_visible)} (aborted) is read as "
                         f"committed: the next transaction swallowed the late write")
        return f"{name}: the late write was {self.late_write}. " + ". ".join(parts)

    def story(self) -> str:
        return "\n".join(f"{t:8.1f} ms  {what}" for t, what in self.events)


def run_hanging(seed: int = 0, *, transaction_version: int = 1, verification: bool = False,
                then: str = "stop", settle_ms: float = 2_000.0) -> HangingResult:
    """Play the story of the module docstring; deterministic for a seed. ``then``: ``"stop"`` (the
    application does not write to the partition again) or ``"continue"`` (one more transaction)."""
    if then not in ("stop", "continue"):
        raise ValueError(f"then must be 'stop' or 'continue', got {then!r}")
    if transaction_version not in (1, 2):
        raise ValueError(f"transaction_version must be 1 or 2, got {transaction_version!r}")
    cluster = Cluster(3, seed=seed, config=ClusterConfig.fast(
        min_insync_replicas=2, transaction_partition_verification_enable=bool(verification)))
    sim = cluster.sim
    cluster.create_topic(TOPIC, 1, 3)
    coordinator = transaction_coordinator_for(cluster, TxnConfig.fast(transaction_version=transaction_version))
    tp = TopicPartition(TOPIC, 0)
    events: list[tuple[float, str]] = []
    committed: list[str] = []
    aborted: list[str] = []

    def note(what: str) -> None:
        events.append((sim.now, what))

    app = cluster.producer(transactional_id=APP, value_serializer=str.encode)
    other = cluster.producer(transactional_id=OTHER, value_serializer=str.encode)
    app.init_transactions()
    other.init_transactions()

    def transaction(producer: Any, values: list[str]) -> None:
        producer.begin_transaction()
        for v in values:
            producer.send(TOPIC, v, partition=0)
        producer.commit_transaction()
        committed.extend(values)
        note(f"{producer.txn.transactional_id} commits {', '.join(values)} (epoch now {producer.producer_epoch})")

    # 1-2: a1 is appended; a2's requests are held in the network; the commit fails; the app aborts.
    app.begin_transaction()
    app.send(TOPIC, "a1", partition=0)
    app.flush()
    note(f"{APP} (epoch {app.producer_epoch}) writes a1")
    leader = broker_node(cluster.leader(TOPIC, 0))
    release = sim.now + app.config["delivery_timeout_ms"] + 1_000.0
    stop = hold_produce_requests(app.node, release, leader)
    app.send(TOPIC, "a2", partition=0)
    note(f"{APP} writes a2: its produce requests are stuck in the network until t={release:.0f} ms")
    try:
        app.commit_transaction()
        committed += ["a1", "a2"]
    except KafkaError as exc:
        note(f"{APP}: commit_transaction() fails ({type(exc).__name__}: a2 expired); it aborts")
        app.abort_transaction()
        aborted += ["a1", "a2"]
        note(f"{APP}: the abort is logged, its ABORT marker on the way; the producer's epoch is now "
             f"{app.producer_epoch}")
    stop()
    # 3: another producer commits b1 before the late write arrives.
    transaction(other, ["b1"])
    part = cluster.replica(cluster.leader(TOPIC, 0), TOPIC, 0)
    end_before = part.log_end_offset
    sim.run(until=release + 50.0)        # 4: the held requests arrive
    late = [e for e in _log(part, coordinator) if e.offset >= end_before and e.value == "a2"]
    if late:
        late_write, late_offset = f"appended at offset {late[0].offset}", late[0].offset
    else:
        late_write, late_offset = ("refused (its epoch is older than the partition's)" if transaction_version >= 2
                                   else "refused (the coordinator does not have the partition in a transaction)"), None
    note(f"the late a2 arrives at the leader: {late_write}")
    # 5: more committed data after it.
    transaction(other, ["b2", "b3"])
    if then == "continue":
        transaction(app, ["a3"])
    sim.run(until=sim.now + settle_ms)
    note(f"{settle_ms:g} ms later")
    part = cluster.replica(cluster.leader(TOPIC, 0), TOPIC, 0)
    hanging = find_hanging_transactions(cluster, coordinator)
    reader = cluster.consumer(isolation_level="read_committed", auto_offset_reset="earliest",
                              value_deserializer=bytes.decode)
    reader.assign([tp])
    read: list[str] = []
    deadline = sim.now + 1_000.0
    while sim.now < deadline:
        for records in reader.poll(timeout_ms=50).values():
            read += [r.value for r in records]
    reader.close()
    note(f"a read_committed consumer reads {read} (LSO {part.last_stable_offset}, HW {part.high_watermark})")
    return HangingResult(seed, transaction_version, bool(verification), then, _log(part, coordinator), late_write,
                         late_offset, part.last_stable_offset, part.high_watermark, hanging, read, committed,
                         aborted, events, part)


def _log(part: Any, coordinator: Any) -> list[LogEntry]:
    names = {m.producer_id: tid for tid, m in coordinator.txns.items()}
    out = []
    for batch in part.log.batches():
        who = names.get(batch.producer_id, str(batch.producer_id))
        if batch.is_control:
            kind = "COMMIT" if batch.control_type.name == "COMMIT" else "ABORT"
            out.append(LogEntry(batch.base_offset, kind, who, batch.producer_epoch, None))
            continue
        for r in batch.records:
            value = r.value.decode() if isinstance(r.value, bytes) else r.value
            out.append(LogEntry(r.offset, "data", who, batch.producer_epoch, value))
    return out


def compare_versions(seeds: range | list[int] = range(5), then: str = "stop") -> list[dict]:
    """One row per (seed, protocol): the late write's fate, hanging transactions, stalled and aborted-visible
    records. The three protocols: version 1, version 1 with verification, version 2."""
    rows = []
    for seed in seeds:
        for version, verification in ((1, False), (1, True), (2, False)):
            r = run_hanging(seed, transaction_version=version, verification=verification, then=then)
            rows.append(dict(seed=seed, protocol=_protocol_name(version, verification), late_write=r.late_write,
                             hanging=len(r.hanging), stalled=len(r.stalled), aborted_visible=len(r.aborted_visible),
                             lso=r.last_stable_offset, hw=r.high_watermark))
    return rows


def protocol_name(version: int, verification: bool) -> str:
    """How the tables and pictures name a protocol."""
    return _protocol_name(version, verification)


def _protocol_name(version: int, verification: bool) -> str:
    if version >= 2:
        return "v2 (KIP-890 part 2, Kafka 4.0)"
    return "v1 + verification (KIP-890 part 1, 3.6)" if verification else "v1 (KIP-98)"
