"""msglib.dlq: retries, backoff, retry topics, dead letters, redrive, alerts.

Read it in this order:

* ``classify.py``     -- transient or permanent? (fatal errors skip the retries)
* ``backoff.py``      -- how long to wait: fixed, exponential with a cap, jitter
* ``retry.py``        -- one consumer retrying with backoff, then the DLQ (Celery-style)
* ``retry_topics.py`` -- non-blocking retries through ``main-retry-1000``... ``main-dlt`` on msglib.log
* ``deadletters.py``  -- the DLQ you work in: inspect, redrive, alert on depth
* ``sequenced.py``    -- a DLQ that parks per key, so each key's order survives failures
* ``celery.py``       -- Celery's ``task.retry()``, ``autoretry_for``, ``Ignore``/``Reject`` on msglib's broker
* ``connect.py``      -- Kafka Connect's ``errors.tolerance``, retry timeout and DLQ topic for a sink task

RabbitMQ's dead-letter exchanges (``x-death``) and SQS's redrive policy live
with their brokers in :mod:`msglib.queue`. :func:`msglib.check.dlq.check_dlq`
checks the accounting of any of them: each message processed once or
dead-lettered once, none lost.
"""
from msglib.dlq.backoff import (Backoff, ExponentialBackoff, FixedBackoff, celery_countdown, decorrelated_jitter,
                                equal_jitter, exponential_ceiling, full_jitter)
from msglib.dlq.classify import (DeserializationError, ExceptionClassifier, HttpError, MessageConversionError,
                                 PermanentError, TransientError, http_status_is_transient, is_transient)
from msglib.dlq.deadletters import Alert, DeadLetter, DeadLetterQueue, DepthAlarm
from msglib.dlq.retry import Plan, RetryMessage, RetryProcessor, ScriptedHandler, make_workload, run_workload
from msglib.dlq.retry_topics import RetryRecord, RetryTopicPipeline, RetryTopology, route_failure
from msglib.dlq.sequenced import Parked, SequencedDeadLetterQueue, SequencedProcessor

__all__ = [
    "Backoff", "ExponentialBackoff", "FixedBackoff", "celery_countdown", "decorrelated_jitter", "equal_jitter",
    "exponential_ceiling", "full_jitter",
    "DeserializationError", "ExceptionClassifier", "HttpError", "MessageConversionError", "PermanentError",
    "TransientError", "http_status_is_transient", "is_transient",
    "Alert", "DeadLetter", "DeadLetterQueue", "DepthAlarm",
    "Plan", "RetryMessage", "RetryProcessor", "ScriptedHandler", "make_workload", "run_workload",
    "RetryRecord", "RetryTopicPipeline", "RetryTopology", "route_failure",
    "Parked", "SequencedDeadLetterQueue", "SequencedProcessor",
]
