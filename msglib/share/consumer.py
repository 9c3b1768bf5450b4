"""``KafkaShareConsumer``: the client of a share group, shaped like Kafka 4.x's Java ``KafkaShareConsumer``.

* ``subscribe(topics)``, then ``poll(timeout_ms)``: joins the share group (ShareGroupHeartbeat) and fetches
  (ShareFetch): the records returned are *acquired* for this consumer under an acquisition lock.
* ``share_acknowledgement_mode`` (Kafka's ``share.acknowledgement.mode``), ``"implicit"`` by default:
  the next ``poll`` (or ``commit_sync``) accepts every record the previous poll delivered; ``close`` releases
  what was not acknowledged. ``"explicit"``: the application calls ``acknowledge(record, AcknowledgeType.X)``
  for every record before its next ``poll`` (else ``IllegalStateError``); ``acknowledge`` is refused in
  implicit mode.
* ``commit_sync()`` (also ``commitSync()``) sends the pending acknowledgements now (ShareAcknowledge) and
  returns, per partition, None or the error (``InvalidRecordStateError`` when the lock had expired);
  ``commit_async()`` sends them without reporting the verdicts.

The broker is a :class:`~msglib.share.broker.ShareBroker` handed in (``broker=``); time is its simulation's
clock: a ``poll`` that finds nothing lets simulated time pass, up to ``timeout_ms``.
Poll returns ``{TopicPartition: [ShareRecord, ...]}`` as msglib's kafka-python-shaped ``KafkaConsumer`` does.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from msglib.protocol import share as sp
from msglib.protocol.errors import UNKNOWN_MEMBER_ID, IllegalStateError, KafkaConfigurationError, KafkaError
from msglib.protocol.structs import TopicPartition
from msglib.share.broker import ShareBroker
from msglib.share.record import AcknowledgeType

ACK_MODES = ("implicit", "explicit")


@dataclass(frozen=True)
class ShareRecord:
    """A record delivered to a share consumer; ``delivery_count`` is 1 on its first delivery."""

    topic: str
    partition: int
    offset: int
    key: Any
    value: Any
    delivery_count: int

    @property
    def topic_partition(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)


class KafkaShareConsumer:
    """A member of a share group (see the module docstring)."""

    def __init__(self, *topics: str, group_id: str, broker: ShareBroker,
                 share_acknowledgement_mode: str = "implicit", max_poll_records: int = 500,
                 client_id: str = "share-consumer") -> None:
        if not group_id:
            raise KafkaConfigurationError("a share consumer needs group_id (the share group's name)")
        if share_acknowledgement_mode not in ACK_MODES:
            raise KafkaConfigurationError(f"share_acknowledgement_mode must be 'implicit' or 'explicit', got "
                                          f"{share_acknowledgement_mode!r} (Kafka's share.acknowledgement.mode)")
        if max_poll_records < 1:
            raise KafkaConfigurationError(f"max_poll_records must be >= 1, got {max_poll_records}")
        self.group_id = group_id
        self.broker = broker
        self.mode = share_acknowledgement_mode
        self.max_poll_records = max_poll_records
        self.client_id = client_id
        self.member_id = ""
        self.member_epoch = sp.JOIN_EPOCH
        self.assignment: list[TopicPartition] = []
        self._topics: list[str] = []
        self._session_epoch = sp.OPEN_SESSION_EPOCH
        self._next_heartbeat = 0.0
        self._delivered: dict[tuple[TopicPartition, int], ShareRecord] = {}    # waiting for an acknowledgement
        self._pending: dict[TopicPartition, list[tuple[int, AcknowledgeType]]] = {}
        self._closed = False
        if topics:
            self.subscribe(list(topics))

    # -- subscription ------------------------------------------------------------------------------
    def subscribe(self, topics: Iterable[str]) -> None:
        topics = list(topics)
        if any(not isinstance(t, str) or not t for t in topics):
            raise ValueError(f"topic names must be non-empty strings, got {topics!r}")
        self._topics = sorted(set(topics))
        self._next_heartbeat = 0.0          # tell the coordinator at the next poll

    def subscription(self) -> set[str]:
        return set(self._topics)

    def unsubscribe(self) -> None:
        self._leave()
        self._topics = []

    # -- the poll loop -----------------------------------------------------------------------------
    @property
    def _now(self) -> float:
        return self.broker.sim.now

    def _heartbeat(self) -> None:
        if self._now < self._next_heartbeat and self.member_id:
            return
        resp = self.broker.heartbeat(sp.ShareGroupHeartbeatRequest(
            self.group_id, self.member_id, self.member_epoch, subscribed_topic_names=list(self._topics)))
        if resp.error_code == UNKNOWN_MEMBER_ID:           # fenced (session timeout): join again
            self.member_id, self.member_epoch = "", sp.JOIN_EPOCH
            self._delivered.clear()
            self._pending.clear()
            resp = self.broker.heartbeat(sp.ShareGroupHeartbeatRequest(
                self.group_id, "", sp.JOIN_EPOCH, subscribed_topic_names=list(self._topics)))
        if resp.error_code is not None:
            raise KafkaError(f"ShareGroupHeartbeat failed: {resp.error_code} {resp.error_message or ''}".strip())
        self.member_id, self.member_epoch = resp.member_id or self.member_id, resp.member_epoch
        if resp.assignment is not None:
            self.assignment = list(resp.assignment)
        self._next_heartbeat = self._now + resp.heartbeat_interval_ms

    def _implicitly_accept(self) -> None:
        for (tp, offset) in list(self._delivered):
            self._pending.setdefault(tp, []).append((offset, AcknowledgeType.ACCEPT))
        self._delivered.clear()

    def poll(self, timeout_ms: float = 0) -> dict[TopicPartition, list[ShareRecord]]:
        """Acknowledge what is due, fetch (acquire) new records; waits up to ``timeout_ms`` of simulated time."""
        if self._closed:
            raise IllegalStateError("this share consumer is closed")
        if not self._topics:
            raise IllegalStateError("subscribe to a topic before poll()")
        if timeout_ms < 0:
            raise ValueError(f"timeout_ms must be >= 0, got {timeout_ms}")
        if self.mode == "explicit" and self._delivered:
            waiting = sorted(f"{tp}@{o}" for tp, o in self._delivered)
            raise IllegalStateError(f"explicit acknowledgement: acknowledge every record of the previous poll "
                                    f"before polling again ({len(waiting)} waiting: {', '.join(waiting[:5])})")
        self._implicitly_accept()
        deadline = self._now + timeout_ms
        while True:
            self._heartbeat()
            resp = self.broker.share_fetch(sp.ShareFetchRequest(
                self.group_id, self.member_id, self._session_epoch, partitions=list(self.assignment),
                acknowledgements=self._batches(), max_records=self.max_poll_records))
            self._pending.clear()
            self._session_epoch += 1
            if resp.error_code is not None:
                raise KafkaError(f"ShareFetch failed: {resp.error_code}")
            out: dict[TopicPartition, list[ShareRecord]] = {}
            for data in resp.responses:
                counts = {o: a.delivery_count for a in data.acquired_records
                          for o in range(a.first_offset, a.last_offset + 1)}
                for offset, key, value in data.records:
                    rec = ShareRecord(data.partition.topic, data.partition.partition, offset, key, value,
                                      counts[offset])
                    out.setdefault(data.partition, []).append(rec)
                    self._delivered[(data.partition, offset)] = rec
            if out or self._now >= deadline:
                return out
            step = min(deadline - self._now, 100.0)
            self.broker.sim.run(until=self._now + step)

    def _batches(self) -> dict[TopicPartition, list[sp.AcknowledgementBatch]]:
        return {tp: [sp.AcknowledgementBatch(o, o, [int(t)]) for o, t in sorted(acks)]
                for tp, acks in self._pending.items() if acks}

    # -- acknowledgements --------------------------------------------------------------------------
    def acknowledge(self, record: ShareRecord, type: AcknowledgeType = AcknowledgeType.ACCEPT) -> None:
        """Explicit mode: ACCEPT, RELEASE or REJECT one record of the last poll (sent at the next poll/commit)."""
        if self.mode != "explicit":
            raise IllegalStateError("acknowledge() needs share_acknowledgement_mode='explicit' (in implicit mode "
                                    "the next poll or commit_sync accepts every delivered record)")
        key = (record.topic_partition, record.offset)
        if key not in self._delivered:
            raise IllegalStateError(f"{record.topic_partition}@{record.offset} is not waiting to be acknowledged "
                                    f"(already acknowledged, or not from the last poll)")
        del self._delivered[key]
        self._pending.setdefault(record.topic_partition, []).append((record.offset, AcknowledgeType(type)))

    def commit_sync(self) -> dict[TopicPartition, KafkaError | None]:
        """Send the pending acknowledgements now (implicit mode: accept every delivered record first)."""
        if self.mode == "implicit":
            self._implicitly_accept()
        if not self._pending:
            return {}
        resp = self.broker.share_acknowledge(sp.ShareAcknowledgeRequest(
            self.group_id, self.member_id, self._session_epoch, acknowledgements=self._batches()))
        self._session_epoch += 1
        sent = list(self._pending)
        self._pending.clear()
        if resp.error_code is not None:
            return {tp: KafkaError(resp.error_code) for tp in sent}
        return {tp: (sp.InvalidRecordStateError(f"{tp}: an acknowledgement was refused: the acquisition lock had "
                                                f"expired or the record was already acknowledged")
                     if err == sp.INVALID_RECORD_STATE else (KafkaError(err) if err else None))
                for tp, err in resp.partitions.items()}

    commitSync = commit_sync   # the Java name

    def commit_async(self) -> None:
        """Send the pending acknowledgements without waiting for the verdicts (msglib's broker answers at once;
        like Kafka's ``commitAsync`` without a callback, a refused acknowledgement raises nothing)."""
        self.commit_sync()

    commitAsync = commit_async

    @property
    def acquisition_lock_timeout_ms(self) -> float:
        """How long the records of the last poll stay acquired (Kafka's ``acquisitionLockTimeoutMs()``)."""
        return self.broker.config.record_lock_duration_ms

    def close(self) -> None:
        """Commit acknowledgements already given, release what was delivered but not acknowledged, leave."""
        if self._closed:
            return
        for (tp, offset) in list(self._delivered):
            self._pending.setdefault(tp, []).append((offset, AcknowledgeType.RELEASE))
        self._delivered.clear()
        if self._pending and self.member_id:
            self.broker.share_acknowledge(sp.ShareAcknowledgeRequest(
                self.group_id, self.member_id, sp.CLOSE_SESSION_EPOCH, acknowledgements=self._batches()))
        self._pending.clear()
        self._leave()
        self._closed = True

    def _leave(self) -> None:
        if self.member_id:
            self.broker.heartbeat(sp.ShareGroupHeartbeatRequest(self.group_id, self.member_id, sp.LEAVE_EPOCH))
        self.member_id, self.member_epoch, self.assignment = "", sp.JOIN_EPOCH, []

    def __enter__(self) -> "KafkaShareConsumer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
