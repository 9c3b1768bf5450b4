"""Kafka Connect's error handling for a sink task: tolerance, retries, and the DLQ topic.

A sink task reads records from a topic, converts them, and writes them to an
external system. Each record can fail in a *stage* (``VALUE_CONVERTER``, then
``TASK_PUT``). Kafka Connect's settings (``ConnectorConfig``,
``DeadLetterQueueReporter``) decide what happens then:

* ``errors.tolerance=none`` (the default): the first bad record fails the whole
  task; ``all``: the record is skipped and the task goes on;
* ``errors.retry.timeout``: how long a *retriable* failure is retried (0, the
  default, means never; -1 means for ever), with delays that double from 300 ms
  up to ``errors.retry.delay.max.ms`` (60 s); past the cap each delay is random
  below it (jitter), and no delay runs past the deadline;
* ``errors.deadletterqueue.topic.name``: a skipped record is written there,
  with its original key, value, headers and timestamp; an empty name (the
  default) means no DLQ. Only sink connectors have one;
* ``errors.deadletterqueue.context.headers.enable``: adds
  ``__connect.errors.*`` headers (topic, partition, offset, connector, task,
  stage, class, exception) without overwriting a header the record already has.
"""
from __future__ import annotations

import json
import random
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

from msglib.dlq.classify import TransientError
from msglib.log import Record, Topic

CONTEXT = "__connect.errors."
RETRY_START_MS = 300.0             # Connect's first retry delay


class ConnectException(Exception):
    """The task failed (tolerance none, or retries ran out with tolerance none)."""


class RetriableException(TransientError):
    """A failure Connect may retry (Kafka's org.apache.kafka.connect.errors.RetriableException)."""


@dataclass
class SinkResult:
    state: str = "RUNNING"                 # RUNNING, FAILED
    written: list[Any] = field(default_factory=list)
    skipped: list[tuple[int, int]] = field(default_factory=list)     # (partition, offset)
    retries: list[float] = field(default_factory=list)              # delays waited, ms
    failure: str | None = None


class ConnectSinkTask:
    """Run a sink task over every record of ``source`` (simulated time advances by the retry delays)."""

    def __init__(self, source: Topic, put: Callable[[Any], Any], *, convert: Callable[[bytes], Any] = json.loads,
                 errors_tolerance: str = "none", errors_retry_timeout_ms: float = 0,
                 errors_retry_delay_max_ms: float = 60_000, dlq_topic_name: str = "",
                 dlq_context_headers_enable: bool = False, connector_name: str = "sink", task_id: int = 0,
                 seed: int = 0) -> None:
        if errors_tolerance not in ("none", "all"):
            raise ValueError(f"errors.tolerance is 'none' or 'all', got {errors_tolerance!r}")
        if errors_retry_timeout_ms < -1:
            raise ValueError("errors.retry.timeout is -1 (for ever), 0 (no retries) or a duration in ms")
        self.source = source
        self.put = put
        self.convert = convert
        self.tolerance = errors_tolerance
        self.retry_timeout = errors_retry_timeout_ms
        self.delay_max = errors_retry_delay_max_ms
        self.dlq = Topic(dlq_topic_name, source.num_partitions) if dlq_topic_name else None
        self.context_headers = dlq_context_headers_enable
        self.connector_name = connector_name
        self.task_id = task_id
        self.rng = random.Random(seed)
        self.now = 0.0

    def run(self) -> SinkResult:
        result = SinkResult()
        for p, log in enumerate(self.source.partitions):
            for record in log.records():
                if not self._process(p, record, result):
                    result.state = "FAILED"
                    return result
        return result

    def _process(self, partition: int, record: Record, result: SinkResult) -> bool:
        stage = "VALUE_CONVERTER"
        try:
            value = self.convert(record.value)
        except Exception as exc:                 # conversion errors are never retried
            return self._tolerate(partition, record, stage, exc, result)
        stage = "TASK_PUT"
        attempt, waited = 0, 0.0
        while True:
            try:
                self.put(value)
                result.written.append(value)
                return True
            except RetriableException as exc:
                remaining = float("inf") if self.retry_timeout == -1 else self.retry_timeout - waited
                if remaining <= 0:
                    return self._tolerate(partition, record, stage, exc, result)
                delay = RETRY_START_MS * 2 ** attempt
                if delay > self.delay_max:               # at the cap: a random delay below it (jitter)
                    delay = self.rng.uniform(0, self.delay_max)
                delay = min(delay, remaining)           # never wait past the retry deadline
                result.retries.append(delay)
                waited += delay
                self.now += delay
                attempt += 1
            except Exception as exc:
                return self._tolerate(partition, record, stage, exc, result)

    def _tolerate(self, partition: int, record: Record, stage: str, exc: Exception, result: SinkResult) -> bool:
        if self.tolerance == "none":
            result.failure = (f"{stage} failed for {self.source.name}-{partition}@{record.offset}: "
                              f"{type(exc).__name__}: {exc}")
            return False
        result.skipped.append((partition, record.offset))
        if self.dlq is not None:
            headers = list(record.headers)
            if self.context_headers:
                present = {k for k, _ in headers}
                context = {"topic": self.source.name, "partition": str(partition), "offset": str(record.offset),
                           "connector.name": self.connector_name, "task.id": str(self.task_id), "stage": stage,
                           "class.name": getattr(self.put if stage == "TASK_PUT" else self.convert, "__qualname__",
                                                 "?"),
                           "exception.class.name": f"{type(exc).__module__}.{type(exc).__qualname__}",
                           "exception.message": str(exc),
                           "exception.stacktrace": "".join(traceback.format_exception_only(type(exc), exc))}
                for k, v in context.items():
                    if CONTEXT + k not in present:          # an existing header is never overwritten
                        headers.append((CONTEXT + k, v.encode()))
            self.dlq.send(record.value, record.key, partition=partition, headers=headers,
                          timestamp=record.timestamp)
        return True


__all__ = ["ConnectSinkTask", "ConnectException", "RetriableException", "SinkResult", "CONTEXT"]
