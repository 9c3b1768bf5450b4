"""Non-blocking retries with retry topics (Spring Kafka's pattern), on msglib's own log.

A Kafka consumer cannot "requeue" a record: its position in the partition
only moves forward. Retrying in place (sleep, try again) blocks every record
behind the failing one. Spring Kafka's answer is a ladder of topics::

    main ──fail──► main-retry-1000 ──fail──► main-retry-2000 ──fail──► main-retry-4000 ──fail──► main-dlt
      (attempt 1)       (attempt 2, ≥1 s later)   (attempt 3, ≥2 s later)    (attempt 4, ≥4 s later)

A failed record is *copied* to the next topic with a due time in the header
``retry_topic-backoff-timestamp``. That topic's consumer pauses its partition
until the head record is due (all records in one retry topic have the same
delay, so they become due in order), while the main topic keeps flowing: no
head-of-line blocking, at the price of per-key order. ``attempts`` counts the
first delivery, so ``attempts=4`` makes three retry topics. Fatal errors skip
the ladder and go straight to the DLT; so does the first failure after a
global ``timeout_ms``.

Records forwarded to a DLT carry where they came from:
``kafka_dlt-original-{topic,partition,offset,timestamp,consumer-group}`` (from
the *first* failure: retry topics keep the first original) and
``kafka_dlt-exception-{fqcn,message}`` (from the *last* failure).

The next hop is decided by ``router(topology, failed_topic, now_ms, fatal) ->
(topic, due_ms or None)``: a seam, module 09's exercise.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

from msglib.dlq.backoff import ExponentialBackoff, FixedBackoff
from msglib.dlq.classify import Classifier, is_transient
from msglib.log import Record, RecordMetadata, Topic
from msglib.sim import History, Simulation

MESSAGE_ID = "message-id"
ATTEMPTS = "retry_topic-attempts"
BACKOFF_TIMESTAMP = "retry_topic-backoff-timestamp"
ORIGINAL_TIMESTAMP = "retry_topic-original-timestamp"
DLT_ORIGINAL_TOPIC = "kafka_dlt-original-topic"
DLT_ORIGINAL_PARTITION = "kafka_dlt-original-partition"
DLT_ORIGINAL_OFFSET = "kafka_dlt-original-offset"
DLT_ORIGINAL_TIMESTAMP = "kafka_dlt-original-timestamp"
DLT_ORIGINAL_CONSUMER_GROUP = "kafka_dlt-original-consumer-group"
DLT_EXCEPTION_FQCN = "kafka_dlt-exception-fqcn"
DLT_EXCEPTION_MESSAGE = "kafka_dlt-exception-message"
ORIGINAL_HEADERS = (DLT_ORIGINAL_TOPIC, DLT_ORIGINAL_PARTITION, DLT_ORIGINAL_OFFSET, DLT_ORIGINAL_TIMESTAMP,
                    DLT_ORIGINAL_CONSUMER_GROUP)
DLT_STRATEGIES = ("ALWAYS_RETRY_ON_ERROR", "FAIL_ON_ERROR", "NO_DLT")


@dataclass(frozen=True)
class RetryTopology:
    """The topics of one retry ladder: ``main``, the retry topics in order, their delays, the DLT."""

    main: str
    retry_topics: tuple[str, ...]
    delays: tuple[float, ...]          # delays[i]: wait before consuming from retry_topics[i]
    dlt: str

    def __post_init__(self) -> None:
        if len(self.retry_topics) != len(self.delays):
            raise ValueError(f"{len(self.retry_topics)} retry topics but {len(self.delays)} delays; one delay each")
        names = (self.main,) + self.retry_topics + (self.dlt,)
        if len(set(names)) != len(names):
            raise ValueError(f"topic names must be distinct, got {names}")

    @classmethod
    def create(cls, main: str, attempts: int = 3, backoff: FixedBackoff | ExponentialBackoff | None = None,
               *, retry_suffix: str = "-retry", dlt_suffix: str = "-dlt") -> "RetryTopology":
        """Spring's naming: ``attempts`` counts the first delivery; each retry topic is named after its
        delay (``main-retry-1000``). With one fixed delay the topics are numbered instead
        (``main-retry-0``, ``-retry-1``...); a delay repeated at the cap gets ``-0``, ``-1``... appended."""
        if not isinstance(attempts, int) or attempts < 1:
            raise ValueError(f"attempts counts the first delivery, so it is >= 1; got {attempts!r}")
        backoff = backoff if backoff is not None else FixedBackoff(1000.0)
        delays = tuple(float(d) for d in backoff.ceilings(attempts - 1))
        if len(set(delays)) <= 1 and len(delays) > 1:
            names = tuple(f"{main}{retry_suffix}-{i}" for i in range(len(delays)))
        else:
            names_list = []
            for i, d in enumerate(delays):
                name = f"{main}{retry_suffix}-{d:g}"
                if delays.count(d) > 1:
                    name += f"-{delays[:i].count(d)}"
                names_list.append(name)
            names = tuple(names_list)
        return cls(main, names, delays, f"{main}{dlt_suffix}")

    @property
    def attempts(self) -> int:
        return 1 + len(self.retry_topics)

    @property
    def chain(self) -> tuple[str, ...]:
        """The topics a record is attempted in, in order."""
        return (self.main,) + self.retry_topics


def route_failure(topology: RetryTopology, failed_topic: str, now_ms: float, fatal: bool) -> tuple[str, float | None]:
    """Where a record that just failed in ``failed_topic`` goes next, and when it is due.

    Fatal → the DLT (no due time). Otherwise the next topic of the ladder,
    due ``now + its delay``; after the last retry topic, the DLT.
    """
    if fatal:
        return topology.dlt, None
    chain = topology.chain
    i = chain.index(failed_topic)
    if i + 1 < len(chain):
        return chain[i + 1], now_ms + topology.delays[i]
    return topology.dlt, None


Router = Callable[[RetryTopology, str, float, bool], "tuple[str, float | None]"]


@dataclass
class RetryRecord:
    """What a handler receives: the payload plus where the record is in the ladder."""

    message_id: str
    payload: Any
    topic: str
    partition: int
    offset: int
    attempt: int
    headers: dict[str, str]


@dataclass
class TopicAttempt:
    """One attempt in one topic (for timelines and checks)."""

    time: float
    message_id: str
    topic: str
    attempt: int
    error: str | None
    sent_to: str | None = None
    due: float | None = None


def _hget(headers: tuple, name: str) -> str | None:
    for k, v in headers:
        if k == name:
            return None if v is None else v.decode()
    return None


class RetryTopicPipeline:
    """Consumers for ``main``, every retry topic and the DLT, on a :class:`Simulation`.

    Records are JSON payloads. Consumers are woken when a record lands in
    their topic (after ``poll_interval_ms``, like a fetch), and a retry
    topic's consumer sleeps until its head record is due.
    """

    FETCH_BYTES = 4096

    def __init__(self, sim: Simulation, topology: RetryTopology, handler: Callable[[RetryRecord], Any], *,
                 partitions: int = 1, router: Router = route_failure, classifier: Classifier = is_transient,
                 poll_interval_ms: float = 10.0, timeout_ms: float | None = None,
                 dlt_handler: Callable[[RetryRecord], Any] | None = None,
                 dlt_strategy: str = "ALWAYS_RETRY_ON_ERROR", exception_dlts: dict[type, str] | None = None,
                 group: str = "app", history: History | None = None, max_hops: int = 50) -> None:
        if dlt_strategy not in DLT_STRATEGIES:
            raise ValueError(f"dlt_strategy must be one of {', '.join(DLT_STRATEGIES)}, got {dlt_strategy!r}")
        self.sim = sim
        self.topology = topology
        self.handler = handler
        self.router = router
        self.classifier = classifier
        self.poll_interval_ms = poll_interval_ms
        self.timeout_ms = timeout_ms
        self.dlt_handler = dlt_handler
        self.dlt_strategy = dlt_strategy
        self.exception_dlts = {exc: topology.main + suffix for exc, suffix in (exception_dlts or {}).items()}
        self.group = group
        self.max_hops = max_hops
        self.history = history if history is not None else History(meta={"max_attempts": topology.attempts})
        clock = lambda: sim.now  # noqa: E731  (the log stamps records with simulated time)
        names = list(topology.chain) + ([] if dlt_strategy == "NO_DLT" else [topology.dlt])
        names += [n for n in self.exception_dlts.values() if n not in names]
        self.topics: dict[str, Topic] = {n: Topic(n, partitions, clock=clock) for n in names}
        self.position: dict[tuple[str, int], int] = {(n, p): 0 for n in names for p in range(partitions)}
        self._wakeup: dict[tuple[str, int], Any] = {}
        self.attempts: list[TopicAttempt] = []
        self.dead_lettered: dict[str, RetryRecord] = {}
        self.dropped: list[str] = []            # NO_DLT: retries exhausted, record gone
        self.dlt_failures: list[str] = []       # FAIL_ON_ERROR: the DLT handler failed, processing stopped
        self.processed: dict[str, int] = {}
        self._hops: dict[str, int] = {}

    # ------------------------------------------------------------------ producing
    def send(self, payload: Any, *, message_id: str, key: str | None = None) -> RecordMetadata:
        """Publish a new record to the main topic."""
        op = self.history.invoke(self.sim.now, "producer", "publish", {"id": message_id})
        meta = self._produce(self.topology.main, payload, key, [(MESSAGE_ID, message_id.encode())], None)
        self.history.complete(op, self.sim.now, "ok")
        return meta

    def submit(self, payload: Any, *, message_id: str, at: float, key: str | None = None) -> None:
        self.sim.at(at, lambda: self.send(payload, message_id=message_id, key=key))

    def _produce(self, topic: str, payload: Any, key: str | None, headers: list, partition: int | None,
                 value: bytes | None = None) -> RecordMetadata:
        t = self.topics[topic]
        data = value if value is not None else json.dumps(payload).encode()
        meta = t.send(data, key.encode() if key is not None else None, partition=partition, headers=headers,
                      timestamp=int(self.sim.now))
        self._wake(topic, meta.partition, self.poll_interval_ms)
        return meta

    # ------------------------------------------------------------------ consuming
    def _wake(self, topic: str, partition: int, delay: float) -> None:
        key = (topic, partition)
        at = self.sim.now + delay
        timer = self._wakeup.get(key)
        if timer is not None and not timer.cancelled and timer.time <= at:
            return                              # already scheduled soon enough
        if timer is not None:
            timer.cancel()
        self._wakeup[key] = self.sim.at(at, self._poll, topic, partition)

    def _poll(self, topic: str, partition: int) -> None:
        key = (topic, partition)
        self._wakeup.pop(key, None)
        log = self.topics[topic][partition]
        while self.position[key] < log.log_end_offset:
            # a small fetch: a paused retry topic must not decode what it cannot consume yet
            for batch in log.read(self.position[key], max_bytes=self.FETCH_BYTES):
                if batch.is_control:
                    continue
                for record in batch.records:
                    if record.offset < self.position[key]:
                        continue
                    due = _hget(record.headers, BACKOFF_TIMESTAMP)
                    if due is not None and float(due) > self.sim.now:
                        # pause this partition until the head record is due; other topics keep flowing
                        self._wake(topic, partition, float(due) - self.sim.now)
                        return
                    self.position[key] = record.offset + 1
                    self._consume(topic, partition, record)

    def _consume(self, topic: str, partition: int, record: Record) -> None:
        headers = {k: (v.decode() if v is not None else None) for k, v in record.headers}
        mid = headers.get(MESSAGE_ID) or f"{topic}-{partition}@{record.offset}"
        attempt = int(headers.get(ATTEMPTS, "1"))
        rr = RetryRecord(mid, json.loads(record.value) if record.value else None, topic, partition, record.offset,
                         attempt, headers)
        is_dlt = topic == self.topology.dlt or topic in self.exception_dlts.values()
        if is_dlt:
            self._consume_dlt(rr, record)
            return
        op = self.history.invoke(self.sim.now, "consumer", "attempt", {"id": mid, "attempt": attempt, "topic": topic})
        try:
            self.handler(rr)
        except Exception as exc:
            self.history.complete(op, self.sim.now, "fail", error=type(exc).__name__)
            self._failed(rr, record, exc)
            return
        self.history.complete(op, self.sim.now, "ok")
        self.processed[mid] = self.processed.get(mid, 0) + 1
        self.attempts.append(TopicAttempt(self.sim.now, mid, topic, attempt, None))

    def _failed(self, rr: RetryRecord, record: Record, exc: Exception) -> None:
        transient = self.classifier(exc)
        if not isinstance(transient, bool):
            raise TypeError(f"the classifier returned {transient!r} for {type(exc).__name__}; it must return a bool")
        original_ts = float(rr.headers.get(ORIGINAL_TIMESTAMP, record.timestamp))
        timed_out = self.timeout_ms is not None and self.sim.now - original_ts >= self.timeout_ms
        destination, due = self.router(self.topology, rr.topic, self.sim.now, (not transient) or timed_out)
        if destination not in self.topics and destination != self.topology.dlt:
            raise ValueError(f"the router sent {rr.message_id} from {rr.topic!r} to {destination!r}, which is not a "
                             f"topic of this pipeline ({', '.join(self.topics)})")
        if destination == self.topology.main:
            raise ValueError(f"the router sent {rr.message_id} from {rr.topic!r} back to the main topic "
                             f"{destination!r}; retries go forward through the retry topics")
        to_dlt = destination == self.topology.dlt
        if not to_dlt and due is None:
            raise ValueError(f"the router sent {rr.message_id} to retry topic {destination!r} without a due time")
        if to_dlt:
            for exc_type, name in self.exception_dlts.items():   # a typed DLT wins over the generic one
                if isinstance(exc, exc_type):
                    destination = name
                    break
        self.attempts.append(TopicAttempt(self.sim.now, rr.message_id, rr.topic, rr.attempt, type(exc).__name__,
                                          destination, due))
        hops = self._hops[rr.message_id] = self._hops.get(rr.message_id, 0) + 1
        if hops > self.max_hops:
            raise RuntimeError(f"{rr.message_id} was forwarded {hops} times: the router never sends it to the DLT")
        if to_dlt and self.dlt_strategy == "NO_DLT":
            self.dropped.append(rr.message_id)
            return
        headers = self._forward_headers(record, rr, exc, None if to_dlt else due)
        if to_dlt:
            op = self.history.invoke(self.sim.now, "consumer", "dead-letter",
                                     {"id": rr.message_id, "attempts": rr.attempt,
                                      "reason": "permanent" if not transient else
                                      ("timeout" if timed_out else "max-attempts")})
        self._produce(destination, None, record.key.decode() if record.key else None, headers, rr.partition,
                      value=record.value)
        if to_dlt:
            self.history.complete(op, self.sim.now, "ok")

    def _forward_headers(self, record: Record, rr: RetryRecord, exc: Exception, due: float | None) -> list:
        old = dict(rr.headers)
        out: dict[str, str] = {k: v for k, v in old.items()
                               if k not in (ATTEMPTS, BACKOFF_TIMESTAMP, DLT_EXCEPTION_FQCN, DLT_EXCEPTION_MESSAGE)}
        # on a retry record: the number of the attempt it is for; on a DLT record: the attempts made
        out[ATTEMPTS] = str(rr.attempt + 1 if due is not None else rr.attempt)
        out.setdefault(ORIGINAL_TIMESTAMP, str(record.timestamp))
        if DLT_ORIGINAL_TOPIC not in old:        # keep the *first* original only
            out[DLT_ORIGINAL_TOPIC] = rr.topic
            out[DLT_ORIGINAL_PARTITION] = str(rr.partition)
            out[DLT_ORIGINAL_OFFSET] = str(rr.offset)
            out[DLT_ORIGINAL_TIMESTAMP] = str(record.timestamp)
            out[DLT_ORIGINAL_CONSUMER_GROUP] = self.group
        out[DLT_EXCEPTION_FQCN] = f"{type(exc).__module__}.{type(exc).__qualname__}"
        out[DLT_EXCEPTION_MESSAGE] = str(exc)
        if due is not None:
            out[BACKOFF_TIMESTAMP] = f"{due:.3f}"
        return [(k, v.encode()) for k, v in out.items()]

    def _consume_dlt(self, rr: RetryRecord, record: Record) -> None:
        self.dead_lettered[rr.message_id] = rr
        if self.dlt_handler is None:
            return
        try:
            self.dlt_handler(rr)
        except Exception as exc:
            if self.dlt_strategy == "FAIL_ON_ERROR" or not self.classifier(exc):
                self.dlt_failures.append(rr.message_id)   # logged; the record stays in the DLT
                return
            hops = self._hops[rr.message_id] = self._hops.get(rr.message_id, 0) + 1
            if hops > self.max_hops:
                self.dlt_failures.append(rr.message_id)
                return
            headers = [(k, v.encode()) for k, v in rr.headers.items()
                       if k not in (DLT_EXCEPTION_FQCN, DLT_EXCEPTION_MESSAGE)]
            headers += [(DLT_EXCEPTION_FQCN, f"{type(exc).__module__}.{type(exc).__qualname__}".encode()),
                        (DLT_EXCEPTION_MESSAGE, str(exc).encode())]
            self._produce(rr.topic, None, record.key.decode() if record.key else None, headers, rr.partition,
                          value=record.value)

    # ------------------------------------------------------------------ running and reading
    def run(self, until: float | None = None) -> "RetryTopicPipeline":
        self.sim.run(until=until)
        return self

    def records(self, topic: str) -> list[Record]:
        """Every record of ``topic`` (all partitions), in partition then offset order."""
        out: list[Record] = []
        for log in self.topics[topic].partitions:
            out.extend(log.records())
        return out

    def dlt_headers(self, topic: str | None = None) -> list[dict[str, str]]:
        return [{k: (v.decode() if v is not None else None) for k, v in r.headers}
                for r in self.records(topic or self.topology.dlt)]


__all__ = ["RetryTopology", "route_failure", "Router", "RetryRecord", "TopicAttempt", "RetryTopicPipeline",
           "MESSAGE_ID", "ATTEMPTS", "BACKOFF_TIMESTAMP", "ORIGINAL_TIMESTAMP", "DLT_ORIGINAL_TOPIC",
           "DLT_ORIGINAL_PARTITION", "DLT_ORIGINAL_OFFSET", "DLT_ORIGINAL_TIMESTAMP", "DLT_ORIGINAL_CONSUMER_GROUP",
           "DLT_EXCEPTION_FQCN", "DLT_EXCEPTION_MESSAGE", "DLT_STRATEGIES"]
